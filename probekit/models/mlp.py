"""The paper's MLP baseline: a ReLU encoder shared by all tasks, then one linear head per task.

With `representation_dim=D` the encoder is followed by a representation layer of exactly D
linear units (the probe site `repr`) and a ReLU decoder of `decoder_layers` layers, shared by
all tasks, before the heads (`probekit.models.outputs.RepresentationDecoder`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init

from probekit.models.outputs import (
    RepresentationDecoder,
    TaskModelOutput,
    check_representation,
    check_target,
    omit_unset_representation,
    reject_token_labels,
    task_loss,
)


class MLPConfig(PreTrainedConfig):
    """Config of `MLPModel`: input width `m`, `n_layers` ReLU layers of `hidden` units, `n_tasks` heads.

    `representation_dim` (None: no such layer) and `decoder_layers` add the representation layer
    and its decoder. Without the layer both are left out of config.json, which is then what it
    was before the option existed; an older checkpoint (no such keys) loads without the layer.
    """

    model_type = "probekit-mlp"

    m: int = 10
    hidden: int = 128
    n_layers: int = 4
    n_tasks: int = 1
    target: str = "sign"
    dropout: float = 0.0
    representation_dim: int | None = None
    decoder_layers: int = 2

    def __post_init__(self, **kwargs):
        for name in ("m", "hidden", "n_layers", "n_tasks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MLPConfig.{name} must be a positive integer, got {value!r}.")
        check_target(self.target)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"MLPConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        check_representation("MLPConfig", self.representation_dim, self.decoder_layers)
        super().__post_init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict, without the representation fields when they are unset."""
        return omit_unset_representation(super().to_dict())

    @property
    def num_hidden_layers(self) -> int:
        """The number of encoder layers, under the name transformers configs use."""
        return self.n_layers


class MLPModel(PreTrainedModel):
    """x (B, m) float -> logits (B, n_tasks); hidden states are the input then each layer's output.

    With a representation layer, `representation` (B, D) is returned beside them.
    """

    config_class = MLPConfig
    base_model_prefix = "mlp"
    main_input_name = "x"

    def __init__(self, config: MLPConfig) -> None:
        super().__init__(config)
        widths = [config.m] + [config.hidden] * config.n_layers
        self.layers = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.representation = None
        width = config.hidden
        if config.representation_dim is not None:
            self.representation = RepresentationDecoder(
                config.hidden, config.representation_dim, config.decoder_layers, config.dropout
            )
            width = self.representation.out_width
        self.head = nn.Linear(width, config.n_tasks)  # one output unit per task
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # He init for the ReLU layers keeps the mean square of the signal near 1 at every
        # depth; transformers' default (normal, std 0.02) and even PyTorch's default shrink
        # it geometrically, which stalls a deep MLP from the first step.
        if self.representation is not None and self.representation.init_layer(module):
            return
        if not isinstance(module, nn.Linear):
            return
        if module is self.head:
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # PyTorch's default Linear init
            bound = 1.0 / math.sqrt(module.in_features)
            init.uniform_(module.bias, -bound, bound)
        else:
            init.kaiming_uniform_(module.weight, nonlinearity="relu")
            init.zeros_(module.bias)

    def forward(
        self,
        x: torch.Tensor,
        targets: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TaskModelOutput | tuple:
        """Run the encoder and the heads; `targets` (B, n_tasks) adds the task loss."""
        reject_token_labels(kwargs)
        if x.ndim != 2 or x.shape[-1] != self.config.m:
            raise ValueError(
                f"x must have shape (batch, m={self.config.m}), got {tuple(x.shape)}; "
                "pass the observation vectors as floats."
            )
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if return_dict is None:
            return_dict = self.config.return_dict
        h = x.to(self.head.weight.dtype)  # (B, m)
        states = [h]
        for layer in self.layers:
            h = self.dropout(torch.relu(layer(h)))  # (B, hidden)
            states.append(h)
        rep = None
        if self.representation is not None:
            rep, h = self.representation(h)  # (B, D), (B, hidden)
        logits = self.head(h)  # (B, n_tasks)
        loss = None if targets is None else task_loss(logits, targets, self.config.target)
        hidden_states = tuple(states) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (loss, logits, hidden_states, rep) if v is not None)
        return TaskModelOutput(
            loss=loss, logits=logits, hidden_states=hidden_states, representation=rep
        )
