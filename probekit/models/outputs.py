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


def reject_token_labels(kwargs: dict) -> None:
    """Raise if `labels` reached a multi-task model: its task values are called `targets`."""
    if "labels" in kwargs:
        raise TypeError(
            "Multi-task models take the task values as `targets` (batch, n_tasks); `labels` "
            "(token ids, -100 elsewhere) belong to the -lm / -mlm kinds."
        )


def task_loss(logits: torch.Tensor, targets: torch.Tensor, target: str) -> torch.Tensor:
    """Soft-margin loss for ±1 targets (the paper's setting), mean squared error for real ones."""
    if targets.shape != logits.shape:
        raise ValueError(
            f"targets have shape {tuple(targets.shape)} but logits have {tuple(logits.shape)}; "
            "pass one target value per task as `targets`, shape (batch, n_tasks)."
        )
    targets = targets.to(logits.dtype)
    if target == "sign":
        return F.soft_margin_loss(logits, targets)
    if target == "real":
        return F.mse_loss(logits, targets)
    check_target(target)
    raise AssertionError("unreachable")
