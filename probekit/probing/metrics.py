"""Metrics of docs/theory.md §6: probe accuracy, R², identification error / MCC, selectivity.

Each metric is one function returning a dict of floats, so results can be written as
JSON lines as they are. `matched_correlation` returns what a plot of the matching needs.

Identification error (signed-permutation matching). Standardise every representation
unit and every latent (mean 0, variance 1 over the rows), take the unit × latent
correlation matrix C, match units to latents one-to-one by maximum |C| (Hungarian
assignment; with more units than latents the best d units are used), flip each
matched unit by the sign of its correlation, and report

    identification_error = mean_j mean_n (s_j u_{a(j)} - z_j)²
    mcc                  = mean_j |C_{a(j), j}|

For standardised variables E[(u - z)²] = 2 - 2 corr(u, z), so
``mcc = 1 - identification_error / 2`` holds exactly. A latent left without a unit
(fewer units than latents), or matched to a constant unit, counts as correlation 0,
i.e. error 2, which keeps the identity. A representation equal to P D z (up to scale and
offset per unit) scores error 0 and MCC 1; one uncorrelated with z scores error ≈ 2.
Note the scale: this error lies in [0, 2], so it is not numerically comparable with the
paper's unpublished variant (docs/theory.md §4).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _columns(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must be (N, k) with N ≥ 2 rows, got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf.")
    return a


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _columns(y_true, "y_true"), _columns(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have one shape.")
    return y_true, y_pred


def _per_target(name: str, values: np.ndarray) -> dict[str, float]:
    out = {name: float(values.mean()), f"{name}_min": float(values.min())}
    out.update({f"{name}_{t}": float(v) for t, v in enumerate(values)})
    return out


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy per target (`accuracy_<t>`), its mean (`accuracy`) and its minimum."""
    y_true, y_pred = _pair(y_true, y_pred)
    return _per_target("accuracy", (y_true == y_pred).mean(axis=0))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Coefficient of determination per target (`r2_<t>`), its mean (`r2`) and minimum."""
    y_true, y_pred = _pair(y_true, y_pred)
    sst = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    if np.any(sst == 0):
        raise ValueError("R² is undefined for a constant target; drop the constant columns.")
    return _per_target("r2", 1.0 - ((y_true - y_pred) ** 2).sum(axis=0) / sst)


def _standardise(a: np.ndarray) -> np.ndarray:
    std = a.std(axis=0)
    # A constant unit carries nothing: it becomes all zeros (correlation 0 with everything).
    return (a - a.mean(axis=0)) / np.where(std > 1e-12, std, np.inf)


def matched_correlation(
    rep: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match units to latents by max |corr|: (|corr| reordered (U, d), assignment (d,), signs (d,)).

    `assignment[j]` is the unit matched to latent j (-1 if none), `signs[j]` the sign of
    their correlation. Row j of the reordered matrix is unit `assignment[j]`, followed by
    the unmatched units, so a recovered representation shows an identity pattern on top.
    """
    rep, z = _columns(rep, "rep"), _columns(z, "z")
    if rep.shape[0] != z.shape[0]:
        raise ValueError(f"rep has {rep.shape[0]} rows but z has {z.shape[0]}; pass matching rows.")
    corr = _standardise(rep).T @ _standardise(z) / rep.shape[0]  # (U, d)
    units, latents = linear_sum_assignment(-np.abs(corr))
    d = z.shape[1]
    assignment = np.full(d, -1, dtype=np.int64)
    assignment[latents] = units
    signs = np.ones(d)
    signs[latents] = np.where(corr[units, latents] < 0, -1.0, 1.0)
    order = [u for u in assignment if u >= 0]
    order += [u for u in range(rep.shape[1]) if u not in set(order)]
    return np.abs(corr[order]), assignment, signs


def identification_error(rep: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """Identification error and MCC after signed-permutation matching (see module docstring)."""
    rep, z = _columns(rep, "rep"), _columns(z, "z")
    _, assignment, signs = matched_correlation(rep, z)
    rs, zs = _standardise(rep), _standardise(z)
    if np.any(zs.std(axis=0) == 0):
        raise ValueError(
            "a latent is constant on these rows; identification needs varying latents."
        )
    matched = signs * rs[:, np.maximum(assignment, 0)]  # (N, d) signed, standardised units
    # A latent with no unit, or matched to a constant unit, counts as an uncorrelated
    # standardised unit: E[(u - z)^2] = 2, correlation 0.
    ok = (assignment >= 0) & (matched.std(axis=0) > 0)
    err = np.where(ok, ((matched - zs) ** 2).mean(axis=0), 2.0)
    corr = np.where(ok, (matched * zs).mean(axis=0), 0.0)
    return {"identification_error": float(err.mean()), "mcc": float(np.abs(corr).mean())}


def predicted_latents(logits: np.ndarray) -> np.ndarray:
    """A logistic probe's predicted E[z_i | x] = 2σ(f) − 1 = tanh(f / 2), bounded in (−1, 1).

    This, not the raw logits, is what the identification error of probe outputs is
    computed on: logits of a probe fitted to separable rows are unbounded, and a few
    held-out points far along a direction of tiny training variance can reach 1e5 and
    swamp every correlation (accuracy 0.96 beside an MCC of 0.11 was seen that way).
    """
    return np.tanh(np.asarray(logits, dtype=np.float64) / 2.0)


def selectivity(acc, control_acc) -> dict[str, float]:
    """Hewitt & Liang selectivity: mean accuracy minus mean control-task accuracy."""
    acc = float(np.mean(acc))
    control = float(np.mean(control_acc))
    return {"accuracy": acc, "control_accuracy": control, "selectivity": acc - control}
