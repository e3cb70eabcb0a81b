"""Controls for probes: splits by distinct input, alternative bases T(z), control tasks.

A probe result means something only beside controls that could have come out otherwise
(docs/theory.md §6); each one here has a test in which it flags an artefact:

- `split_by_distinct_inputs`: the same input x never appears on both sides of a probe
  split, so a probe cannot score by memorising repeated rows; with a group key (a text
  dataset's `--group-column`) no group does either (`probe_splits`), and a dataset's own
  splits are taken as they are (`dataset_splits`, `shared_keys` counts what they share);
- `alt_basis_recoding` / `alt_basis`: an alternative basis T(z) that a model could
  plausibly have learned instead of z: a sparse GF(2)-linear recoding, each T_i the
  product of `weight` latents (`synthetic.recodings`). It carries the same information as
  z and is as simple, so "z is linearly decodable and T(z) is not" says the model chose
  the basis of z; a model trained on tasks that are simple in T(z) flags it by decoding
  T(z) instead. (A uniformly random bijection of the cube cannot serve: each of its bits
  is a random labelling, which no probe generalises to held-out inputs from any
  representation, so it is at chance by construction.)
- `control_task_labels` on `control_types`: Hewitt & Liang control tasks, a random ±1
  label fixed per *type*, where types recur on both sides of the split (for a synthetic
  world the values of a few chosen input bits; for text a word type), so the control
  measures what the probe can memorise of the types. Selectivity = accuracy − control
  accuracy.
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


SPLITS = ("fit", "val_seen", "test_seen", "val_unseen", "test_unseen")


def probe_splits(
    key: np.ndarray,
    unseen: np.ndarray | None,
    test_fraction: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Row indices of the probe's splits, each a union of whole distinct inputs (`key`).

    - `fit`: probes are fitted (and C cross-validated) here: 1 − `test_fraction` of the
      inputs the model trained on;
    - `val_seen` / `test_seen`: the rest of the model's training inputs, halved: where the
      layer is chosen and where the number is reported, for the "seen" scope;
    - `val_unseen` / `test_unseen`: the inputs the model never saw (`unseen`), halved the
      same way, for the "unseen" scope (empty when nothing was held out of training).

    No input is on two sides, so the model's training inputs, the probe's fit inputs, the
    inputs that choose a layer and the inputs reported are disjoint.
    """
    n = len(_rows(key))
    unseen = np.zeros(n, dtype=bool) if unseen is None else np.asarray(unseen, dtype=bool)
    if unseen.shape != (n,):
        raise ValueError(f"unseen must be a (N,) bool mask over the {n} rows, got {unseen.shape}.")
    seen_rows = np.flatnonzero(~unseen)
    fit, rest = split_by_distinct_inputs(_rows(key)[seen_rows], test_fraction, rng)
    out = {"fit": seen_rows[fit]}
    rest = seen_rows[rest]
    halves = (
        split_by_distinct_inputs(_rows(key)[rest], 0.5, rng) if len(rest) > 1 else (rest, rest[:0])
    )
    out["val_seen"], out["test_seen"] = rest[halves[0]], rest[halves[1]]
    unseen_rows = np.flatnonzero(unseen)
    if distinct_rows(_rows(key)[unseen_rows])[0] >= 2 if len(unseen_rows) else False:
        val, test = split_by_distinct_inputs(_rows(key)[unseen_rows], 0.5, rng)
        out["val_unseen"], out["test_unseen"] = unseen_rows[val], unseen_rows[test]
    else:
        out["val_unseen"] = out["test_unseen"] = unseen_rows[:0]
    return {name: np.sort(rows) for name, rows in out.items()}


def dataset_splits(
    given: dict[str, np.ndarray],
    key: np.ndarray,
    rng: np.random.Generator,
    val_fraction: float = 0.2,
) -> dict[str, np.ndarray]:
    """The probe's splits from a dataset's own: `fit` its train rows, `test_seen` its test rows,
    `val_seen` its validation rows, or when it has none `val_fraction` of train's distinct
    `key`s (so the layer is never chosen on the reported rows). No `unseen` scope."""
    out = {name: np.asarray(rows, dtype=np.int64) for name, rows in given.items()}
    if not len(out.get("val_seen", ())):
        fit = out["fit"]
        keep, val = split_by_distinct_inputs(_rows(key)[fit], val_fraction, rng)
        out["fit"], out["val_seen"] = fit[keep], fit[val]
    out["val_unseen"] = out["test_unseen"] = out["fit"][:0]
    return {name: np.sort(rows) for name, rows in out.items()}


def shared_keys(key: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    """How many distinct values of `key` (rows) occur both in rows `a` and in rows `b`."""
    rows = _rows(key)
    if not len(a) or not len(b):
        return 0
    _, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return int(len(np.intersect1d(inverse[a], inverse[b])))


def draw_recoding(
    d: int, rng: np.random.Generator, *, depth: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """Draw one random invertible map T of {-1,+1}^d; returns T as a function of z (N, d).

    d ≤ 20: a uniformly random permutation of the 2^d points. Larger d: a random
    reversible circuit of NOT/CNOT/Toffoli gates (default depth 10·d). Used as a
    worst-case scrambling, never as a probe control (see the module docstring).
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


def alt_basis_recoding(d: int, rng: np.random.Generator, weight: int = 2) -> np.ndarray:
    """A (d, d) 0/1 matrix, invertible over GF(2), each row a product of `weight` latents."""
    from synthetic.recodings import sparse_parity_recoding

    return sparse_parity_recoding(d, rng, weight=weight)


def alt_basis(z: np.ndarray, recoding: np.ndarray) -> np.ndarray:
    """T(z)_i = Π_{j: A[i, j] = 1} z_j for the GF(2) matrix A: (N, d) ±1 int8."""
    from synthetic.recodings import apply_recoding

    return apply_recoding(check_pm1(_rows(z, "z"), "z"), np.asarray(recoding))


def control_types(x: np.ndarray, n_bits: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) type ids of a synthetic world's inputs: the values of `n_bits` randomly chosen bits of x.

    2^n_bits types, each recurring on both sides of any split of a large enough input
    set, as word types do in text.
    """
    x = _rows(x)
    if not 1 <= int(n_bits) <= x.shape[1]:
        raise ValueError(
            f"control_type_bits must be between 1 and the input width {x.shape[1]}, got {n_bits}."
        )
    cols = np.sort(rng.choice(x.shape[1], size=int(n_bits), replace=False))
    bits = (np.asarray(x)[:, cols] > 0).astype(np.int64)
    return bits @ (1 << np.arange(len(cols)))


def control_task_labels(types: np.ndarray, n_targets: int, rng: np.random.Generator) -> np.ndarray:
    """(N, n_targets) int8 ±1 random labels fixed per distinct type (row of `types`), balanced per target.

    Pass types that recur across the split (`control_types`); labels fixed per distinct
    *input* under a split by distinct input are noise on every test row, whatever the probe.
    """
    x = types
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
