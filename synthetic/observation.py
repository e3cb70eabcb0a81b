"""Observation maps ψ: invertible maps {-1,+1}^d -> {-1,+1}^d, registered by name.

Every map works on whole batches: `(N, d)` int8 ±1 arrays in, `(N, d)` out, with
no Python loop over examples. A map is built from `(d, rng, **params)`; its
parameters are checked by `check_params(d, params)` before any drawing, so a spec
can reject bad values when it is constructed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from synthetic.bits import from_bool, from_index, to_bool, to_index
from synthetic.registry import Registry

OBSERVATION_MAPS: Registry[type[ObservationMap]] = Registry("observation map")

MAX_BIJECTION_BITS = 20


class ObservationMap:
    """Base class: an invertible map on the d-cube with vectorised encode/decode."""

    name = "base"
    # Parameter names with their defaults; unknown parameters are rejected.
    defaults: dict[str, Any] = {}

    def __init__(self, d: int, rng: np.random.Generator, **params: Any) -> None:
        self.check_params(d, params)
        self.d = int(d)
        self.params = {**self.defaults, **params}

    @classmethod
    def check_params(cls, d: int, params: Mapping[str, Any]) -> None:
        """Raise ValueError if `params` are not valid for this map at dimension d."""
        unknown = sorted(set(params) - set(cls.defaults))
        if unknown:
            known = ", ".join(sorted(cls.defaults)) or "(none)"
            raise ValueError(
                f"Unknown parameter {unknown[0]!r} for observation map {cls.name!r}. "
                f"Known parameters: {known}"
            )

    def _check_input(self, a: np.ndarray, what: str) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[1] != self.d:
            raise ValueError(f"{what} must have shape (N, {self.d}), got {a.shape}.")
        return a.astype(np.int8, copy=False)

    def encode(self, z: np.ndarray) -> np.ndarray:
        """z (N, d) ±1 -> x (N, d) ±1."""
        return self._encode(self._check_input(z, "z"))

    def decode(self, x: np.ndarray) -> np.ndarray:
        """x (N, d) ±1 -> z (N, d) ±1, the exact inverse of encode."""
        return self._decode(self._check_input(x, "x"))

    def _encode(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, params={self.params})"


@OBSERVATION_MAPS.register("identity")
class Identity(ObservationMap):
    """ψ(z) = z."""

    name = "identity"

    def _encode(self, z):
        return z.copy()

    def _decode(self, x):
        return x.copy()


@OBSERVATION_MAPS.register("signed_permutation")
class SignedPermutation(ObservationMap):
    """ψ(z)_i = s_i z_{π(i)}: the degree-1 invertible maps (recovery up to order and sign)."""

    name = "signed_permutation"

    def __init__(self, d, rng, **params):
        super().__init__(d, rng, **params)
        self.perm = rng.permutation(self.d)
        self.signs = np.where(rng.random(self.d) < 0.5, -1, 1).astype(np.int8)
        self.inv_perm = np.argsort(self.perm)

    def _encode(self, z):
        return z[:, self.perm] * self.signs

    def _decode(self, x):
        return (x * self.signs)[:, self.inv_perm]


def gf2_rank(a: np.ndarray) -> int:
    """Rank over GF(2) of a 0/1 matrix."""
    m = (np.asarray(a) & 1).astype(np.uint8).copy()
    rank = 0
    rows, cols = m.shape
    for c in range(cols):
        pivots = np.nonzero(m[rank:, c])[0]
        if pivots.size == 0:
            continue
        p = rank + pivots[0]
        m[[rank, p]] = m[[p, rank]]
        others = np.nonzero(m[:, c])[0]
        others = others[others != rank]
        m[others] ^= m[rank]
        rank += 1
        if rank == rows:
            break
    return rank


def gf2_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse over GF(2) of a square 0/1 matrix; raises ValueError if singular."""
    a = (np.asarray(a) & 1).astype(np.uint8)
    n = a.shape[0]
    if a.shape != (n, n):
        raise ValueError(f"gf2_inverse needs a square matrix, got shape {a.shape}.")
    aug = np.concatenate([a, np.eye(n, dtype=np.uint8)], axis=1)
    for c in range(n):
        pivots = np.nonzero(aug[c:, c])[0]
        if pivots.size == 0:
            raise ValueError("Matrix is singular over GF(2): it has no inverse.")
        p = c + pivots[0]
        aug[[c, p]] = aug[[p, c]]
        others = np.nonzero(aug[:, c])[0]
        others = others[others != c]
        aug[others] ^= aug[c]
    return aug[:, n:].copy()


def _gf2_apply(matrix: np.ndarray, z: np.ndarray) -> np.ndarray:
    # In {0,1} form x = A z mod 2, i.e. each x_i is the parity χ_{row i}(z) in ±1 form.
    b = to_bool(z).astype(np.int64)
    return from_bool(((b @ matrix.T.astype(np.int64)) & 1).astype(np.uint8))


