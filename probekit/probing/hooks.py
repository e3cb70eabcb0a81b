"""Editing a model's state at a probe site during the forward pass, with hooks that never outlive it.

A site (`embed`, `layer.i`, `repr`; `probekit.probing.activations`) names a state the probe
reads. `site_module` finds the module whose output (or input) *is* that state, so an edit
made there is exactly an edit of what the probe saw, and the rest of the model runs on it:

| model | `embed` | `layer.i`, i < L | `layer.L` | `repr` |
|---|---|---|---|---|
| MLP | input of the first layer (x itself) | input of layer i + 1 | input of the representation block, else of the heads | output of the representation layer |
| GPT-2 | output of the embedding dropout | output of block i | output of the final norm `ln_f` | output of the representation layer |
| Llama | output of `embed_tokens` | output of block i | output of the final norm `norm` | output of the representation layer |
| BERT | output of `embeddings` | output of block i | output of block L | output of the representation layer |

GPT-2 and Llama take their last site after the final norm because that is what
`output_hidden_states` returns there, and so what the probe was fitted on.

`site_edit` registers the hook for the duration of a `with` block and removes it in a
`finally`, so an error in the edit or in the model leaves the model as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from probekit.models.factory import REPRESENTATION_SITE
from probekit.probing.activations import check_sites, is_token_model, site_names

Edit = Callable[[torch.Tensor], torch.Tensor]


def _layer_index(site: str) -> int:
    return 0 if site == "embed" else int(site.split(".", 1)[1])


def site_module(model, site: str) -> tuple[nn.Module, str]:
    """(module, "input" | "output"): the module whose input or output is the state at `site`."""
    check_sites([site], site_names(model))
    if site == REPRESENTATION_SITE:
        return model.representation.layer, "output"
    i = _layer_index(site)
    if not is_token_model(model):  # the MLP: a site is what the next module reads
        layers = list(model.layers)
        if i < len(layers):
            return layers[i], "input"
        return (model.representation if model.representation is not None else model.head), "input"
    backbone = getattr(model, "backbone", None)
    kind = getattr(model.config, "backbone_type", None)
    if backbone is None or kind not in ("gpt2", "llama", "bert"):
        raise ValueError(
            f"Interventions need a probekit task-head model (mlp, gpt2, llama, bert); "
            f"{type(model).__name__} is not one. Next-token models (gpt2-lm, llama-lm, "
            "bert-mlm) answer with tokens after their queries, not from the probed state."
        )
    if kind == "gpt2":
        blocks, embed, final = backbone.h, backbone.drop, backbone.ln_f
    elif kind == "llama":
        blocks, embed, final = backbone.layers, backbone.embed_tokens, backbone.norm
    else:
        blocks, embed, final = backbone.encoder.layer, backbone.embeddings, None
    if i == 0:
        return embed, "output"
    if i == len(blocks) and final is not None:
        return final, "output"
    return blocks[i - 1], "output"


@contextmanager
def site_edit(model, site: str, edit: Edit) -> Iterator[None]:
    """Within the block, every forward replaces the state at `site` by `edit(state)`.

    The state is (B, T, H) for a transformer's token sites, (B, H) for the MLP and for
    `repr`. The hook is removed when the block ends, whether or not an error was raised.
    """
    module, where = site_module(model, site)
    if where == "input":

        def pre_hook(_module, args, kwargs):
            return (edit(args[0]), *args[1:]), kwargs

        handle = module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:

        def hook(_module, _args, output):
            if isinstance(output, tuple):  # blocks of some transformers versions
                return (edit(output[0]), *output[1:])
            return edit(output)

        handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def model_feed(model, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The forward arguments of `model` among the probe inputs' columns."""
    names = ("input_ids", "attention_mask") if is_token_model(model) else ("x",)
    return {k: np.asarray(feed[k]) for k in names if k in feed}


@torch.inference_mode()
def edited_logits(
    model,
    feed: Mapping[str, np.ndarray],
    rows: np.ndarray,
    site: str | None = None,
    make_edit: Callable[[np.ndarray], Edit] | None = None,
    *,
    batch_size: int = 512,
) -> np.ndarray:
    """(len(rows), n_tasks) logits of `model` on `rows` of `feed`, the state at `site` edited.

    `make_edit(batch_rows)` returns the edit for one batch (positions into `rows`), so an
    edit can carry per-example values. Without a site the model runs unedited.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for start in range(0, len(rows), batch_size):
            idx = np.arange(start, min(start + batch_size, len(rows)))
            batch = {
                k: torch.from_numpy(np.ascontiguousarray(v[rows[idx]])).to(device)
                for k, v in feed.items()
            }
            if "x" in batch:
                batch["x"] = batch["x"].float()
            if site is None or make_edit is None:
                logits = model(**batch).logits
            else:
                with site_edit(model, site, make_edit(idx)):
                    logits = model(**batch).logits
            out.append(logits.float().cpu().numpy())
    finally:
        if was_training:
            model.train()
    return np.concatenate(out) if out else np.zeros((0, int(model.config.n_tasks)), np.float32)
