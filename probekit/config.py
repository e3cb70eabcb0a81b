"""The experiment config: world + tasks + data (from `synthetic`) + model + train + probe.

One YAML file describes a whole experiment; every section is a frozen dataclass and
loading is strict (an unknown key is an error listing the known ones). Dotted
overrides such as `train.lr=3e-4` or `world.d=12` are applied before validation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from probekit.models.factory import ModelConfig
from probekit.probing.positions import INDEXED_ROLES, ROLE_POSITIONS, parse_position
from synthetic.config import apply_overrides, from_dict, load_yaml, to_dict
from synthetic.data_spec import DataSpec
from synthetic.tasks import TaskSpec
from synthetic.world import WorldSpec

SCHEDULES = ("cosine", "constant", "linear")
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")


# Keys that change where metrics are sent, not a number of the run: a run resumed, or a
# sweep point submitted again, with another tracker is the same run.
NON_RESULT_KEYS = ("train.log_with",)


def _trackers(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """`train.log_with` as a tuple of accelerate tracker names (`none`: the empty tuple)."""
    from accelerate.utils import LoggerType

    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if names == ["none"]:
        return ()
    known = [t.value for t in LoggerType]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"train.log_with: {unknown[0]!r} is not a tracker accelerate knows. Available: "
            f"{', '.join(known)}, or none (metrics.jsonl only)."
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, batch, evaluation and checkpoint cadence."""

    steps: int = 2000
    batch_size: int = 256  # global batch (summed over processes and accumulation steps)
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "auto"
    eval_every: int = 250
    eval_examples: int = 2048  # validation inputs for task loss / accuracy
    recovery_probe: bool = True  # cheap linear probe of z at every evaluation
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    # Weights-only snapshots (save_pretrained, no optimiser state) every this many steps and
    # at step 0, all kept, for `probekit probe RUN --steps all`; None: none.
    save_model_every: int | None = None
    data_dir: str | None = None  # a `probekit generate` output; None = fresh stream
    seed: int = 0
    # Experiment trackers (accelerate's: tensorboard, wandb, trackio, mlflow, ..., `all`
    # installed ones, or `none`), a name, a comma list or a list; unset: TensorBoard when
    # installed, local, no account (probekit.training.tracking). Left out of the saved
    # config while unset, so the configs of runs made before it are unchanged.
    log_with: str | tuple[str, ...] | None = field(default=None, metadata={"omit_if_none": True})

    def __post_init__(self):
        def bad(name: str, rule: str) -> ValueError:
            default = next(f.default for f in dataclasses.fields(self) if f.name == name)
            return ValueError(
                f"train.{name} must be {rule}, got {getattr(self, name)}; "
                f"e.g. train.{name}={default} (the default)."
            )

        positive = ("steps", "batch_size", "grad_accum", "eval_every", "checkpoint_every", "lr")
        for name in positive:
            if getattr(self, name) <= 0:
                raise bad(name, "> 0")
        if self.keep_checkpoints < 1:
            raise bad("keep_checkpoints", ">= 1")
        if self.save_model_every is not None and self.save_model_every <= 0:
            raise ValueError(
                f"train.save_model_every must be > 0 or null (no snapshots), got "
                f"{self.save_model_every}; e.g. train.save_model_every={self.eval_every}."
            )
        if self.warmup_steps < 0:
            raise bad("warmup_steps", ">= 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"train.schedule={self.schedule!r} is unknown. Available: {', '.join(SCHEDULES)}"
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"train.mixed_precision={self.mixed_precision!r} is unknown. "
                f"Available: {', '.join(MIXED_PRECISION)}"
            )
        if self.log_with is not None:
            object.__setattr__(self, "log_with", _trackers(self.log_with))  # frozen dataclass
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"train.batch_size={self.batch_size} is not divisible by "
                f"train.grad_accum={self.grad_accum}"
            )


