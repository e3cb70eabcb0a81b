"""`ModelConfig` and `build_model`: every model kind built from config with random init, never downloaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedConfig,
    PreTrainedModel,
)

from probekit.models.mlp import MLPConfig, MLPModel
from probekit.models.outputs import check_representation, check_target
from probekit.models.task_heads import TaskHeadsConfig, TaskHeadsModel
from synthetic.registry import Registry


@dataclass(frozen=True)
class BuildArgs:
    """What the data fixes about a model: vocabulary, tasks, lengths, special tokens, target kind."""

    vocab_size: int
    n_tasks: int
    seq_len: int
    m: int
    pad_token_id: int | None
    bos_token_id: int | None
    eos_token_id: int | None
    target: str


@dataclass(frozen=True)
class ModelKind:
    """A registered model kind: its builder, the data formats it trains on, the batch columns it reads.

    `input_names` and `label_name` are dataset columns (`synthetic.sequences`) and forward
    keyword arguments at once, so a training loop can call `model(**batch)`.
    """

    name: str
    build: Callable[[ModelConfig, BuildArgs], PreTrainedModel]
    data_formats: tuple[str, ...]
    input_names: tuple[str, ...]
    label_name: str
    is_transformer: bool = True
    has_representation_option: bool = False  # whether `model.representation_dim` applies


MODEL_KINDS: Registry[ModelKind] = Registry("model kind")


def _register(kind: ModelKind) -> None:
    MODEL_KINDS.register(kind.name)(kind)


REPRESENTATION_SITE = "repr"


@dataclass(frozen=True)
class ModelConfig:
    """Model kind and size; `intermediate=None` means 4*hidden, `max_positions=None` the sequence length.

    `representation_dim=D` (mlp, gpt2, llama, bert; None = no such layer) puts a representation
    layer of exactly D linear units after the trunk (the MLP's ReLU layers, or a transformer's
    hidden state at the readout position), then a ReLU decoder of `decoder_layers` layers of
    `hidden` units shared by all tasks, then the task heads. The D units are the probe site `repr`.
    """

    kind: str = "gpt2"
    hidden: int = 128
    n_layers: int = 4
    n_heads: int = 4
    intermediate: int | None = None
    dropout: float = 0.0
    max_positions: int | None = None
    representation_dim: int | None = None
    decoder_layers: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the field, the value and the fix; UnknownNameError for a kind."""
        kind = MODEL_KINDS.get(self.kind)
        for name in ("hidden", "n_layers", "n_heads"):
            _positive_int(f"model.{name}", getattr(self, name))
        for name in ("intermediate", "max_positions"):
            if getattr(self, name) is not None:
                _positive_int(f"model.{name}", getattr(self, name))
        if not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}.")
        check_representation("model", self.representation_dim, self.decoder_layers)
        if self.representation_dim is not None and not kind.has_representation_option:
            usable = [
                k for k in MODEL_KINDS.names() if MODEL_KINDS.get(k).has_representation_option
            ]
            raise ValueError(
                f"model.representation_dim={self.representation_dim} is not supported by "
                f"model.kind={self.kind!r}: a representation layer sits before task heads, and "
                f"this kind answers with tokens. Use model.kind in {', '.join(usable)}, or leave "
                "model.representation_dim unset (null)."
            )
        if kind.is_transformer and self.hidden % self.n_heads:
            raise ValueError(
                f"model.hidden={self.hidden} is not divisible by model.n_heads={self.n_heads}; "
                "pick a width that is a multiple of the number of heads."
            )
        if kind.name.startswith("llama") and (self.hidden // self.n_heads) % 2:
            raise ValueError(
                f"model.hidden / model.n_heads = {self.hidden // self.n_heads} is odd; rotary "
                "position embeddings need an even head size, change model.hidden or model.n_heads."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; an unknown key is an error listing the known ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"Unknown model config key(s) {unknown}. Known keys: {', '.join(known)}"
            )
        return cls(**data)

    @property
    def intermediate_size(self) -> int:
        """The feed-forward width, 4*hidden unless set."""
        return self.intermediate if self.intermediate is not None else 4 * self.hidden


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def build_model(
    model_cfg: ModelConfig,
    *,
    vocab_size: int,
    n_tasks: int,
    seq_len: int,
    m: int,
    pad_token_id: int | None,
    bos_token_id: int | None,
    eos_token_id: int | None,
    target: str,
    seed: int | None = None,
) -> PreTrainedModel:
    """Build a randomly initialised model of `model_cfg.kind` for data of the given shape."""
    if not isinstance(model_cfg, ModelConfig):
        raise TypeError(f"model_cfg must be a ModelConfig, got {type(model_cfg).__name__}.")
    kind = MODEL_KINDS.get(model_cfg.kind)
    for name, value in (
        ("vocab_size", vocab_size),
        ("n_tasks", n_tasks),
        ("seq_len", seq_len),
        ("m", m),
    ):
        _positive_int(name, value)
    check_target(target)
    for name, value in (("pad", pad_token_id), ("bos", bos_token_id), ("eos", eos_token_id)):
        if value is not None and not 0 <= value < vocab_size:
            raise ValueError(
                f"{name}_token_id={value} is outside the vocabulary [0, {vocab_size}); "
                "pass the tokenizer's special-token ids."
            )
    if (
        kind.is_transformer
        and model_cfg.max_positions is not None
        and model_cfg.max_positions < seq_len
    ):
        raise ValueError(
            f"model.max_positions={model_cfg.max_positions} is smaller than the sequence length "
            f"{seq_len}; set model.max_positions={seq_len} (or larger), or leave it unset to use "
            "the sequence length."
        )
    args = BuildArgs(
        vocab_size, n_tasks, seq_len, m, pad_token_id, bos_token_id, eos_token_id, target
    )
    if seed is None:
        return kind.build(model_cfg, args)
    # A private RNG stream: the same seed gives the same weights without touching global state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return kind.build(model_cfg, args)


def model_kinds() -> list[str]:
    """The registered model kinds, sorted."""
    return MODEL_KINDS.names()


def model_input_names(kind: str, *, with_labels: bool = True) -> tuple[str, ...]:
    """The batch columns a model of `kind` takes as forward keyword arguments, its target last.

    The target column is `targets` (B, n_tasks) for `mlp` and the task-head kinds, `labels`
    (token ids, -100 off the answers) for the -lm / -mlm kinds.
    """
    spec = MODEL_KINDS.get(kind)
    return spec.input_names + (spec.label_name,) if with_labels else spec.input_names


def data_format_for(kind: str) -> tuple[str, ...]:
    """The sequence formats (`synthetic.sequences`) a model of `kind` can train on, preferred first."""
    return MODEL_KINDS.get(kind).data_formats


def hidden_state_name(index: int) -> str:
    """The stable site name of `hidden_states[index]`: `embed` for 0, `layer.{i}` after block i."""
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"A hidden-state index must be a non-negative integer, got {index!r}.")
    return "embed" if index == 0 else f"layer.{index}"


