"""Fourier–Walsh analysis of functions on the Boolean cube (docs/theory.md §2).

Truth tables are indexed as in `synthetic.bits`: entry `index(x)` with bit i of the
index set iff x_i = -1. Then `fwht(f)[mask] = 2^n · f̂(S)` where S is the set of
bits of `mask`. Level weights are taken under the uniform measure on the cube
(degrees do not depend on the measure; weights do).
"""

from __future__ import annotations

import numpy as np

from synthetic.bits import cube, mask_degrees, subset_of, to_index

MAX_EXTENSION_BITS = 16


def _log2_length(length: int) -> int:
    n = int(length).bit_length() - 1
    if length < 1 or (1 << n) != length:
        raise ValueError(f"A truth table needs a power-of-two length 2^n, got {length}.")
    return n


# Low levels are done as one small dense Hadamard product per 2^6 block (one BLAS
# call instead of 6 strided passes); levels below 2^17 are then done chunk by chunk
# so each chunk stays in cache; the remaining levels run over the whole array.
_BLOCK_BITS = 6
_CACHE_BITS = 17


def _hadamard(n: int) -> np.ndarray:
    idx = np.arange(1 << n, dtype=np.int64)
    return np.where(mask_degrees(n)[idx[:, None] & idx[None, :]] % 2 == 0, 1.0, -1.0)


_H_BLOCK = _hadamard(_BLOCK_BITS)


def _butterflies(flat: np.ndarray, lo: int, hi: int) -> None:
    # For bit i the pairs (u, v) whose indices differ only in bit i become (u+v, u-v).
    for i in range(lo, hi):
        h = 1 << i
        blocks = flat.reshape(flat.shape[0], -1, 2, h)  # index = hi·2h + bit·h + lo
        u = blocks[:, :, 0, :]
        v = blocks[:, :, 1, :]
        u += v  # u' = u + v
        v *= -2.0
        v += u  # v' = (u + v) - 2v = u - v


