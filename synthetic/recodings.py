"""Invertible recodings T of the cube by parities: T(z)_i = Π_{j: A[i,j]=1} z_j.

A recoding is a (d, d) 0/1 matrix A, invertible over GF(2). On bits b = (1 - z) / 2
it is the linear map b -> A b (mod 2), so T is a bijection of {-1,+1}^d and
T⁻¹ is the recoding by A⁻¹ (GF(2) inverse). `sparse_parity_recoding` draws a sparse
one whose coordinates are parities of a few latents; TaskSpec's `basis` option draws
tasks as functions of T(z) instead of z (docs/theory.md §3 results 4 and 5: a task
distribution that is simple in T(z) favours T(z), not z).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from synthetic.bits import from_bool, to_bool

# Draws of one row before giving up (never reached for 1 ≤ weight < d; a safety net).
MAX_ROW_DRAWS = 10_000
# TaskSpec.basis kinds and the keys each takes.
BASIS_KINDS = {"sparse_parity": ("kind", "weight", "seed")}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_recoding(a: np.ndarray, d: int | None = None) -> np.ndarray:
    """Return A as a (d, d) uint8 0/1 array after checking its shape, entries and rank."""
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"A recoding must be a square (d, d) 0/1 matrix, got shape {arr.shape}.")
    if d is not None and arr.shape[0] != d:
        raise ValueError(
            f"A recoding of d={d} latents must have shape ({d}, {d}), got {arr.shape}."
        )
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError("A recoding matrix must hold only 0/1 entries.")
    arr = arr.astype(np.uint8)
    if _rank_gf2(arr) != arr.shape[0]:
        raise ValueError(
            "The recoding matrix is not invertible over GF(2), so T is not a bijection."
        )
    return arr


def _row_mask(row: np.ndarray) -> int:
    return int(sum(1 << int(j) for j in np.nonzero(row)[0]))


def _reduce(mask: int, pivots: dict[int, int]) -> int:
    # Reduce `mask` against an echelon basis {leading bit: row mask}.
    while mask:
        top = mask.bit_length() - 1
        if top not in pivots:
            return mask
        mask ^= pivots[top]
    return 0


def _rank_gf2(a: np.ndarray) -> int:
    pivots: dict[int, int] = {}
    for row in a:
        m = _reduce(_row_mask(row), pivots)
        if m:
            pivots[m.bit_length() - 1] = m
    return len(pivots)


def check_weight(d: int, weight: int) -> None:
    """Raise ValueError unless an invertible recoding with rows of `weight` ones exists."""
    if not _is_int(weight) or weight < 1:
        raise ValueError(f"sparse_parity 'weight' must be an integer ≥ 1, got {weight!r}.")
    if not _is_int(d) or d < 1:
        raise ValueError(f"A recoding needs d ≥ 1 latents, got d={d!r}.")
    if weight >= d and not weight == d == 1:
        raise ValueError(
            f"sparse_parity weight={weight} needs weight < d={d}: rows of weight d are all "
            "the same row, so no such matrix is invertible."
        )


def sparse_parity_recoding(d: int, rng: np.random.Generator, weight: int = 2) -> np.ndarray:
    """A random (d, d) 0/1 matrix A, invertible over GF(2), whose rows have `weight` ones.

    T(z)_i is then the parity of `weight` latents. Rows of even weight all lie in the
    (d-1)-dimensional subspace of even-weight vectors, so d of them are never
    invertible: for even `weight` one row (at a random position) has `weight + 1` ones
    instead. For weight ≥ 2 no row is a single bit, so T is never z up to a permutation;
    weight = 1 gives a random permutation of z. Needs 1 ≤ weight < d (or d = weight = 1).
    Rows are drawn one at a time, uniformly among rows of the required weight that are
    independent of the rows before them; deterministic given `rng`.
    """
    check_weight(d, weight)
    sizes = [weight] * d
    if weight % 2 == 0:
        sizes[-1] = weight + 1  # the odd row, drawn last: no even-weight row set spans it
    pivots: dict[int, int] = {}
    rows = np.zeros((d, d), dtype=np.uint8)
    for i, size in enumerate(sizes):
        for _ in range(MAX_ROW_DRAWS):
            cols = rng.choice(d, size=size, replace=False)
            mask = sum(1 << int(j) for j in cols)
            reduced = _reduce(mask, pivots)
            if reduced:
                pivots[reduced.bit_length() - 1] = reduced
                rows[i, cols] = 1
                break
        else:  # pragma: no cover - unreachable for 1 ≤ weight < d
            raise ValueError(
                f"Could not draw an invertible sparse_parity recoding (d={d}, weight={weight})."
            )
    return rows[rng.permutation(d)]


def recoding_inverse(a: np.ndarray) -> np.ndarray:
    """The GF(2) inverse of a recoding matrix A (0/1 uint8): A⁻¹ A = I mod 2."""
    a = np.asarray(a).astype(np.uint8)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A recoding must be a square (d, d) 0/1 matrix, got shape {a.shape}.")
    d = a.shape[0]
    aug = np.concatenate([a % 2, np.eye(d, dtype=np.uint8)], axis=1)
    for col in range(d):
        rows = np.nonzero(aug[col:, col])[0]
        if rows.size == 0:
            raise ValueError("The recoding matrix is not invertible over GF(2).")
        pivot = col + int(rows[0])
        if pivot != col:
            aug[[col, pivot]] = aug[[pivot, col]]
        hits = np.nonzero(aug[:, col])[0]
        hits = hits[hits != col]
        aug[hits] ^= aug[col]
    return np.ascontiguousarray(aug[:, d:])


def apply_recoding(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """T(z)_i = Π_{j: A[i,j]=1} z_j for every row of z: (N, d) ±1 -> (N, d) int8 ±1."""
    z = np.asarray(z)
    a = np.asarray(a)
    if z.ndim != 2 or a.ndim != 2 or z.shape[1] != a.shape[1]:
        raise ValueError(f"z must have shape (N, {a.shape[-1]}), got {z.shape}.")
    bits = to_bool(z).astype(np.int64) @ a.astype(np.int64).T  # (N, d) counts of -1s
    return from_bool((bits & 1).astype(np.uint8))


def recoding_from_spec(basis, d: int) -> np.ndarray | None:
    """The recoding matrix a TaskSpec `basis` dict stands for (None for None)."""
    if basis is None:
        return None
    basis = dict(basis)
    kind = basis.get("kind")
    if kind == "sparse_parity":
        rng = np.random.default_rng(int(basis.get("seed", 0)))
        return sparse_parity_recoding(d, rng, int(basis.get("weight", 2)))
    raise ValueError(f"Unknown basis kind {kind!r}. Available: {', '.join(BASIS_KINDS)}")


def check_basis(basis, d: int | None) -> None:
    """Validate a TaskSpec `basis` dict (with d when it is known)."""
    if basis is None:
        return
    if not isinstance(basis, Mapping):
        raise ValueError(
            f"TaskSpec.basis must be null or a mapping such as "
            f"{{kind: sparse_parity, weight: 2, seed: 1}}, got {basis!r}."
        )
    kind = basis.get("kind")
    if kind not in BASIS_KINDS:
        raise ValueError(
            f"TaskSpec.basis kind must be one of {', '.join(BASIS_KINDS)}, got {kind!r}."
        )
    unknown = sorted(set(basis) - set(BASIS_KINDS[kind]))
    if unknown:
        raise ValueError(
            f"Unknown key {unknown[0]!r} in TaskSpec.basis ({kind}). "
            f"Known keys: {', '.join(BASIS_KINDS[kind])}"
        )
    seed = basis.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"TaskSpec.basis 'seed' must be an integer ≥ 0, got {seed!r}.")
    weight = basis.get("weight", 2)
    if not _is_int(weight) or weight < 1:
        raise ValueError(f"sparse_parity 'weight' must be an integer ≥ 1, got {weight!r}.")
    if d is not None:
        check_weight(d, weight)
