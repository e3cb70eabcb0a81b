"""Per-example scores with known answers, for task heads and for token answers."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from probekit.models.scoring import per_example_scores


def test_heads_score_signs_and_soft_margin():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    targets = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    loss, acc, first = per_example_scores(
        SimpleNamespace(logits=logits), {"targets": targets}, "sign", causal=False
    )
    torch.testing.assert_close(acc, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(first, acc)
    expected = torch.log1p(torch.exp(-targets * logits)).mean(dim=1)
    torch.testing.assert_close(loss, expected)


def test_causal_answers_are_scored_one_position_early_and_first_answer_separately():
    vocab, ignore = 4, -100
    # Row 0 answers token 2 at position 2 and token 3 at position 4; row 1 likewise.
    labels = torch.tensor([[ignore, ignore, 2, ignore, 3], [ignore, ignore, 2, ignore, 3]])
    logits = torch.full((2, 5, vocab), -10.0)
    logits[0, 1, 2] = 10.0  # row 0: first answer right (predicted at position 1) ...
    logits[0, 3, 1] = 10.0  # ... second wrong
    logits[1, 1, 0] = 10.0  # row 1: first wrong ...
    logits[1, 3, 3] = 10.0  # ... second right
    _, acc, first = per_example_scores(
        SimpleNamespace(logits=logits), {"labels": labels}, "sign", causal=True
    )
    torch.testing.assert_close(acc, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(first, torch.tensor([1.0, 0.0]))


def test_soft_margin_loss_stays_finite_for_confident_wrong_answers():
    import torch

    from probekit.models.outputs import task_loss

    logits = torch.tensor([[-200.0, 0.0, 200.0]])
    targets = torch.ones_like(logits)
    loss = task_loss(logits, targets, "sign")
    assert torch.isfinite(loss) and abs(loss.item() - (200.0 + 0.6931) / 3) < 1e-3
