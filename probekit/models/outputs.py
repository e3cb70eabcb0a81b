"""The output dataclass and the per-task loss shared by the MLP and the task-heads models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.utils import ModelOutput

TARGETS = ("sign", "real")


@dataclass
class TaskModelOutput(ModelOutput):
    """Output of a multi-task model: `logits` is (B, n_tasks), one column per task."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def check_target(target: str) -> str:
    """Return `target` if it is a known target kind, else raise a ValueError naming the choices."""
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; use one of {', '.join(TARGETS)}.")
    return target


def task_loss(logits: torch.Tensor, labels: torch.Tensor, target: str) -> torch.Tensor:
    """Soft-margin loss for ±1 targets (the paper's setting), mean squared error for real ones."""
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but logits have {tuple(logits.shape)}; "
            "pass one target value per task, shape (batch, n_tasks)."
        )
    labels = labels.to(logits.dtype)
    if target == "sign":
        return F.soft_margin_loss(logits, labels)
    if target == "real":
        return F.mse_loss(logits, labels)
    check_target(target)
    raise AssertionError("unreachable")