@dataclass(frozen=True)
class ProbeConfig:
    """How to probe: held-out fraction, seed, regularisation grid, controls."""

    test_fraction: float = 0.3
    cv: int = 3
    Cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    seed: int = 0
    # random_init: the same architecture untrained; input: the raw input x (bag of tokens
    # for text); alt_basis: an alternative basis T(z) (sparse GF(2) recoding of the
    # latents); control_task: Hewitt & Liang labels per type (`control_type_bits` bits of x)
    controls: tuple[str, ...] = ("random_init", "input", "alt_basis", "control_task")
    # auto: a sentence-transformers pooling config when the model folder has one, else where
    # the model reads its answer (CLS for BERT-style encoders, SEP for decoders);
    # or a role of probekit.probing.positions: sep | last_x | mean_x | mean | cls | index:K |
    # x:K | query:J | answer:J (token models only)
    position: str = "auto"
    probes: tuple[str, ...] = ("linear",)  # linear, mlp
    z_pairs: bool = True  # also probe the degree-2 characters z_i z_j
    max_cube_d: int = 12  # regenerated probe inputs are the whole cube up to this d
    n_examples: int = 4096  # otherwise this many sampled inputs
    batch_size: int = 256  # forward-pass batch for activation extraction
    mlp_hidden: tuple[int, ...] = (64,)
    mlp_steps: int = 300
    alt_basis_weight: int = 2  # each T_i of the alternative basis is a product of this many latents
    control_type_bits: int = 4  # control-task types: the values of this many chosen bits of x

    def __post_init__(self):
        # Specs saved before the alternative-basis control name the retired random-bijection
        # control `recoding`; it is replaced by `alt_basis`.
        renamed = tuple(dict.fromkeys("alt_basis" if c == "recoding" else c for c in self.controls))
        object.__setattr__(self, "controls", renamed)  # frozen dataclass
        known = ("random_init", "input", "alt_basis", "control_task")
        unknown = [c for c in self.controls if c not in known]
        if unknown:
            raise ValueError(f"probe.controls has unknown {unknown}. Available: {', '.join(known)}")
        unknown = [p for p in self.probes if p not in ("linear", "mlp")]
        if unknown or not self.probes:
            raise ValueError(
                f"probe.probes must be a non-empty subset of linear, mlp, got {self.probes}"
            )
        if self.position != "auto":
            try:  # the roles are named in probekit.probing.positions alone
                parse_position(self.position)
            except ValueError:
                raise ValueError(
                    f"probe.position={self.position!r} is unknown; use auto, one of "
                    f"{', '.join(ROLE_POSITIONS)}, or {', '.join(r + ':K' for r in INDEXED_ROLES)}"
                ) from None
        for name in (
            "max_cube_d",
            "n_examples",
            "batch_size",
            "mlp_steps",
            "alt_basis_weight",
            "control_type_bits",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"probe.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"probe.test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.cv < 2:
            raise ValueError(f"probe.cv must be >= 2, got {self.cv}")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: what world, which tasks, which data, model, training, probing."""

    world: WorldSpec = field(default_factory=WorldSpec)
    tasks: TaskSpec = field(default_factory=TaskSpec)
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def __post_init__(self):
        # Checks that need more than one section (k <= d, formats that need sign targets, ...).
        self.tasks.validate_for(self.world)
        self.data.validate_for(self.world, self.tasks)

    def to_dict(self) -> dict:
        """A plain, JSON/YAML-friendly dict of the whole config."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        """Build strictly from a dict (unknown keys are errors)."""
        return from_dict(cls, data)

    def replace(self, **sections) -> ExperimentConfig:
        """A copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)


def load_experiment(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
) -> ExperimentConfig:
    """Load an experiment YAML (or the defaults when `path` is None) with dotted overrides."""
    data = load_yaml(path) if path is not None else {}
    data = apply_overrides(data or {}, list(overrides))
    return ExperimentConfig.from_dict(data)
