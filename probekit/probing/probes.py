"""Linear probes for a whole probe sweep: every (layer, target) at once, scored held out.

A probe sweep asks the same question many times: "is target t linearly decodable
from layer l?" for every layer, latent, recoding and control target. Fitting each
with scikit-learn in a loop is the slow path, so `fit_linear_probes` validates the
inputs, draws the CV folds once and solves all targets per layer with the batched
solver of `probekit.probing.solvers` (Newton/IRLS logistic, closed-form ridge, C by
K-fold CV), then scores every probe on the held-out rows into a `ProbeResults`.

The scikit-learn estimators `LinearProbe` and `MLPProbe` live in
`probekit.probing.estimators`; they and the solver helpers are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from probekit.probing.estimators import LinearProbe, MLPProbe
from probekit.probing.solvers import (
    DEFAULT_CS,
    KINDS,
    check_trainable,
    column_r2,
    fit_layer,
    fold_masks,
    target_kinds,
)

__all__ = [
    "DEFAULT_CS",
    "KINDS",
    "LinearProbe",
    "MLPProbe",
    "ProbeResults",
    "check_trainable",
    "fit_layer",
    "fit_linear_probes",
    "fold_masks",
    "target_kinds",
]


@dataclass
class ProbeResults:
    """Everything a probe sweep keeps per (layer, target); arrays are indexed [layer, ..., target]."""

    scores: np.ndarray  # (L, T) held-out accuracy (logistic targets) or R² (ridge targets)
    kinds: tuple[str, ...]  # (T,) "logistic" or "ridge"
    C: np.ndarray  # (L, T) regularisation chosen by cross-validation
    cv_scores: np.ndarray  # (L, T) mean fold score at the chosen C
    weights: np.ndarray | list[np.ndarray]  # (L, T, F) in input units; a list if widths differ
    intercepts: np.ndarray  # (L, T)
    decision_test: np.ndarray  # (L, n_test, T) logits (logistic) or predicted values (ridge)
    predictions: np.ndarray  # (L, n_test, T) labels in each target's own coding, or values
    train_idx: np.ndarray
    test_idx: np.ndarray

    def mean_scores(self) -> np.ndarray:
        """Mean held-out score over targets, per layer: shape (L,)."""
        return self.scores.mean(axis=1)


def _as_layers(acts) -> list[np.ndarray]:
    if isinstance(acts, np.ndarray) or torch.is_tensor(acts):
        acts = np.asarray(acts)
        if acts.ndim == 2:
            acts = acts[None]
        if acts.ndim != 3:
            raise ValueError(f"acts must be (L, N, F) or a list of (N, F_l), got {acts.shape}.")
        acts = list(acts)
    layers = [np.asarray(a, dtype=np.float64) for a in acts]
    if not layers or any(a.ndim != 2 for a in layers) or len({a.shape[0] for a in layers}) != 1:
        raise ValueError("acts must be (L, N, F) or a non-empty list of (N, F_l) with equal N.")
    if not all(np.isfinite(a).all() for a in layers):
        raise ValueError("acts contain NaN or inf; check the activation extraction.")
    return layers


def fit_linear_probes(
    acts,
    targets,
    train_idx,
    test_idx,
    *,
    kind: str = "auto",
    Cs=DEFAULT_CS,
    cv: int = 5,
    seed: int = 0,
    groups=None,
    max_iter: int = 100,
    tol: float = 1e-4,
    num_threads: int | None = None,
) -> ProbeResults:
    """Fit linear probes for every (layer, target) at once and score them on `test_idx`.

    `acts` is (L, N, F) or a list of (N, F_l); `targets` (N, T) or (N,). `groups` (N,
    or (N, m) rows) keeps equal groups in one CV fold, e.g. the input x of each row.
    `kind="auto"` treats a column with at most two distinct values as binary (logistic),
    any other as real (ridge). `seed` draws the CV folds. `tol` bounds the largest
    gradient entry of the mean logistic loss, as scikit-learn's lbfgs does.
    `num_threads`, if given, sets torch's intra-op threads for this call only: on a
    machine shared with other jobs, 1 thread avoids thread-pool stalls (often many times
    faster); None leaves torch's setting alone.

    Example::

        rng = np.random.default_rng(0)
        train, test = split_by_distinct_inputs(x, 0.3, rng)
        targets = np.concatenate([z, random_recoding(z, rng)], axis=1)
        res = fit_linear_probes(acts, targets, train, test, cv=5)
        res.scores  # (L, 2d) held-out accuracy per layer and target
    """
    layers = _as_layers(acts)
    Y = np.asarray(targets)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.ndim != 2 or Y.shape[0] != layers[0].shape[0]:
        raise ValueError(f"targets must be (N, T) with N={layers[0].shape[0]}, got {Y.shape}.")
    Y = Y.astype(np.float64)
    if not np.isfinite(Y).all():
        raise ValueError("targets contain NaN or inf.")
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    n = Y.shape[0]
    for name, idx in (("train_idx", train_idx), ("test_idx", test_idx)):
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"{name} must be a non-empty 1-D array of row indices in [0, {n}).")
    kinds = target_kinds(Y[train_idx], kind)
    check_trainable(Y[train_idx], kinds)
    rng = np.random.default_rng(seed)
    fold_test = fold_masks(
        len(train_idx), cv, rng, None if groups is None else np.asarray(groups)[train_idx]
    )
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        fits = [
            fit_layer(a[train_idx], Y[train_idx], kinds, fold_test, Cs, max_iter=max_iter, tol=tol)
            for a in layers
        ]
    finally:
        torch.set_num_threads(previous)
    logistic = np.array([k == "logistic" for k in kinds])
    Yte = Y[test_idx]
    lo, hi = Y.min(0), Y.max(0)
    dec = np.stack(
        [a[test_idx] @ f["coef"].T + f["intercept"] for a, f in zip(layers, fits, strict=True)]
    )
    pred = np.where(logistic, np.where(dec > 0, hi, lo), dec)
    acc = (pred == Yte).mean(1)
    r2 = np.stack([column_r2(Yte, p, Yte.mean(0)) for p in dec])
    coefs = [f["coef"] for f in fits]
    same_width = len({c.shape[1] for c in coefs}) == 1
    return ProbeResults(
        scores=np.where(logistic, acc, r2),
        kinds=kinds,
        C=np.stack([f["C"] for f in fits]),
        cv_scores=np.stack([f["cv_scores"] for f in fits]),
        weights=np.stack(coefs) if same_width else coefs,
        intercepts=np.stack([f["intercept"] for f in fits]),
        decision_test=dec,
        predictions=pred,
        train_idx=train_idx,
        test_idx=test_idx,
    )
