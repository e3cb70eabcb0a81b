"""Data specs: `DataSpec` and `GenerateConfig`, what a token dataset is, checked up front.

`DataSpec` says how a world and its tasks become token sequences (format, bits per
token, split sizes, the probe set, the held-out fraction, the seed); `GenerateConfig`
bundles it with the world and task specs that `probekit generate` reads from YAML
(`load_generate_config`, strict keys and dotted overrides). Every check that can fail
runs when a spec is built, before any data is drawn.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthetic import config, holdout
from synthetic.bits import cube
from synthetic.sequences import SEQUENCE_FORMATS
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import TokenLayout
from synthetic.world import World, WorldSpec

AUTO_CUBE_BITS = 16  # probe_set "auto" enumerates the cube up to this d
MAX_PROBE_CUBE_BITS = 20
PROBE_SETS = ("auto", "cube", "sample")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class DataSpec:
    """How to turn a world and its tasks into a token dataset.

    format: a name in SEQUENCE_FORMATS (multitask, qa, qa_isolated, encoder, array).
    bits_per_token: observed bits per x token; need not divide m (the last token
        then carries the remaining m mod b bits).
    queries_per_sequence: questions per qa / qa_isolated sequence (distinct tasks, ≤ n).
    n_train, n_validation: examples drawn per split (n_validation also sizes ood).
    n_probe, probe_set: the probe split is the whole cube ("cube", or "auto" when
        d ≤ 16) or n_probe draws ("sample").
    holdout_fraction: each z is kept out of train/validation with this probability
        and goes to the ood split instead (a seeded hash of z, the same rule for
        datasets, training streams and probing). The default 0.25 holds a quarter of the
        input space out of training, so that task accuracy and probes can be reported on
        inputs the model never saw; 0 trains on everything.
    train_region: None (the default: no region, every spec written before the option
        loads and behaves unchanged) or a structured part of the cube the model trains
        on, everything outside it being held out -- a distribution shift (docs/theory.md
        §3 result 6):
          {kind: latent_fixed, latent: j, value: 1}   train on z_j = value (±1, default
              +1); the other half of the cube is the shift;
          {kind: hamming_ball, radius: r, center: null}   train on z within Hamming
              distance r (0 ≤ r < d) of center (a list of d ±1 values; null: all +1).
        How it combines with the hash: z is held out if it lies outside the region OR
        the hash holds it out (`synthetic.holdout.heldout_mask`, the one rule used by
        the training stream and evaluation sets, dataset splits and probing's `unseen`
        inputs). Use holdout_fraction: 0 for the region alone. The held-out inputs are
        the ood split, `eval_acc_heldout` in training and the `unseen` probe scope.
    seed: all data randomness (draws, queries, the holdout hash).
    """

    format: str = "multitask"
    bits_per_token: int = 1
    queries_per_sequence: int = 4
    n_train: int = 8192
    n_validation: int = 1024
    n_probe: int = 2048
    probe_set: str = "auto"
    holdout_fraction: float = 0.25
    seed: int = 0
    # Omitted from to_dict when None, so an old spec's dict (config.yaml, fingerprints,
    # probekit_spec.json) is byte for byte what it was before the option existed.
    train_region: dict[str, Any] | None = field(default=None, metadata={"omit_if_none": True})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks that need no world; `validate_for` adds the world- and task-dependent ones."""
        SEQUENCE_FORMATS.get(self.format)  # lists the known formats when unknown
        for name, low in (
            ("bits_per_token", 1),
            ("queries_per_sequence", 1),
            ("n_train", 1),
            ("n_validation", 0),
            ("n_probe", 1),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"DataSpec.{name} must be an integer ≥ {low}, got {value!r}.")
        if self.probe_set not in PROBE_SETS:
            raise ValueError(
                f"DataSpec.probe_set must be one of {', '.join(PROBE_SETS)}, got {self.probe_set!r}."
            )
        f = self.holdout_fraction
        if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0.0 <= f < 1.0:
            raise ValueError(
                f"DataSpec.holdout_fraction must be a number in [0, 1), got {f!r}; e.g. 0.1."
            )
        holdout.check_region(self.train_region)
        if self.holds_out and self.n_validation < 1:
            raise ValueError(
                "DataSpec.n_validation sizes the ood split; set it ≥ 1 with holdout_fraction > 0 "
                "or a train_region."
            )

    def validate_for(self, world: WorldSpec, tasks: TaskSpec) -> None:
        """Raise ValueError if this data spec does not fit the world and task specs."""
        fmt = SEQUENCE_FORMATS.get(self.format)
        if fmt.sign_targets_only and tasks.target != "sign":
            raise ValueError(
                f"DataSpec.format={self.format!r} answers with y=+/y=- tokens and needs "
                f"tasks.target=sign, got {tasks.target!r}; use format multitask or array."
            )
        if self.format in ("qa", "qa_isolated") and self.queries_per_sequence > tasks.n:
            raise ValueError(
                f"DataSpec.queries_per_sequence={self.queries_per_sequence} exceeds the "
                f"number of tasks n={tasks.n}; use at most n."
            )
        if self.bits_per_token > world.n_observed:
            raise ValueError(
                f"DataSpec.bits_per_token={self.bits_per_token} exceeds m={world.n_observed}."
            )
        TokenLayout(world.n_observed, tasks.n, self.bits_per_token)
        if self.probe_set == "cube" and world.d > MAX_PROBE_CUBE_BITS:
            raise ValueError(
                f"DataSpec.probe_set=cube needs d ≤ {MAX_PROBE_CUBE_BITS}, got d={world.d}; "
                "use probe_set=sample with n_probe draws."
            )
        holdout.check_region(self.train_region, world.d)
        if self.holds_out and world.d <= MAX_PROBE_CUBE_BITS:
            held = self.heldout_mask(cube(world.d))
            if held.all() or not held.any():
                fix = "choose another fraction"
                if self.train_region is not None:
                    fix = "choose a larger region or a smaller holdout_fraction (0: region alone)"
                raise ValueError(
                    f"{holdout.describe(self.holdout_fraction, self.train_region)} holds out "
                    f"{'every' if held.all() else 'no'} point of the d={world.d} cube with "
                    f"seed {self.seed}; {fix}."
                )

    @property
    def holds_out(self) -> bool:
        """Whether some inputs are held out of training (holdout_fraction > 0 or a train_region)."""
        return holdout.holds_out(self.holdout_fraction, self.train_region)

    def heldout_mask(self, z: np.ndarray) -> np.ndarray:
        """(N,) bool: the inputs this spec keeps out of training (`synthetic.holdout`'s rule)."""
        return holdout.spec_heldout_mask(z, self)

    def probe_on_cube(self, d: int) -> bool:
        """Whether the probe split is the whole cube."""
        return self.probe_set == "cube" or (self.probe_set == "auto" and d <= AUTO_CUBE_BITS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)


