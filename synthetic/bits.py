"""Conversions between ±1 bits, {0,1} bits and integer indices, and the Boolean cube.

Convention: a ±1 vector ``z`` has index ``Σ_i b_i 2^i`` with ``b_i = (1 - z_i) / 2``,
so ``+1 -> 0``, ``-1 -> 1`` and bit 0 is least significant. In this order the
Walsh-Hadamard transform of a truth table ``f[index]`` is ``2^d · f̂(S)`` at the
index of the mask ``S`` (bit ``i`` of the mask set iff ``i ∈ S``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MAX_CUBE_BITS = 24


def check_pm1(a: np.ndarray, name: str = "array") -> np.ndarray:
    """Return `a` as an int8 array after checking every entry is ±1."""
    arr = np.asarray(a)
    if arr.size and not np.all((arr == 1) | (arr == -1)):
        raise ValueError(f"{name} must hold only ±1 values; convert {{0,1}} bits with from_bool.")
    return arr.astype(np.int8, copy=False)


def to_bool(z: np.ndarray) -> np.ndarray:
    """±1 -> {0,1} as uint8 (+1 -> 0, -1 -> 1)."""
    return ((1 - np.asarray(z, dtype=np.int8)) // 2).astype(np.uint8)


def from_bool(b: np.ndarray) -> np.ndarray:
    """{0,1} -> ±1 as int8 (0 -> +1, 1 -> -1)."""
    return (1 - 2 * np.asarray(b, dtype=np.int8)).astype(np.int8)


def to_index(z: np.ndarray) -> np.ndarray:
    """(..., d) ±1 array -> (...,) int64 indices; bit 0 is least significant."""
    z = np.asarray(z)
    d = z.shape[-1]
    if d > 62:
        raise ValueError(f"to_index supports at most 62 bits, got {d}.")
    weights = np.left_shift(np.int64(1), np.arange(d, dtype=np.int64))
    return to_bool(z).astype(np.int64) @ weights


def from_index(idx: np.ndarray | int, d: int) -> np.ndarray:
    """(...,) integer indices -> (..., d) int8 ±1 array."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= (1 << d)):
        raise ValueError(f"Indices must lie in [0, 2^{d}) for d={d}.")
    b = (idx[..., None] >> np.arange(d, dtype=np.int64)) & 1
    return from_bool(b.astype(np.uint8))


def cube(d: int) -> np.ndarray:
    """All 2^d vectors of {-1,+1}^d in index order, shape (2^d, d), int8."""
    if not isinstance(d, (int, np.integer)) or d < 0:
        raise ValueError(f"cube needs a non-negative integer d, got {d!r}.")
    if d > MAX_CUBE_BITS:
        raise ValueError(
            f"cube(d={d}) would hold 2^{d} rows; enumeration is limited to d ≤ {MAX_CUBE_BITS}. "
            "Sample instead (World.sample)."
        )
    return from_index(np.arange(1 << d, dtype=np.int64), int(d))


def mask_of(subset: Iterable[int]) -> int:
    """Subset of indices -> integer mask (bit i set iff i in subset)."""
    m = 0
    for i in subset:
        m |= 1 << int(i)
    return m


def subset_of(mask: int) -> tuple[int, ...]:
    """Integer mask -> sorted tuple of the set bit positions."""
    mask = int(mask)
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return tuple(out)


def popcount(masks: np.ndarray | int) -> np.ndarray:
    """Number of set bits of each (non-negative) integer, vectorised."""
    m = np.asarray(masks, dtype=np.int64).copy()
    count = np.zeros(m.shape, dtype=np.int64)
    while np.any(m):
        count += m & 1
        m >>= 1
    return count


def mask_degrees(d: int) -> np.ndarray:
    """|S| for every mask S in 0..2^d-1, shape (2^d,)."""
    return popcount(np.arange(1 << d, dtype=np.int64))


def character(z: np.ndarray, subset: Iterable[int]) -> np.ndarray:
    """χ_S(z) = Π_{i∈S} z_i for every row of z, as int8 (empty S gives +1)."""
    z = np.asarray(z, dtype=np.int8)
    idx = list(subset)
    if not idx:
        return np.ones(z.shape[:-1], dtype=np.int8)
    return np.prod(z[..., idx], axis=-1, dtype=np.int8)
