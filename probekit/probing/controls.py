"""Controls for probes: splits by distinct input, random recodings T(z), control tasks.

A probe result means something only beside its controls (docs/theory.md §6):

- `split_by_distinct_inputs`: the same input x never appears on both sides of a probe
  split, so a probe cannot score by memorising repeated rows;
- `random_recoding`: a random invertible recoding T(z) of the cube. It carries the
  same information as z, so "z is linearly decodable but T(z) is not" says the model
  chose the basis of z, not merely that it kept the information;
- `control_task_labels`: Hewitt & Liang control tasks, a random ±1 label fixed per
  distinct input. Selectivity = accuracy − control accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from synthetic.bits import check_pm1
from synthetic.observation import MAX_BIJECTION_BITS, build_observation


def _rows(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N,) or (N, m) array, got shape {x.shape}.")
    return x


def distinct_rows(x: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct rows, (N,) id of each row's distinct value)."""
    _, inverse = np.unique(_rows(x), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return int(inverse.max()) + 1, inverse


def split_by_distinct_inputs(
    x: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train_idx, test_idx) over rows, splitting the *distinct* rows of x.

    Every copy of an input lands on the same side; about `test_fraction` of the distinct
    inputs (at least one, and at least one left for training) go to the test side.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    n_distinct, inverse = distinct_rows(x)
    if n_distinct < 2:
        raise ValueError("x has a single distinct row; a split needs at least two distinct inputs.")
    n_test = min(max(int(round(test_fraction * n_distinct)), 1), n_distinct - 1)
    is_test = np.zeros(n_distinct, dtype=bool)
    is_test[rng.permutation(n_distinct)[:n_test]] = True
    rows_test = is_test[inverse]
    return np.flatnonzero(~rows_test), np.flatnonzero(rows_test)


def draw_recoding(
    d: int, rng: np.random.Generator, *, depth: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Draw one random invertible map T of {-1,+1}^d; returns T as a function of z (N, d).

    d ≤ 20: a uniformly random permutation of the 2^d points. Larger d: a random
    reversible circuit of NOT/CNOT/Toffoli gates (default depth 10·d).
    """
    if d <= MAX_BIJECTION_BITS:
        mapping = build_observation("random_bijection", d, rng)
    else:
        depth = 10 * d if depth is None else depth
        mapping = build_observation("reversible_circuit", d, rng, {"depth": int(depth)})
    return mapping.encode


def random_recoding(
    z: np.ndarray, rng: np.random.Generator, *, depth: int | None = None
) -> np.ndarray:
    """T(z) for one random invertible recoding T of the cube: (N, d) ±1 int8, equal z -> equal T(z)."""
    z = check_pm1(_rows(z, "z"), "z")
    return draw_recoding(z.shape[1], rng, depth=depth)(z)


def control_task_labels(x: np.ndarray, n_targets: int, rng: np.random.Generator) -> np.ndarray:
    """(N, n_targets) int8 ±1 random labels fixed per distinct row of x, balanced per target."""
    if isinstance(n_targets, bool) or not isinstance(n_targets, (int, np.integer)) or n_targets < 1:
        raise ValueError(f"n_targets must be a positive integer, got {n_targets!r}.")
    n_distinct, inverse = distinct_rows(x)
    if n_distinct < 2:
        raise ValueError("x has a single distinct row; control labels need two distinct inputs.")
    # Half the distinct inputs get +1 (the odd one out is a coin flip), shuffled per target.
    base = np.where(np.arange(n_distinct) < n_distinct // 2, 1, -1).astype(np.int8)
    table = np.empty((n_distinct, n_targets), dtype=np.int8)
    for t in range(n_targets):
        col = base.copy()
        if n_distinct % 2:
            col[-1] = rng.choice(np.array([-1, 1], dtype=np.int8))
        table[:, t] = rng.permutation(col)
    return table[inverse]