def fwht(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unnormalised Walsh–Hadamard transform along `axis` (length 2^n), float64, O(n 2^n).

    Batched over all other axes; works in place on one float64 copy of `a`.
    """
    a = np.moveaxis(np.array(a, dtype=np.float64, copy=True), axis, -1)
    length = a.shape[-1]
    n = _log2_length(length)
    lead = a.shape[:-1]
    flat = np.ascontiguousarray(a).reshape(-1, length)  # (B, 2^n)
    k = min(n, _BLOCK_BITS)
    low = flat.reshape(-1, 1 << k)
    np.matmul(low, _H_BLOCK if k == _BLOCK_BITS else _hadamard(k), out=low)
    if n > _CACHE_BITS:
        chunks = flat.reshape(-1, 1 << _CACHE_BITS)  # levels < 2^17 act within a chunk
        for r in range(chunks.shape[0]):
            _butterflies(chunks[r : r + 1], k, _CACHE_BITS)
        _butterflies(flat, _CACHE_BITS, n)
    else:
        _butterflies(flat, k, n)
    return np.moveaxis(flat.reshape(*lead, length), -1, axis)


def ifwht(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Inverse of `fwht`: H is its own inverse up to the factor 2^n."""
    length = np.shape(a)[axis]
    return fwht(a, axis=axis) / float(length)


def coefficients(truth_table: np.ndarray) -> np.ndarray:
    """Fourier coefficients f̂(S) indexed by subset mask (last axis), float64."""
    tt = np.asarray(truth_table)
    return fwht(tt, axis=-1) / float(tt.shape[-1])


def from_coefficients(coefs: np.ndarray) -> np.ndarray:
    """Truth table from Fourier coefficients (inverse of `coefficients`)."""
    return fwht(coefs, axis=-1)


def _degree_from_coefs(c: np.ndarray, tol: float) -> np.ndarray:
    degs = mask_degrees(_log2_length(c.shape[-1]))
    return np.where(np.abs(c) > tol, degs, 0).max(axis=-1)


def degree(truth_table: np.ndarray, tol: float = 1e-9) -> int | np.ndarray:
    """max |S| with |f̂(S)| > tol (0 for constant functions); batched over leading axes."""
    d = _degree_from_coefs(coefficients(truth_table), tol)
    return int(d) if np.ndim(d) == 0 else d.astype(np.int64)


def level_weights(truth_table: np.ndarray) -> np.ndarray:
    """W^k = Σ_{|S|=k} f̂(S)² for k = 0..n, shape (..., n+1); sums to E[f²] (Parseval)."""
    c = coefficients(truth_table)
    n = _log2_length(c.shape[-1])
    degs = mask_degrees(n)
    c2 = c**2
    return np.stack([c2[..., degs == k].sum(axis=-1) for k in range(n + 1)], axis=-1)


def vector_degree(tables: np.ndarray, tol: float = 1e-9) -> dict[str, int]:
    """Degree of a vector map from its coordinate tables (k, 2^n): sum and max."""
    degs = np.atleast_1d(degree(np.atleast_2d(tables), tol))
    return {"sum": int(degs.sum()), "max": int(degs.max())}


def polynomials_of(tables: np.ndarray, tol: float = 1e-12) -> list[dict[tuple[int, ...], float]]:
    """Truth tables (n, 2^d) -> Walsh polynomials {sorted subset: coefficient}."""
    c = coefficients(np.atleast_2d(tables))
    out = []
    for row in c:
        nz = np.nonzero(np.abs(row) > tol)[0]
        out.append({subset_of(int(m)): float(row[m]) for m in nz})
    return out


def map_tables(fn, d: int) -> np.ndarray:
    """Coordinate tables (k, 2^d) of a vectorised map fn: (N, d) ±1 -> (N, k) ±1."""
    return np.ascontiguousarray(np.asarray(fn(cube(d)), dtype=np.float64).T)


def _min_degree_extension(values: np.ndarray, points: np.ndarray, tol: float) -> int:
    # Lowest j such that some polynomial of degree ≤ j in k variables matches `values`
    # on `points` (rows ±1): a least-squares solve per j.
    from itertools import combinations

    k = points.shape[1]
    cols = [np.ones(points.shape[0])]
    for j in range(k + 1):
        if j > 0:
            cols += [np.prod(points[:, list(s)], axis=1) for s in combinations(range(k), j)]
        a = np.stack(cols, axis=1).astype(np.float64)
        sol, *_ = np.linalg.lstsq(a, values, rcond=None)
        if np.max(np.abs(a @ sol - values)) <= max(tol, 1e-7):
            return j
    return k


def conditional_degree(h_table: np.ndarray, phi_tables: np.ndarray, tol: float = 1e-9) -> int:
    """deg(h | Φ) = deg(h) − deg(g) where h = g ∘ Φ (docs/theory.md §2).

    `h_table` is (2^n,), `phi_tables` (k, 2^n) holds Φ's ±1 coordinates, and Φ must
    be injective on the cube, so g is fixed on Φ's image. When Φ is a bijection
    (k = n) g is unique. When k > n, g is free off the image and its *maximum*
    degree over extensions is always k, which makes the definition degenerate; we
    take the lowest-degree extension instead (the one a simplicity-biased learner
    uses), which gives the largest saving; limited to k ≤ 16.
    """
    h = np.asarray(h_table, dtype=np.float64)
    phi = np.atleast_2d(np.asarray(phi_tables))
    n = _log2_length(h.shape[-1])
    if h.ndim != 1:
        raise ValueError(f"h_table must be one truth table of shape (2^n,), got {h.shape}.")
    if phi.shape[1] != h.shape[0]:
        raise ValueError(f"phi_tables must have shape (k, {h.shape[0]}), got {phi.shape}.")
    if not np.all(np.abs(phi) == 1):
        raise ValueError("phi_tables must hold ±1 values (Φ maps the cube to a cube).")
    k = phi.shape[0]
    points = phi.T.astype(np.int8)  # Φ(x) for every x, (2^n, k)
    if k < n or np.unique(to_index(points)).size != h.shape[0]:
        raise ValueError(
            "Φ is not injective on the cube, so h need not factor as g ∘ Φ; "
            "conditional_degree needs an injective Φ."
        )
    if k == n:
        g = np.empty_like(h)
        g[to_index(points)] = h
        return degree(h, tol) - degree(g, tol)
    if k > MAX_EXTENSION_BITS:
        raise ValueError(f"conditional_degree with k > n is limited to k ≤ {MAX_EXTENSION_BITS}.")
    return degree(h, tol) - _min_degree_extension(h, points.astype(np.float64), tol)