def has_representation_layer(model: PreTrainedModel | PreTrainedConfig) -> bool:
    """Whether the model has a representation layer (`representation_dim` set in its config)."""
    config = model.config if isinstance(model, PreTrainedModel) else model
    return getattr(config, "representation_dim", None) is not None


def hidden_state_names(model: PreTrainedModel | PreTrainedConfig) -> list[str]:
    """Site names for every entry of `output_hidden_states`: `embed`, `layer.1`, ..., `layer.L`,
    then `repr` when the model has a representation layer.

    `layer.L` (the last) is taken after the final normalisation for GPT-2 (`ln_f`) and Llama
    (`norm`): transformers replaces the last captured state by `last_hidden_state`. The earlier
    `layer.i` are the raw residual stream. BERT normalises inside each block (post-LN) and has no
    final norm; the MLP has none either, and its `embed` is the input x itself.

    `repr` is not in `hidden_states`: it is the model output's `representation` (B, D), which a
    transformer computes at its readout position only (SEP / CLS), so it has no token positions.
    """
    config = model.config if isinstance(model, PreTrainedModel) else model
    names = [hidden_state_name(i) for i in range(config.num_hidden_layers + 1)]
    return names + [REPRESENTATION_SITE] if has_representation_layer(config) else names


# --- builders -----------------------------------------------------------------------------


def _positions(cfg: ModelConfig, args: BuildArgs) -> int:
    return cfg.max_positions if cfg.max_positions is not None else args.seq_len


