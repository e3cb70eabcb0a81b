"""A stock transformers backbone (GPT-2, Llama, BERT) with one linear head per task at a readout position.

With `representation_dim=D` the hidden state at the readout position goes through a
representation layer of exactly D linear units (the probe site `repr`, computed at that position
only) and a ReLU decoder of `decoder_layers` layers of the backbone's width before the heads
(`probekit.models.outputs.RepresentationDecoder`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, BertModel, PreTrainedConfig, PreTrainedModel

from probekit.models.outputs import (
    RepresentationDecoder,
    TaskModelOutput,
    check_representation,
    check_target,
    omit_unset_representation,
    reject_token_labels,
    task_loss,
)

BACKBONE_TYPES = ("gpt2", "llama", "bert")
# "position": the batch must carry `readout_position`; "first": index 0 (CLS);
# "last": the last attended token (SEP at the end of `BOS x SEP`).
READOUTS = ("position", "first", "last")


class TaskHeadsConfig(PreTrainedConfig):
    """Config of `TaskHeadsModel`: the backbone's config as a dict, its type, the heads and the readout.

    `representation_dim` (None: no such layer) and `decoder_layers` add the representation layer
    and its decoder. Without the layer both are left out of config.json, which is then what it
    was before the option existed; an older checkpoint (no such keys) loads without the layer.
    """

    model_type = "probekit-task-heads"

    backbone_type: str = "gpt2"
    backbone: dict | None = None
    n_tasks: int = 1
    readout: str = "last"
    target: str = "sign"
    initializer_range: float = 0.02
    representation_dim: int | None = None
    decoder_layers: int = 2

    def __post_init__(self, **kwargs):
        if self.backbone_type not in BACKBONE_TYPES:
            raise ValueError(
                f"Unknown backbone_type {self.backbone_type!r}; use one of {', '.join(BACKBONE_TYPES)}."
            )
        if self.readout not in READOUTS:
            raise ValueError(f"Unknown readout {self.readout!r}; use one of {', '.join(READOUTS)}.")
        if not isinstance(self.n_tasks, int) or isinstance(self.n_tasks, bool) or self.n_tasks < 1:
            raise ValueError(
                f"TaskHeadsConfig.n_tasks must be a positive integer, got {self.n_tasks!r}."
            )
        check_target(self.target)
        check_representation("TaskHeadsConfig", self.representation_dim, self.decoder_layers)
        if self.backbone is None:
            self.backbone = {}
        elif isinstance(self.backbone, PreTrainedConfig):
            self.backbone = self.backbone.to_dict()
        super().__post_init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict, without the representation fields when they are unset."""
        return omit_unset_representation(super().to_dict())

    def backbone_config(self) -> PreTrainedConfig:
        """Rebuild the backbone's transformers config from the stored dict."""
        fields: dict[str, Any] = {k: v for k, v in self.backbone.items() if k != "model_type"}
        return AutoConfig.for_model(self.backbone_type, **fields)

    @property
    def num_hidden_layers(self) -> int:
        """The backbone's number of blocks."""
        return self.backbone_config().num_hidden_layers


def build_backbone(config: PreTrainedConfig) -> PreTrainedModel:
    """The stock base model for `config`, without BERT's pooler (the heads never read it)."""
    if config.model_type == "bert":
        # An unused pooler would hold parameters that never get a gradient.
        return BertModel(config, add_pooling_layer=False)
    return AutoModel.from_config(config)


class TaskHeadsModel(PreTrainedModel):
    """Backbone -> hidden state at the readout position (B, H) -> `nn.Linear(H, n_tasks)`.

    With a representation layer: (B, H) -> representation (B, D), returned as `representation`
    -> ReLU decoder (B, H) -> heads.
    """

    config_class = TaskHeadsConfig
    base_model_prefix = "probekit_task_heads"
    main_input_name = "input_ids"
    _supports_sdpa = True

    def __init__(self, config: TaskHeadsConfig) -> None:
        super().__init__(config)
        backbone_config = config.backbone_config()
        # The attention implementation asked of the wrapper (e.g. "eager" to read attention
        # weights) must reach the blocks that attend.
        if config._attn_implementation is not None:
            backbone_config._attn_implementation = config._attn_implementation
        self.backbone = build_backbone(backbone_config)
        self.representation = None
        width = self.backbone.config.hidden_size
        if config.representation_dim is not None:
            self.representation = RepresentationDecoder(
                width, config.representation_dim, config.decoder_layers
            )
            width = self.representation.out_width
        self.head = nn.Linear(width, config.n_tasks)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # He init for the representation block: transformers' default (normal, std 0.02) shrinks the
        # signal at every decoder layer of a narrow model.
        if self.representation is None or not self.representation.init_layer(module):
            super()._init_weights(module)

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.set_input_embeddings(value)

    def readout_index(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        readout_position: torch.Tensor | None,
    ) -> torch.Tensor:
        """The (B,) position each example is read at: given, else the config's `readout` rule."""
        batch, length = input_ids.shape
        if readout_position is not None:
            pos = torch.as_tensor(readout_position, device=input_ids.device).long().reshape(-1)
            if pos.shape[0] != batch:
                raise ValueError(
                    f"readout_position has {pos.shape[0]} entries for a batch of {batch}; "
                    "pass one position per example."
                )
            if bool(((pos < 0) | (pos >= length)).any()):
                raise ValueError(
                    f"readout_position must lie in [0, {length}) for sequences of length {length}, "
                    f"got values in [{int(pos.min())}, {int(pos.max())}]."
                )
            return pos
        if self.config.readout == "first":
            return torch.zeros(batch, dtype=torch.long, device=input_ids.device)
        if self.config.readout == "last":
            if attention_mask is None:
                return torch.full((batch,), length - 1, dtype=torch.long, device=input_ids.device)
            # Index of the last attended token, right padding assumed.
            return attention_mask.long().sum(dim=1).clamp(min=1) - 1
        raise ValueError(
            "This model reads out at a per-example position (readout='position'): "
            "pass readout_position, a (batch,) tensor of token indices."
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        readout_position: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TaskModelOutput | tuple:
        """Logits (B, n_tasks) from the hidden state at `readout_position`; `targets` adds the loss."""
        reject_token_labels(kwargs)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if return_dict is None:
            return_dict = self.config.return_dict
        backbone_kwargs = {"use_cache": False} if self.config.backbone_type != "bert" else {}
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            **backbone_kwargs,
            **kwargs,
        )
        hidden = out.last_hidden_state  # (B, T, H), after the final norm where there is one
        pos = self.readout_index(input_ids, attention_mask, readout_position)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        read = hidden[rows, pos]  # (B, H)
        rep = None
        if self.representation is not None:
            rep, read = self.representation(read)  # (B, D), (B, H)
        logits = self.head(read)  # (B, n_tasks)
        loss = None if targets is None else task_loss(logits, targets, self.config.target)
        hidden_states = out.hidden_states if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (loss, logits, hidden_states, rep) if v is not None)
        return TaskModelOutput(
            loss=loss, logits=logits, hidden_states=hidden_states, representation=rep
        )
