"""What the MLP and the task-heads models share: the output dataclass, the per-task loss, and the
optional representation layer (`representation_dim` units, then a ReLU decoder to the heads)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

TARGETS = ("sign", "real")


@dataclass
class TaskModelOutput(ModelOutput):
    """Output of a multi-task model: `logits` is (B, n_tasks), one column per task.

    `representation` (B, D) is the output of the model's representation layer (the probe site
    `repr`) when it has one (`representation_dim` set), else None.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    representation: torch.FloatTensor | None = None


def check_target(target: str) -> str:
    """Return `target` if it is a known target kind, else raise a ValueError naming the choices."""
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; use one of {', '.join(TARGETS)}.")
    return target


def check_representation(owner: str, representation_dim, decoder_layers) -> None:
    """Raise a ValueError unless `representation_dim` is None or a positive int and
    `decoder_layers` a non-negative int that is only changed from 2 with a representation."""
    if representation_dim is not None and (
        not isinstance(representation_dim, int)
        or isinstance(representation_dim, bool)
        or representation_dim < 1
    ):
        raise ValueError(
            f"{owner}.representation_dim must be a positive integer (the number of units of the "
            f"representation layer, e.g. world.d) or null for none, got {representation_dim!r}."
        )
    if (
        not isinstance(decoder_layers, int)
        or isinstance(decoder_layers, bool)
        or decoder_layers < 0
    ):
        raise ValueError(
            f"{owner}.decoder_layers must be a non-negative integer (ReLU layers between the "
            f"representation layer and the task heads), got {decoder_layers!r}."
        )
    if representation_dim is None and decoder_layers != 2:
        raise ValueError(
            f"{owner}.decoder_layers={decoder_layers} only applies with a representation layer; "
            f"set {owner}.representation_dim, or leave {owner}.decoder_layers at its default 2."
        )


def omit_unset_representation(config_dict: dict) -> dict:
    """Drop `representation_dim` / `decoder_layers` from a config dict when there is no
    representation layer, so such a model's config.json (and the activation cache's model
    fingerprint) is byte for byte what it was before the option existed."""
    if config_dict.get("representation_dim") is None:
        config_dict.pop("representation_dim", None)
        config_dict.pop("decoder_layers", None)
    return config_dict


class RepresentationDecoder(nn.Module):
    """trunk (B, width) -> `layer`: the representation, `dim` units, linear, no activation (the
    probe site `repr`) -> `decoder`: `decoder_layers` ReLU layers of `width` units shared by all
    tasks -> (B, out_width), what the task heads read.

    The decoder is there because the tasks are non-linear functions of z: linear heads on d
    units could not fit them. With `decoder_layers=0` the heads read the representation.
    """

    def __init__(self, width: int, dim: int, decoder_layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layer = nn.Linear(width, dim)
        widths = [dim] + [width] * decoder_layers
        self.decoder = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.out_width = widths[-1]

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(representation (B, dim), decoder output (B, out_width))."""
        rep = self.layer(h)
        h = rep
        for layer in self.decoder:
            h = self.dropout(torch.relu(layer(h)))
        return rep, h

    @torch.no_grad()
    def init_layer(self, module: nn.Module) -> bool:
        """He-initialise `module` if it is one of this block's linear layers (zero bias; gain 1
        for the representation layer, which no ReLU follows, ReLU gain for the decoder, so the
        signal keeps its mean square through every layer); return whether it was one."""
        if module is self.layer:
            nonlinearity = "linear"
        elif any(module is layer for layer in self.decoder):
            nonlinearity = "relu"
        else:
            return False
        init.kaiming_uniform_(module.weight, nonlinearity=nonlinearity)
        init.zeros_(module.bias)
        return True


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
        # softplus(-y f) is the soft-margin loss log(1 + exp(-y f)) without its overflow:
        # torch's soft_margin_loss gives inf for a confident wrong answer (f = -200).
        return F.softplus(-targets * logits).mean()
    if target == "real":
        return F.mse_loss(logits, targets)
    check_target(target)
    raise AssertionError("unreachable")