@OBSERVATION_MAPS.register("gf2_linear")
class GF2Linear(ObservationMap):
    """x = A z over GF(2) for a random invertible A: each x_i = Π_{j: A_ij = 1} z_j."""

    name = "gf2_linear"
    defaults = {"density": 0.5}

    @classmethod
    def check_params(cls, d, params):
        super().check_params(d, params)
        dens = params.get("density", 0.5)
        if isinstance(dens, bool) or not isinstance(dens, (int, float)) or not 0 < dens < 1:
            raise ValueError(
                f"gf2_linear 'density' must be a number in (0, 1), got {dens!r}; try 0.5."
            )

    def __init__(self, d, rng, **params):
        super().__init__(d, rng, **params)
        density = float(self.params["density"])
        # Rejection sampling: a random GF(2) matrix is invertible with probability ≈ 0.29
        # at density 0.5, so this terminates quickly.
        for _ in range(10_000):
            a = (rng.random((self.d, self.d)) < density).astype(np.uint8)
            if gf2_rank(a) == self.d:
                break
        else:
            raise ValueError(
                f"Could not draw an invertible {self.d}x{self.d} GF(2) matrix at density "
                f"{density}; use a density nearer 0.5."
            )
        self.matrix = a
        self.inverse_matrix = gf2_inverse(a)

    def _encode(self, z):
        return _gf2_apply(self.matrix, z)

    def _decode(self, x):
        return _gf2_apply(self.inverse_matrix, x)


@OBSERVATION_MAPS.register("random_bijection")
class RandomBijection(ObservationMap):
    """A uniformly random permutation of the 2^d cube, stored as a table (d ≤ 20)."""

    name = "random_bijection"

    @classmethod
    def check_params(cls, d, params):
        super().check_params(d, params)
        if d > MAX_BIJECTION_BITS:
            raise ValueError(
                f"random_bijection stores a table of 2^d entries and is limited to "
                f"d ≤ {MAX_BIJECTION_BITS}, got d={d}; use observation='reversible_circuit' "
                "for a non-linear invertible map at any d."
            )

    def __init__(self, d, rng, **params):
        super().__init__(d, rng, **params)
        self.table = rng.permutation(1 << self.d).astype(np.int64)
        self.inverse_table = np.empty_like(self.table)
        self.inverse_table[self.table] = np.arange(self.table.size, dtype=np.int64)

    def _encode(self, z):
        return from_index(self.table[to_index(z)], self.d)

    def _decode(self, x):
        return from_index(self.inverse_table[to_index(x)], self.d)


GATE_KINDS = ("not", "cnot", "toffoli")


@OBSERVATION_MAPS.register("reversible_circuit")
class ReversibleCircuit(ObservationMap):
    """A random sequence of `depth` NOT / CNOT / Toffoli gates; more depth, more non-linear.

    Each gate is its own inverse, so decode applies the gates in reverse order.
    Gate kinds are drawn uniformly among those that fit in d wires (`gates` picks
    which kinds are allowed; Toffoli gates are the only non-linear ones).
    """

    name = "reversible_circuit"
    defaults = {"depth": 20, "gates": list(GATE_KINDS)}

    @classmethod
    def check_params(cls, d, params):
        super().check_params(d, params)
        depth = params.get("depth", 20)
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(
                f"reversible_circuit 'depth' must be an integer ≥ 0, got {depth!r}; e.g. 20."
            )
        gates = params.get("gates", list(GATE_KINDS))
        if isinstance(gates, str) or not isinstance(gates, (list, tuple)) or not gates:
            raise ValueError(
                f"reversible_circuit 'gates' must be a non-empty list drawn from "
                f"{list(GATE_KINDS)}, got {gates!r}."
            )
        for g in gates:
            if g not in GATE_KINDS:
                raise ValueError(
                    f"Unknown gate {g!r} in reversible_circuit 'gates'. Available: "
                    f"{', '.join(GATE_KINDS)}"
                )
        arity = {"not": 1, "cnot": 2, "toffoli": 3}
        if not any(arity[g] <= d for g in gates):
            raise ValueError(
                f"No gate in {list(gates)} fits in d={d} wires; add 'not' (needs 1 wire)."
            )

    def __init__(self, d, rng, **params):
        super().__init__(d, rng, **params)
        arity = {"not": 1, "cnot": 2, "toffoli": 3}
        kinds = [g for g in GATE_KINDS if g in self.params["gates"] and arity[g] <= self.d]
        # Each gate is (target, control1, control2) with -1 for unused controls.
        gates = np.full((int(self.params["depth"]), 3), -1, dtype=np.int64)
        for t in range(gates.shape[0]):
            kind = kinds[int(rng.integers(len(kinds)))]
            wires = rng.choice(self.d, size=arity[kind], replace=False)
            gates[t, : arity[kind]] = wires
        self.gates = gates

    def _run(self, z, order):
        b = to_bool(z)  # work in {0,1}: NOT is ^1, CNOT ^b_c, Toffoli ^(b_c1 & b_c2)
        for t, c1, c2 in self.gates[order]:
            if c1 < 0:
                b[:, t] ^= 1
            elif c2 < 0:
                b[:, t] ^= b[:, c1]
            else:
                b[:, t] ^= b[:, c1] & b[:, c2]
        return from_bool(b)

    def _encode(self, z):
        return self._run(z, slice(None))

    def _decode(self, x):
        return self._run(x, slice(None, None, -1))


def build_observation(
    name: str, d: int, rng: np.random.Generator, params: Mapping[str, Any] | None = None
) -> ObservationMap:
    """Look up `name` in OBSERVATION_MAPS and build it at dimension d."""
    cls = OBSERVATION_MAPS.get(name)
    return cls(d, rng, **dict(params or {}))


def check_observation(name: str, d: int, params: Mapping[str, Any] | None = None) -> None:
    """Validate a map name and its parameters without drawing anything."""
    OBSERVATION_MAPS.get(name).check_params(d, dict(params or {}))
