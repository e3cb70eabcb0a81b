"""A synthetic world: latent bits z, an invertible observation map ψ, observed bits x."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthetic import config
from synthetic.bits import MAX_CUBE_BITS, cube, from_bool, to_bool, to_index
from synthetic.observation import build_observation, check_observation
from synthetic.registry import Registry

# Independent random streams derived from one seed, so adding draws to one part of
# the world never changes another part.
STREAM_OBSERVATION = 0
STREAM_REDUNDANCY = 1
STREAM_VERIFY = 2

VERIFY_CUBE_BITS = 16
VERIFY_SAMPLES = 4096

REDUNDANCY: Registry[dict[str, Any]] = Registry("redundancy")
# name -> (number of source bits, {0,1} combiner). Extra bits are functions of the
# first d observed bits, so decode can ignore them.
for _name, _arity, _fn in (
    ("parity", 2, lambda a, b: a ^ b),
    ("and", 2, lambda a, b: a & b),
    ("copy", 1, lambda a, b: a),
):
    REDUNDANCY.register(_name)({"arity": _arity, "fn": _fn})


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class WorldSpec:
    """Everything that fixes a world: sizes, latent distribution, ψ, redundancy and seed."""

    d: int = 10
    m: int | None = None
    observation: str = "random_bijection"
    observation_params: dict[str, Any] = field(default_factory=dict)
    latent_bias: tuple[float, ...] | None = None
    redundancy: str = "parity"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latent_bias is not None and not isinstance(self.latent_bias, tuple):
            if isinstance(self.latent_bias, (list, np.ndarray)):
                object.__setattr__(self, "latent_bias", tuple(float(p) for p in self.latent_bias))
        self.validate()

    @property
    def n_observed(self) -> int:
        """m, with None resolved to d."""
        return self.d if self.m is None else self.m

    def validate(self) -> None:
        """Raise ValueError naming the field, the value and the fix."""
        if not _is_int(self.d) or self.d <= 0:
            raise ValueError(f"WorldSpec.d must be a positive integer, got {self.d!r}; e.g. d=10.")
        if self.m is not None and (not _is_int(self.m) or self.m < self.d):
            raise ValueError(
                f"WorldSpec.m must be an integer ≥ d={self.d} (or null for m = d), got {self.m!r}."
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"WorldSpec.seed must be an integer ≥ 0, got {self.seed!r}.")
        if not isinstance(self.observation_params, Mapping):
            raise ValueError(
                f"WorldSpec.observation_params must be a mapping, got {self.observation_params!r}."
            )
        check_observation(self.observation, self.d, self.observation_params)
        rule = REDUNDANCY.get(self.redundancy)
        if self.n_observed > self.d and rule["arity"] > self.d:
            raise ValueError(
                f"WorldSpec.redundancy={self.redundancy!r} combines {rule['arity']} distinct "
                f"bits but d={self.d}; use redundancy='copy'."
            )
        if self.latent_bias is not None:
            bias = self.latent_bias
            if not isinstance(bias, tuple) or len(bias) != self.d:
                n = len(bias) if hasattr(bias, "__len__") else "?"
                raise ValueError(
                    f"WorldSpec.latent_bias must list P(z_i=+1) for each of the d={self.d} "
                    f"latents, got {n} values."
                )
            for i, p in enumerate(bias):
                ok = isinstance(p, (int, float)) and not isinstance(p, bool)
                if not ok or not (0.0 < float(p) < 1.0) or math.isnan(float(p)):
                    raise ValueError(
                        f"WorldSpec.latent_bias[{i}] = {p!r} must lie strictly between 0 and 1 "
                        "(a probability that z_i = +1); use 0.5 for an unbiased bit."
                    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldSpec:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)

    def replace(self, **changes: Any) -> WorldSpec:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class World:
    """A built world: ψ drawn from the spec's seed and checked to be invertible."""

    def __init__(self, spec: WorldSpec) -> None:
        if not isinstance(spec, WorldSpec):
            raise TypeError(f"World needs a WorldSpec, got {type(spec).__name__}.")
        self.spec = spec
        self.d = spec.d
        self.m = spec.n_observed
        self.psi = build_observation(
            spec.observation,
            spec.d,
            np.random.default_rng([spec.seed, STREAM_OBSERVATION]),
            spec.observation_params,
        )
        rule = REDUNDANCY.get(spec.redundancy)
        rng = np.random.default_rng([spec.seed, STREAM_REDUNDANCY])
        n_extra = self.m - self.d
        # Source bits for each extra observed bit: distinct positions among the first d.
        self.redundant_sources = np.array(
            [rng.choice(self.d, size=rule["arity"], replace=False) for _ in range(n_extra)],
            dtype=np.int64,
        ).reshape(n_extra, rule["arity"])
        self._combine = rule["fn"]
        self.latent_bias = None if spec.latent_bias is None else np.array(spec.latent_bias)
        self.verify()

    def __repr__(self) -> str:
        return f"World({self.spec!r})"

    def _redundant(self, x: np.ndarray) -> np.ndarray:
        b = to_bool(x)
        src = self.redundant_sources
        second = src[:, -1]
        return from_bool(self._combine(b[:, src[:, 0]], b[:, second]))

    def encode(self, z: np.ndarray) -> np.ndarray:
        """z (N, d) int8 ±1 -> x (N, m) int8 ±1."""
        x = self.psi.encode(z)
        if self.m == self.d:
            return x
        return np.concatenate([x, self._redundant(x)], axis=1)

    def decode(self, x: np.ndarray) -> np.ndarray:
        """x (N, m) -> z (N, d); exact on the image of encode (reads the first d bits)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.m:
            raise ValueError(f"x must have shape (N, {self.m}), got {x.shape}.")
        return self.psi.decode(x[:, : self.d])

    def sample_latents(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n latent vectors (n, d) int8 ±1 from the spec's latent distribution."""
        if not _is_int(n) or n < 0:
            raise ValueError(f"n must be an integer ≥ 0, got {n!r}.")
        if self.latent_bias is None:
            b = rng.integers(0, 2, size=(n, self.d), dtype=np.int8)
            return (1 - 2 * b).astype(np.int8)
        return np.where(rng.random((n, self.d)) < self.latent_bias, 1, -1).astype(np.int8)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n pairs (z, x): z (n, d), x (n, m), both int8 ±1."""
        z = self.sample_latents(n, rng)
        return z, self.encode(z)

    def cube(self) -> np.ndarray:
        """All 2^d latent vectors in index order (d ≤ 24)."""
        if self.d > MAX_CUBE_BITS:
            raise ValueError(
                f"World.cube() enumerates 2^d points and is limited to d ≤ {MAX_CUBE_BITS}, "
                f"got d={self.d}; use World.sample."
            )
        return cube(self.d)

    def cube_x(self) -> np.ndarray:
        """The observations of all 2^d latents, row i = encode(cube()[i])."""
        return self.encode(self.cube())

    def cube_probabilities(self) -> np.ndarray:
        """P(z) for every cube point in index order, under the latent distribution."""
        z = self.cube()
        if self.latent_bias is None:
            return np.full(z.shape[0], 2.0**-self.d)
        return np.prod(np.where(z > 0, self.latent_bias, 1 - self.latent_bias), axis=1)

    def verify(self) -> None:
        """Check decode(encode(z)) == z (whole cube for d ≤ 16, else a large sample)."""
        if self.d <= VERIFY_CUBE_BITS:
            z = cube(self.d)
            where = "cube point"
        else:
            rng = np.random.default_rng([self.spec.seed, STREAM_VERIFY])
            z = 1 - 2 * rng.integers(0, 2, size=(VERIFY_SAMPLES, self.d), dtype=np.int8)
            z = z.astype(np.int8)
            where = "sampled point"
        name = self.spec.observation
        x = self.psi.encode(z)
        if x.shape != z.shape or x.dtype != np.int8 or not np.all(np.abs(x) == 1):
            raise ValueError(
                f"Observation map {name!r} is invalid: encode must return an int8 ±1 array of "
                f"shape {z.shape}, got dtype {x.dtype} shape {x.shape}."
            )
        if self.d <= VERIFY_CUBE_BITS and np.unique(to_index(x)).size != z.shape[0]:
            raise ValueError(
                f"Observation map {name!r} is not invertible: encode sends two latents to the "
                "same observation (it is not injective on the cube)."
            )
        back = self.psi.decode(x)
        bad = np.nonzero(np.any(back != z, axis=1))[0]
        if bad.size:
            raise ValueError(
                f"Observation map {name!r} is not invertible: decode(encode(z)) != z for "
                f"{bad.size} of {z.shape[0]} {where}s (first: z={z[bad[0]].tolist()}). "
                "Fix its decode or its encode."
            )