def _gpt2_config(cfg: ModelConfig, args: BuildArgs) -> GPT2Config:
    return GPT2Config(
        vocab_size=args.vocab_size,
        n_positions=_positions(cfg, args),
        n_embd=cfg.hidden,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        n_inner=cfg.intermediate_size,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        pad_token_id=args.pad_token_id,
        bos_token_id=args.bos_token_id,
        eos_token_id=args.eos_token_id,
    )


def _llama_config(cfg: ModelConfig, args: BuildArgs) -> LlamaConfig:
    # Llama has no residual or embedding dropout; `dropout` only reaches the attention weights.
    return LlamaConfig(
        vocab_size=args.vocab_size,
        hidden_size=cfg.hidden,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        max_position_embeddings=_positions(cfg, args),
        attention_dropout=cfg.dropout,
        pad_token_id=args.pad_token_id,
        bos_token_id=args.bos_token_id,
        eos_token_id=args.eos_token_id,
    )


def _bert_config(cfg: ModelConfig, args: BuildArgs) -> BertConfig:
    return BertConfig(
        vocab_size=args.vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.intermediate_size,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=_positions(cfg, args),
        type_vocab_size=1,
        pad_token_id=args.pad_token_id,
        bos_token_id=args.bos_token_id,
        eos_token_id=args.eos_token_id,
    )


_BACKBONE_CONFIGS = {"gpt2": _gpt2_config, "llama": _llama_config, "bert": _bert_config}


def _task_heads_builder(backbone_type: str, readout: str) -> Callable[..., PreTrainedModel]:
    def build(cfg: ModelConfig, args: BuildArgs) -> PreTrainedModel:
        backbone = _BACKBONE_CONFIGS[backbone_type](cfg, args)
        config = TaskHeadsConfig(
            backbone_type=backbone_type,
            backbone=backbone.to_diff_dict(),
            n_tasks=args.n_tasks,
            readout=readout,
            target=args.target,
            pad_token_id=args.pad_token_id,
            bos_token_id=args.bos_token_id,
            eos_token_id=args.eos_token_id,
            **_representation_fields(cfg),
        )
        return TaskHeadsModel(config)

    return build


def _build_mlp(cfg: ModelConfig, args: BuildArgs) -> PreTrainedModel:
    config = MLPConfig(
        m=args.m,
        hidden=cfg.hidden,
        n_layers=cfg.n_layers,
        n_tasks=args.n_tasks,
        target=args.target,
        dropout=float(cfg.dropout),
        **_representation_fields(cfg),
    )
    return MLPModel(config)


def _representation_fields(cfg: ModelConfig) -> dict[str, Any]:
    # Nothing when unset, so the config of a model without the layer is what it always was.
    if cfg.representation_dim is None:
        return {}
    return {"representation_dim": cfg.representation_dim, "decoder_layers": cfg.decoder_layers}


# The sequence formats are rectangular (no padding), so `input_ids` is the only token column;
# `attention_mask` and `readout_position` stay optional forward arguments.
_IDS = ("input_ids",)


def _lm(model_class, make_config):
    return lambda cfg, args: model_class(make_config(cfg, args))


# `x` (int8 ±1, in every format) is the MLP's input: the forward casts it to float.
# Kinds that answer through task heads: they take `targets` and allow a representation layer.
_HEADS = {"label_name": "targets", "has_representation_option": True}
_register(ModelKind("mlp", _build_mlp, ("array",), ("x",), is_transformer=False, **_HEADS))
# Decoders read the heads at SEP, the last token of `BOS x SEP`; encoders at CLS = 0.
_register(ModelKind("gpt2", _task_heads_builder("gpt2", "last"), ("multitask",), _IDS, **_HEADS))
_register(ModelKind("llama", _task_heads_builder("llama", "last"), ("multitask",), _IDS, **_HEADS))
_register(
    ModelKind(
        "bert", _task_heads_builder("bert", "first"), ("encoder", "multitask"), _IDS, **_HEADS
    )
)
# qa_isolated adds `segment_ids` / `position_ids` columns (`synthetic.sequences.format_model_inputs`).
_QA = ("qa", "qa_isolated")
_register(ModelKind("gpt2-lm", _lm(GPT2LMHeadModel, _gpt2_config), _QA, _IDS, "labels"))
_register(ModelKind("llama-lm", _lm(LlamaForCausalLM, _llama_config), _QA, _IDS, "labels"))
_register(ModelKind("bert-mlm", _lm(BertForMaskedLM, _bert_config), ("encoder",), _IDS, "labels"))
