"""Per-example task scores: loss and the fraction of answers right, for any model kind.

Heads (one logit per task, `targets` ±1 or real) and token answers (`labels`, -100
off the answers; causal LMs predict token t+1 at position t, masked LMs in place)
are scored the same way, so evaluation can average and gather them across processes.
"""

from __future__ import annotations

import torch


def per_example_scores(out, batch: dict[str, torch.Tensor], target: str, causal: bool):
    """Per-example loss, fraction of answers right, and whether the first answer is right.

    The first answer matters for token answers: later answers of a sequence can be
    inferred from earlier ones in context, the first only from x. For task heads it
    equals the accuracy; for real-valued targets both accuracies are NaN.
    """
    logits = out.logits.float()
    if "targets" in batch and logits.dim() == 2:  # one head per task
        y = batch["targets"].float()
        if target == "sign":
            loss = torch.nn.functional.softplus(-y * logits).mean(
                dim=1
            )  # = soft margin, no overflow
            right = (torch.where(logits >= 0, 1.0, -1.0) == y).float().mean(dim=1)
            return loss, right, right
        loss = ((logits - y) ** 2).mean(dim=1)
        nan = torch.full_like(loss, float("nan"))
        return loss, nan, nan
    labels = batch["labels"]
    if causal:  # a causal LM predicts token t+1 at position t; a masked LM in place
        logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != -100
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.clamp(min=0).reshape(-1), reduction="none"
    ).view(labels.shape)
    hits = (logits.argmax(-1) == labels) & mask
    count = mask.sum(dim=1).clamp(min=1)
    first = mask.float().argmax(dim=1)  # the first answer position of each row
    first_right = hits[torch.arange(len(first), device=first.device), first].float()
    return (ce * mask).sum(dim=1) / count, hits.sum(dim=1).float() / count, first_right