@dataclass(frozen=True)
class GenerateConfig:
    """A world, its tasks and a data spec: everything `probekit generate` needs."""

    world: WorldSpec = field(default_factory=WorldSpec)
    tasks: TaskSpec = field(default_factory=TaskSpec)
    data: DataSpec = field(default_factory=DataSpec)

    def __post_init__(self) -> None:
        self.tasks.validate_for(self.world)
        self.data.validate_for(self.world, self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerateConfig:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)

    def build(self) -> tuple[World, TaskSet]:
        """The world and the task set of this config."""
        world = World(self.world)
        return world, TaskSet.from_spec(self.tasks, world)


def load_generate_config(
    path: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
    allow_sections: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> GenerateConfig:
    """Load a GenerateConfig from YAML (strict), after dotted overrides.

    Top-level sections named in `allow_sections` (e.g. model, train, probe of an
    experiment file) are accepted and ignored; any other unknown key is an error.
    """
    data = dict(base or {})
    if path is not None:
        data.update(config.load_yaml(path))
    data = config.apply_overrides(data, overrides)
    for name in allow_sections:
        data.pop(name, None)
    return config.from_dict(GenerateConfig, data)


def replace_data(cfg: GenerateConfig, **changes: Any) -> GenerateConfig:
    """A copy of `cfg` with some DataSpec fields changed (validated)."""
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes))
