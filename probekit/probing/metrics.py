"""Metrics of docs/theory.md §6: probe accuracy, R², identification error / MCC, the
identifiability ladder, selectivity.

Each metric is one function returning a dict of floats, so results can be written as
JSON lines as they are. `matched_correlation` returns what a plot of the matching needs.

Identification error (signed-permutation matching) is computed on the *units of a
representation* (a layer's activations), never on probe outputs: a probe trained per
latent already matches its latent, so matching its outputs has nothing to do. Standardise
every unit and every latent (mean 0, variance 1 over the rows), take the unit × latent
correlation matrix C, match units to latents one-to-one by maximum |C| (Hungarian
assignment; with more units than latents the d best-matching units are used and the rest
ignored), flip each matched unit by the sign of its correlation, and report

    identification_error = mean_j mean_n (s_j u_{a(j)} - z_j)²
    mcc                  = mean_j |C_{a(j), j}|

For standardised variables E[(u - z)²] = 2 - 2 corr(u, z), so
``mcc = 1 - identification_error / 2`` holds exactly. With `match_on=(rep_fit, z_fit)` the
assignment and signs are chosen on those rows and the error is scored on the rows passed,
so a wide layer cannot win by picking units that correlate with z by chance on the scored
rows. A latent left without a unit (fewer units than latents), or matched to a constant
unit, counts as correlation 0, i.e. error 2. A representation equal to P D z (up to scale
and offset per unit) scores error 0 and MCC 1; one uncorrelated with z scores error ≈ 2.
The error lies in [0, 2] when matched and scored on the same rows, in [0, 4] when scored on
held-out rows (2 is no correlation; above 2 the matched units are anti-correlated there), so
it is not numerically comparable with the paper's unpublished
variant (docs/theory.md §4).

The identifiability ladder (`identifiability_ladder`) asks how simple the map from a
site to z is, on held-out rows: (a) a signed permutation of units (`mcc_units`, the MCC
above), (b) an orthogonal map (`procrustes_corr`: the orthogonal Procrustes map from the
standardised site to the standardised latents, fitted on train rows; the mean correlation
of its outputs with z on held-out rows), (c) a general linear map (`linear_acc`: the
linear probe's mean held-out accuracy). A rung is reached when its score is at least
`RUNG_THRESHOLD` (0.9); `rung` is the most restrictive rung reached: `signed_permutation`,
`orthogonal`, `linear` or `none`.
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


def identification_error(
    rep: np.ndarray, z: np.ndarray, *, match_on: tuple[np.ndarray, np.ndarray] | None = None
) -> dict[str, float]:
    """Identification error and MCC of a representation's units after signed-permutation matching.

    `match_on=(rep_fit, z_fit)` chooses the matching on those rows and scores it on
    `rep`, `z` (see the module docstring).
    """
    rep, z = _columns(rep, "rep"), _columns(z, "z")
    if match_on is None:
        _, assignment, signs = matched_correlation(rep, z)
    else:
        rep_fit, z_fit = _columns(match_on[0], "rep_fit"), _columns(match_on[1], "z_fit")
        if rep_fit.shape[1] != rep.shape[1] or z_fit.shape[1] != z.shape[1]:
            raise ValueError(
                f"match_on has widths {rep_fit.shape[1]}/{z_fit.shape[1]} but rep/z have "
                f"{rep.shape[1]}/{z.shape[1]}; pass the same units and latents on both row sets."
            )
        _, assignment, signs = matched_correlation(rep_fit, z_fit)
    rs, zs = _standardise(rep), _standardise(z)
    if np.any(zs.std(axis=0) == 0):
        raise ValueError(
            "a latent is constant on these rows; identification needs varying latents."
        )
    matched = signs * rs[:, np.maximum(assignment, 0)]  # (N, d) signed, standardised units
    # A latent with no unit, or matched to a constant unit, counts as an uncorrelated
    # standardised unit: E[(u - z)^2] = 2, correlation 0. On held-out rows a matched unit
    # can correlate negatively (the sign was fixed elsewhere): that counts against it.
    ok = (assignment >= 0) & (matched.std(axis=0) > 0)
    err = np.where(ok, ((matched - zs) ** 2).mean(axis=0), 2.0)
    return {"identification_error": float(err.mean()), "mcc": float(1.0 - err.mean() / 2.0)}


RUNG_THRESHOLD = 0.9
RUNGS = ("signed_permutation", "orthogonal", "linear", "none")


def procrustes_map(rep: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The orthogonal map W (U, d), WᵀW = I (or WWᵀ = I when U < d), minimising ||R W − Z||.

    R and Z are the standardised rep and z; the solution is W = P Qᵀ from the SVD
    Rᵀ Z = P Σ Qᵀ (orthogonal Procrustes).
    """
    rep, z = _columns(rep, "rep"), _columns(z, "z")
    p, _, qt = np.linalg.svd(_standardise(rep).T @ _standardise(z), full_matrices=False)
    return p @ qt


def procrustes_corr(
    rep_train: np.ndarray, z_train: np.ndarray, rep_test: np.ndarray, z_test: np.ndarray
) -> dict[str, float]:
    """Mean held-out correlation of z with the orthogonal map of the site fitted on train rows."""
    rep_train, z_train = _columns(rep_train, "rep_train"), _columns(z_train, "z_train")
    rep_test, z_test = _columns(rep_test, "rep_test"), _columns(z_test, "z_test")
    w = procrustes_map(rep_train, z_train)
    mean, std = rep_train.mean(axis=0), rep_train.std(axis=0)
    scaled = (rep_test - mean) / np.where(std > 1e-12, std, np.inf)  # train statistics
    pred = _standardise(scaled @ w)
    corr = (pred * _standardise(z_test)).mean(axis=0)
    return {"procrustes_corr": float(corr.mean()), "procrustes_corr_min": float(corr.min())}


def ladder_rung(
    mcc_units: float | None,
    procrustes: float | None,
    linear_acc: float | None,
    threshold: float = RUNG_THRESHOLD,
) -> str:
    """The most restrictive rung whose score, and every less restrictive rung's, is ≥ threshold."""
    scores = dict(zip(RUNGS[:-1], (mcc_units, procrustes, linear_acc), strict=True))
    for i, rung in enumerate(RUNGS[:-1]):
        if all(scores[r] is not None and scores[r] >= threshold for r in RUNGS[i:-1]):
            return rung
    return "none"


def identifiability_ladder(
    rep_train: np.ndarray,
    z_train: np.ndarray,
    rep_test: np.ndarray,
    z_test: np.ndarray,
    linear_acc: float,
    threshold: float = RUNG_THRESHOLD,
) -> dict:
    """`mcc_units`, `procrustes_corr`, `linear_acc` on held-out rows, and the highest `rung`."""
    units = identification_error(rep_test, z_test, match_on=(rep_train, z_train))
    ortho = procrustes_corr(rep_train, z_train, rep_test, z_test)
    rung = ladder_rung(units["mcc"], ortho["procrustes_corr"], linear_acc, threshold)
    return {
        "mcc_units": units["mcc"],
        "identification_error_units": units["identification_error"],
        "procrustes_corr": ortho["procrustes_corr"],
        "linear_acc": float(linear_acc),
        "rung": rung,
    }


def selectivity(acc, control_acc) -> dict[str, float]:
    """Hewitt & Liang selectivity: mean accuracy minus mean control-task accuracy."""
    acc = float(np.mean(acc))
    control = float(np.mean(control_acc))
    return {"accuracy": acc, "control_accuracy": control, "selectivity": acc - control}
