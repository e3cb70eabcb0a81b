"""Linear and MLP probes on activation arrays, batched over layers × targets × C × folds.

A probe sweep asks the same question many times: "is target t linearly decodable
from layer l?" for every layer, latent, recoding and control target. Fitting each
with scikit-learn in a loop is the slow path, so `fit_linear_probes` solves all of
them at once per layer: features are standardised with train statistics and turned
to their principal axes (an exact change of basis that leaves the L2 penalty
unchanged and drops null directions, so F > N costs nothing extra), then

- logistic targets (a column with at most two distinct values) are fitted by
  Newton's method with a preconditioned conjugate-gradient inner solve and a
  backtracking line search, in float64, for every (target, C, fold) at once: the
  rows of a fold are a 0/1 weight, so one GEMM ``X @ W`` computes every logit.
  Converged columns drop out of the batch; each target is then refitted on all
  training rows at its chosen C, warm-started from its fold solutions;
- ridge targets (any other column) are solved in closed form from one SVD per fold,
  shared across targets and regularisation values.

The regularisation follows scikit-learn: a logistic probe minimises
``Σ_i log(1 + exp(-y_i f(x_i))) + ||w||² / (2C)`` with an unpenalised intercept;
a ridge probe minimises ``½ Σ_i (y_i - f(x_i))² + ||w||² / (2C)`` (``alpha = 1/C``).
C is picked per (layer, target) by K-fold cross-validation (mean fold accuracy, or
mean fold R²; ties go to the smallest C), then refitted on all training rows.

`LinearProbe` and `MLPProbe` wrap the same machinery as scikit-learn estimators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
KINDS = ("auto", "logistic", "ridge")
_TINY = 1e-30


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


# ----------------------------------------------------------------------------- helpers


def target_kinds(Y: np.ndarray, kind: str = "auto") -> tuple[str, ...]:
    """Per-column probe kind: 'auto' picks logistic for ≤ 2 distinct values, ridge otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    out = []
    for t in range(Y.shape[1]):
        n_values = len(np.unique(Y[:, t]))
        if kind == "auto":
            out.append("logistic" if n_values <= 2 else "ridge")
        elif kind == "logistic" and n_values > 2:
            raise ValueError(
                f"target {t} has {n_values} distinct values but kind='logistic' needs binary "
                "targets; use kind='ridge' for real targets."
            )
        else:
            out.append(kind)
    return tuple(out)


def check_trainable(Y: np.ndarray, kinds: tuple[str, ...]) -> None:
    """Raise before any heavy work if a target is constant on the training rows."""
    for t, k in enumerate(kinds):
        values = np.unique(Y[:, t])
        if len(values) < 2:
            what = f"a single class (all {values[0]:+g})" if k == "logistic" else "one value"
            raise ValueError(
                f"target {t} has {what} in the training rows; a probe cannot be trained on "
                "it. Drop the target or draw a split that contains both classes."
            )


def fold_masks(n: int, cv: int, rng: np.random.Generator, groups=None) -> np.ndarray:
    """(cv, n) bool: row i is in the held-out part of fold k; equal groups share a fold."""
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"cv must be an integer ≥ 2, got {cv!r}.")
    if groups is None:
        groups = np.arange(n)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True, axis=0)
    inverse = inverse.reshape(-1)
    n_groups = inverse.max() + 1
    if n_groups < cv:
        raise ValueError(
            f"cv={cv} folds need at least {cv} distinct training rows, got {n_groups}."
        )
    fold_of_group = rng.permutation(n_groups) % cv
    return fold_of_group[inverse][None, :] == np.arange(cv)[:, None]


