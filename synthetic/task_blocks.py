"""Task blocks: how a group of tasks is stored and evaluated on a batch of latents.

A block is one representation of several tasks g_i(z) at once: sparse Walsh
polynomials (evaluated as χ(z) @ C), truth tables over the cube (index lookup), or
bits of a second observation map ψ₂(z). Families draw blocks, `TaskSet` concatenates
them; each block has `n`, `values(z) -> (N, n)` and a JSON `to_dict()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthetic import config
from synthetic.bits import to_index
from synthetic.observation import build_observation

Polynomial = dict[tuple[int, ...], float]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


class _Polys:
    """Tasks given as sparse Walsh polynomials, evaluated as χ(z) @ C."""

    kind = "polynomial"

    def __init__(self, polys: Sequence[Polynomial], d: int) -> None:
        self.polys = [check_polynomial(p, d, where=f"task {i}") for i, p in enumerate(polys)]
        monos = sorted({s for p in self.polys for s in p}, key=lambda s: (len(s), s))
        self.monomials = monos
        pos = {s: j for j, s in enumerate(monos)}
        self.coef = np.zeros((len(monos), len(self.polys)), dtype=np.float64)
        for i, p in enumerate(self.polys):
            for s, c in p.items():
                self.coef[pos[s], i] = c
        # Group monomials by size so χ is one fancy-indexed product per size.
        self.groups = []
        for size in sorted({len(s) for s in monos}):
            cols = np.array([j for j, s in enumerate(monos) if len(s) == size], dtype=np.int64)
            idx = np.array([monos[j] for j in cols], dtype=np.int64).reshape(len(cols), size)
            self.groups.append((cols, idx))

    @property
    def n(self) -> int:
        return len(self.polys)

    def values(self, z: np.ndarray) -> np.ndarray:
        chi = np.empty((z.shape[0], len(self.monomials)), dtype=np.float64)  # (N, M)
        for cols, idx in self.groups:
            if idx.shape[1] == 0:
                chi[:, cols] = 1.0
            else:
                chi[:, cols] = np.prod(z[:, idx], axis=-1, dtype=np.int8)  # (N, M_k)
        return chi @ self.coef  # (N, n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "polynomials": [[[list(s), float(c)] for s, c in p.items()] for p in self.polys],
        }


class _Table:
    """Tasks given as truth tables over the cube, evaluated by index lookup."""

    kind = "table"

    def __init__(self, table: np.ndarray, d: int) -> None:
        table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != 1 << d:
            raise ValueError(f"A task table must have shape (n, 2^{d}), got {table.shape}.")
        self.table = table

    @property
    def n(self) -> int:
        return self.table.shape[0]

    def values(self, z: np.ndarray) -> np.ndarray:
        return self.table[:, to_index(z)].T

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table.tolist()}


class _View:
    """Tasks given as bits of a second observation map ψ₂(z) (cross-view prediction)."""

    kind = "view"

    def __init__(self, observation: str, params: Mapping[str, Any], seed: int, bits, d):
        self.observation, self.params, self.seed = observation, dict(params), int(seed)
        self.bits = [int(b) for b in bits]
        if any(b < 0 or b >= d for b in self.bits):
            raise ValueError(f"cross_view bits must lie in [0, {d}), got {self.bits}.")
        self.psi2 = build_observation(observation, d, np.random.default_rng(self.seed), params)

    @property
    def n(self) -> int:
        return len(self.bits)

    def values(self, z: np.ndarray) -> np.ndarray:
        return self.psi2.encode(z)[:, self.bits].astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "observation": self.observation,
            "observation_params": config.to_dict(self.params),
            "seed": self.seed,
            "bits": list(self.bits),
        }


def check_polynomial(poly: Mapping, d: int, where: str = "polynomial") -> Polynomial:
    """Validate a {subset: coefficient} polynomial over d latents; return it normalised."""
    if not isinstance(poly, Mapping):
        raise ValueError(f"{where}: a Walsh polynomial must be a mapping {{subset: coef}}.")
    out: Polynomial = {}
    for s, c in poly.items():
        subset = (s,) if _is_int(s) else tuple(s)
        if not all(_is_int(i) for i in subset):
            raise ValueError(f"{where}: subset {s!r} must hold integer latent indices.")
        subset = tuple(sorted(int(i) for i in subset))
        if any(i < 0 or i >= d for i in subset):
            raise ValueError(
                f"{where}: subset {list(subset)} has an index outside [0, {d}); latent "
                f"indices run from 0 to d-1={d - 1}."
            )
        if len(set(subset)) != len(subset):
            raise ValueError(f"{where}: subset {list(subset)} repeats an index (z_i² = 1).")
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating, np.integer)):
            raise ValueError(f"{where}: coefficient of {list(subset)} must be a number, got {c!r}.")
        if not math.isfinite(float(c)):
            raise ValueError(f"{where}: coefficient of {list(subset)} is not finite: {c!r}.")
        out[subset] = out.get(subset, 0.0) + float(c)
    return out


_BLOCKS = {"polynomial": _Polys, "table": _Table, "view": _View}