def _standardise(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale[scale < 1e-12] = 1.0  # constant features stay constant (then centred to 0)
    return mean, scale


# ----------------------------------------------------------------------------- solvers


def _newton_logistic(X, Y, M, lam, *, max_iter, tol, W0=None, cg_iters=10):
    """Minimise Σ M·softplus(-Y·XW) + lam/2·||W[:-1]||² for every column at once.

    X (n, p) with the intercept as its last column, Y (n, B) ±1, M (n, B) 0/1 row weights,
    lam (B,). Stops a column when max |gradient| / (its row count) ≤ tol, the criterion of
    scikit-learn's lbfgs on its mean loss. Returns (W (p, B), iterations used).
    """
    n, p = X.shape
    B = Y.shape[1]
    pen = torch.ones(p, 1, dtype=X.dtype)
    pen[-1] = 1e-8  # the intercept (last column): a whisker of penalty keeps it finite
    W = X.new_zeros(p, B) if W0 is None else W0.clone()
    Z = X @ W
    count = M.sum(0).clamp_min(1.0)
    X2 = X * X
    active = torch.arange(B)

    def objective(Za, Wa, Ya, Ma, reg):
        return (Ma * F.softplus(-Ya * Za)).sum(0) + 0.5 * (reg * Wa * Wa).sum(0)

    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        Ya, Ma, Wa, Za = Y[:, active], M[:, active], W[:, active], Z[:, active]
        reg = pen * lam[active]  # (p, Ba) penalty weights
        s = torch.sigmoid(-Ya * Za)
        G = torch.addmm(reg * Wa, X.T, -Ya * s * Ma)  # (p, Ba) gradient
        keep = G.abs().amax(0) / count[active] > tol
        if not keep.any():
            n_iter -= 1
            break
        if not keep.all():
            active, Ya, Ma, Wa, Za, reg, s, G = (
                a[..., keep] for a in (active, Ya, Ma, Wa, Za, reg, s, G)
            )
        Hd = Ma * s * (1.0 - s)  # (n, Ba) curvature of each row's loss
        prec = 1.0 / torch.addmm(reg + 1e-10, X2.T, Hd)
        # Preconditioned CG on H D = -G, each column stopping at a loose residual (the
        # principal-axes basis makes the diagonal preconditioner exact at W = 0).
        D = torch.zeros_like(G)
        R = -G
        Zr = prec * R
        P = Zr
        rz = (R * Zr).sum(0)
        gn = G.norm(dim=0)
        target = torch.clamp(gn.sqrt(), max=0.5) * gn
        for _ in range(cg_iters):
            HP = torch.addmm(reg * P, X.T, Hd * (X @ P))
            alpha = rz / (P * HP).sum(0).clamp_min(_TINY)
            D.add_(alpha * P)
            R.sub_(alpha * HP)
            rn = R.norm(dim=0)
            if bool((rn <= target).all()):
                break
            Zr = prec * R
            rz_new = (R * Zr).sum(0)
            P = Zr + (rz_new / rz.clamp_min(_TINY)) * P
            rz = rz_new
        slope = (G * D).sum(0)
        D = torch.where(slope < 0, D, -prec * G)  # fall back to a scaled gradient step
        slope = (G * D).sum(0)
        XD = X @ D
        f0 = objective(Za, Wa, Ya, Ma, reg)
        step = torch.ones_like(f0)
        for _ in range(30):  # Armijo backtracking, per column
            Zn, Wn = Za + step * XD, Wa + step * D
            ok = objective(Zn, Wn, Ya, Ma, reg) <= f0 + 1e-4 * step * slope
            if bool(ok.all()):
                break
            step = torch.where(ok, step, 0.5 * step)
        W[:, active] = Wn
        Z[:, active] = Zn
    return W, n_iter


def _fit_logistic_layer(Xs, Ypm, fold_train, Cs, *, max_iter, tol):
    """Batched logistic fits for one layer; Xs standardised (n, F), Ypm (n, T) ±1.

    Every (target, C, fold) is solved at once; then each target is refitted on all rows
    at its chosen C. Returns (fold weights W (F, T, nC, K), fold intercepts b (T, nC, K),
    refit function(best (T,)) -> (coef (T, F), intercept (T,)), Newton iterations).
    """
    n, n_feat = Xs.shape
    T, nC, K = Ypm.shape[1], len(Cs), fold_train.shape[0]
    X = torch.as_tensor(Xs, dtype=torch.float64)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    keep = S > S.max().clamp_min(_TINY) * 1e-10  # principal axes; null directions stay at 0
    Xr = torch.cat([U[:, keep] * S[keep], X.new_ones(n, 1)], dim=1)  # (n, r+1)
    V = Vh[keep].T  # (F, r)
    Yt = torch.as_tensor(Ypm, dtype=torch.float64)
    Cs_t = torch.as_tensor(Cs, dtype=torch.float64)
    # Column b = ((t * nC) + c) * K + k.
    Y = Yt[:, :, None, None].expand(n, T, nC, K).reshape(n, -1)
    M = torch.as_tensor(fold_train.T, dtype=torch.float64)[:, None, None, :]
    M = M.expand(n, T, nC, K).reshape(n, -1)
    lam = (1.0 / Cs_t)[None, :, None].expand(T, nC, K).reshape(-1)
    Wr, n_iter = _newton_logistic(Xr, Y, M, lam, max_iter=max_iter, tol=tol)
    Wr = Wr.reshape(-1, T, nC, K)

    def refit(best):
        # Warm start from the mean of the fold solutions at the chosen C.
        idx = torch.as_tensor(best)
        W0 = Wr[:, torch.arange(T), idx].mean(-1)  # (r+1, T)
        Wf, it = _newton_logistic(
            Xr, Yt, torch.ones_like(Yt), 1.0 / Cs_t[idx], max_iter=max_iter, tol=tol, W0=W0
        )
        return (V @ Wf[:-1]).T.numpy(), Wf[-1].numpy(), it

    W = torch.einsum("fr,rtck->ftck", V, Wr[:-1])
    return W.numpy(), Wr[-1].numpy(), refit, n_iter


def _fit_ridge_layer(Xs, Yr, masks, Cs):
    """Closed-form ridge for one layer, every target and C at once, one SVD per fold."""
    n_feat, T, nC, K1 = Xs.shape[1], Yr.shape[1], len(Cs), masks.shape[0]
    lam = 1.0 / np.asarray(Cs, dtype=np.float64)
    W = np.empty((n_feat, T, nC, K1))
    b = np.empty((T, nC, K1))
    for k in range(K1):
        Xk, Yk = Xs[masks[k]], Yr[masks[k]]
        mx, my = Xk.mean(0), Yk.mean(0)
        U, s, Vt = np.linalg.svd(Xk - mx, full_matrices=False)
        shrink = s[:, None] / (s[:, None] ** 2 + lam[None, :])  # (r, nC)
        UtY = U.T @ (Yk - my)  # (r, T)
        W[..., k] = np.einsum("rf,rt,rc->ftc", Vt, UtY, shrink, optimize=True)
        b[..., k] = my[:, None] - np.einsum("f,ftc->tc", mx, W[..., k])
    return W, b


def _r2(y, pred, centre):
    """R² per column with the total sum of squares taken around `centre`."""
    sst = ((y - centre) ** 2).sum(0)
    return 1.0 - ((y - pred) ** 2).sum(0) / np.maximum(sst, _TINY)


def fit_layer(X, Y, kinds, fold_test, Cs, *, max_iter=100, tol=1e-4):
    """Fit every target of one layer with C chosen by K-fold CV, then refit on all rows.

    X (n, F) raw training rows, Y (n, T) numeric, `fold_test` (K, n) bool. Returns a dict
    with `coef` (T, F) and `intercept` (T,) in input units, `C` (T,), `cv_scores` (T,)
    and `n_iter` (Newton iterations of the logistic solves; 0 if all targets are ridge).
    """
    Cs = np.sort(np.asarray(Cs, dtype=np.float64))
    if Cs.ndim != 1 or len(Cs) == 0 or np.any(Cs <= 0):
        raise ValueError(f"Cs must be a non-empty list of positive numbers, got {Cs!r}.")
    mean, scale = _standardise(X)
    Xs = (X - mean) / scale
    K, T = fold_test.shape[0], Y.shape[1]
    out = {
        "coef": np.zeros((T, X.shape[1])),
        "intercept": np.zeros(T),
        "C": np.zeros(T),
        "cv_scores": np.zeros(T),
        "n_iter": 0,
    }
    for kind in ("logistic", "ridge"):
        cols = [t for t in range(T) if kinds[t] == kind]
        if not cols:
            continue
        Yk = Y[:, cols].astype(np.float64)
        if kind == "logistic":
            Ypm = np.where(Yk == Yk.max(0), 1.0, -1.0)  # the larger value is the positive class
            W, b, refit, n_iter = _fit_logistic_layer(
                Xs, Ypm, ~fold_test, Cs, max_iter=max_iter, tol=tol
            )
        else:  # the refit on all rows is one more closed-form "fold"
            all_rows = np.ones((1, X.shape[0]), dtype=bool)
            W, b = _fit_ridge_layer(Xs, Yk, np.concatenate([~fold_test, all_rows]), Cs)
        fold_scores = np.zeros((len(cols), len(Cs), K))
        for k in range(K):
            rows = fold_test[k]
            dec = np.einsum("nf,ftc->ntc", Xs[rows], W[..., k]) + b[None, :, :, k]
            if kind == "logistic":
                fold_scores[..., k] = ((dec > 0) == (Ypm[rows][:, :, None] > 0)).mean(0)
            else:
                centre = Yk[~rows].mean(0)
                for c in range(len(Cs)):
                    fold_scores[:, c, k] = _r2(Yk[rows], dec[:, :, c], centre)
        mean_cv = fold_scores.mean(-1)  # (T_k, nC)
        best = mean_cv.argmax(1)  # first maximum: the smallest C among ties
        idx = np.arange(len(cols))
        if kind == "logistic":
            w_std, b_std, refit_iter = refit(best)
            out["n_iter"] = max(n_iter, refit_iter)
        else:
            w_std, b_std = W[:, idx, best, K].T, b[idx, best, K]  # (T_k, F), (T_k,)
        out["coef"][cols] = w_std / scale
        out["intercept"][cols] = b_std - w_std @ (mean / scale)
        out["C"][cols], out["cv_scores"][cols] = Cs[best], mean_cv[idx, best]
    return out


# ----------------------------------------------------------------------------- public sweep


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
    r2 = np.stack([_r2(Yte, p, Yte.mean(0)) for p in dec])
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


# ----------------------------------------------------------------------------- estimators


class _ProbeBase(BaseEstimator):
    """Shared target handling: per-column kinds, binary label coding, predict and score."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        if self.kind == "ridge":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        else:  # binary targets per column; several classes in one column are not supported
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    def _encode_targets(self, X, y):
        """Validate, set kinds_/classes_, return (X float64, Y (n, T) float64 with ±1 labels)."""
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=self.kind == "ridge", dtype=np.float64
        )
        if X.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples, got n_samples = 1.")
        self._y_1d = np.ndim(y) == 1
        Y = np.asarray(y).reshape(len(y), -1)
        kinds, classes, cols = [], [], []
        for t in range(Y.shape[1]):
            values = np.unique(Y[:, t])
            k = self.kind
            if k == "auto":
                numeric = np.issubdtype(values.dtype, np.number)
                k = "logistic" if len(values) <= 2 or not numeric else "ridge"
            if k == "logistic":
                if len(values) > 2:
                    what = "continuous values" if values.dtype.kind == "f" else "classes"
                    raise ValueError(
                        f"target {t} has {len(values)} {what}. Only binary classification is "
                        "supported: use kind='ridge' for real targets, or split a multi-class "
                        "target into one-vs-rest columns."
                    )
                if len(values) < 2:
                    raise ValueError(
                        f"target {t} has a single class (all {values[0]!r}); a probe cannot "
                        "be trained on it."
                    )
                cols.append(np.where(Y[:, t] == values[1], 1.0, -1.0))
            else:
                cols.append(Y[:, t].astype(np.float64))
            kinds.append(k)
            classes.append(values if k == "logistic" else None)
        self.kinds_ = tuple(kinds)
        # sklearn's conventions: one array for 1-D y or for multilabel y whose columns share
        # their classes (then classes_[decision > 0] predicts); otherwise one entry per column.
        shared = all(c is not None and np.array_equal(c, classes[0]) for c in classes)
        self.classes_ = classes[0] if self._y_1d or shared else classes
        self.classes_per_target_ = classes
        return X, np.stack(cols, axis=1)

    def _decision(self, X):
        raise NotImplementedError

    def _has_decision(self):
        # scikit-learn regressors expose no decision_function
        return self.kind != "ridge"

    @available_if(_has_decision)
    def decision_function(self, X):
        """Logits of logistic targets / values of ridge targets: (n,) or (n, T)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        dec = self._decision(X)
        return dec[:, 0] if self._y_1d else dec

    def predict(self, X):
        """Class labels (logistic targets) or values (ridge targets): (n,) or (n, T)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        dec = self._decision(X)
        cols = [
            c[(dec[:, t] > 0).astype(int)] if k == "logistic" else dec[:, t]
            for t, (k, c) in enumerate(zip(self.kinds_, self.classes_per_target_, strict=True))
        ]
        if len({c.dtype for c in cols}) == 1:
            out = np.stack(cols, axis=1)
        else:  # mixed label types across columns (e.g. strings and floats) keep their values
            out = np.empty((len(dec), len(cols)), dtype=object)
            for t, c in enumerate(cols):
                out[:, t] = c
        return out[:, 0] if self._y_1d else out

    def score(self, X, y, sample_weight=None):
        """Mean over targets of accuracy (logistic targets) or R² (ridge targets)."""
        pred = np.asarray(self.predict(X)).reshape(len(X), -1)
        Y = np.asarray(y).reshape(len(X), -1)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        scores = []
        for t, k in enumerate(self.kinds_):
            if k == "logistic":
                scores.append(np.average(pred[:, t] == Y[:, t], weights=w))
            else:
                y_t, p_t = Y[:, t].astype(float), pred[:, t].astype(float)
                mu = np.average(y_t, weights=w)
                sst = np.sum(w * (y_t - mu) ** 2)
                scores.append(1.0 - np.sum(w * (y_t - p_t) ** 2) / max(sst, _TINY))
        return float(np.mean(scores))


class LinearProbe(_ProbeBase):
    """Logistic (binary targets) or ridge (real targets) probe with C chosen by K-fold CV.

    Fits every column of a 2-D `y` at once with the batched solver of `fit_linear_probes`.
    Attributes after fit: coef_ (T, F), intercept_ (T,), C_ (T,), cv_scores_ (T,),
    kinds_, classes_ (per logistic column; an array when y is 1-D).
    """

    def __init__(self, kind="auto", Cs=DEFAULT_CS, cv=5, max_iter=100, tol=1e-4, random_state=0):
        self.kind = kind
        self.Cs = Cs
        self.cv = cv
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y):
        """Fit all targets; returns self."""
        X, Y = self._encode_targets(X, y)
        rng = np.random.default_rng(self.random_state)
        folds = fold_masks(X.shape[0], min(int(self.cv), X.shape[0]), rng)
        fit = fit_layer(X, Y, self.kinds_, folds, self.Cs, max_iter=self.max_iter, tol=self.tol)
        self.coef_, self.intercept_ = fit["coef"], fit["intercept"]
        self.C_, self.cv_scores_ = fit["C"], fit["cv_scores"]
        self.n_iter_ = max(1, fit["n_iter"])  # Newton iterations; a closed-form ridge fit is 1
        return self

    def _decision(self, X):
        return X @ self.coef_.T + self.intercept_


class MLPProbe(_ProbeBase):
    """A small torch MLP probe (ReLU hidden layers), full-batch Adam, seeded by random_state.

    Logistic columns use a logistic loss, ridge columns a squared loss on standardised
    targets; all columns share the hidden layers. Deterministic for a given random_state.
    """

    def __init__(
        self, kind="auto", hidden=(64,), max_iter=300, lr=1e-2, weight_decay=1e-4, random_state=0
    ):
        self.kind = kind
        self.hidden = hidden
        self.max_iter = max_iter
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def fit(self, X, y):
        """Train the MLP on all targets; returns self."""
        X, Y = self._encode_targets(X, y)
        self.x_mean_, self.x_scale_ = _standardise(X)
        logistic = np.array([k == "logistic" for k in self.kinds_])
        self.y_mean_ = np.where(logistic, 0.0, Y.mean(0))
        y_std = Y.std(0)
        self.y_scale_ = np.where(logistic | (y_std < 1e-12), 1.0, y_std)
        Xt = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        Yt = torch.as_tensor((Y - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        is_log = torch.as_tensor(logistic)
        with torch.random.fork_rng(devices=[]):  # seed locally, leave the global RNG alone
            torch.manual_seed(int(self.random_state))
            sizes = [X.shape[1], *[int(h) for h in self.hidden]]
            layers: list[torch.nn.Module] = []
            for a, b in zip(sizes[:-1], sizes[1:], strict=True):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            net = torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-1], Y.shape[1]))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(int(self.max_iter)):
            out = net(Xt)
            loss = torch.where(is_log, F.softplus(-Yt * out), 0.5 * (out - Yt) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net_ = net.eval()
        self.loss_ = float(loss.detach())
        self.n_iter_ = int(self.max_iter)
        return self

    def _decision(self, X):
        Xt = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        with torch.no_grad():
            out = self.net_(Xt).double().numpy()
        return out * self.y_scale_ + self.y_mean_
