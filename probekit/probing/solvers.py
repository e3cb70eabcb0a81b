"""The batched linear-probe solvers: every (target, C, fold) of one layer fitted at once.

One concept: given one layer's training rows and many targets, fit every target over
a grid of regularisation values C and K cross-validation folds in a few large tensor
operations, pick C per target by CV and refit on all rows (`fit_layer`), with the
helpers that decide a target's kind and draw the folds. `probekit.probing.probes` runs this
per layer for a whole probe sweep; `probekit.probing.estimators` wraps it as
scikit-learn estimators.

Features are standardised with train statistics and turned to their principal axes
(an exact change of basis that leaves the L2 penalty unchanged and drops null
directions, so F > N costs nothing extra), then

- logistic targets (a column with at most two distinct values) are fitted by
  Newton's method with a preconditioned conjugate-gradient inner solve and a
  backtracking line search, for every (target, fold) at once, one C after another along
  the regularisation path with warm starts: the rows of a fold are a 0/1 weight, so one
  GEMM ``X @ W`` computes every logit.
  Converged columns drop out of the batch; each target is then refitted on all
  training rows at its chosen C, warm-started from its fold solutions;
- ridge targets (any other column) are solved in closed form from one SVD per fold,
  shared across targets and regularisation values.

The regularisation follows scikit-learn: a logistic probe minimises
``Σ_i log(1 + exp(-y_i f(x_i))) + ||w||² / (2C)`` with an unpenalised intercept;
a ridge probe minimises ``½ Σ_i (y_i - f(x_i))² + ||w||² / (2C)`` (``alpha = 1/C``).
C is picked per (layer, target) by K-fold cross-validation (mean fold accuracy, or
mean fold R²; ties go to the smallest C), then refitted on all training rows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
KINDS = ("auto", "logistic", "ridge")
TINY = 1e-30  # floor of denominators (sums of squares, CG curvature)


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


def standardise(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the training rows; constant features get scale 1."""
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
            alpha = rz / (P * HP).sum(0).clamp_min(TINY)
            D.add_(alpha * P)
            R.sub_(alpha * HP)
            rn = R.norm(dim=0)
            if bool((rn <= target).all()):
                break
            Zr = prec * R
            rz_new = (R * Zr).sum(0)
            P = Zr + (rz_new / rz.clamp_min(TINY)) * P
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
    try:
        U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    except torch.linalg.LinAlgError:
        # LAPACK's divide-and-conquer SVD (gesdd) can fail to converge when many singular
        # values repeat (a standardised bag of tokens); the slower QR-based gesvd does not.
        import scipy.linalg

        found = scipy.linalg.svd(X.numpy(), full_matrices=False, lapack_driver="gesvd")
        U, S, Vh = (torch.from_numpy(a) for a in found)
    keep = S > S.max().clamp_min(TINY) * 1e-10  # principal axes; null directions stay at 0
    Xr = torch.cat([U[:, keep] * S[keep], X.new_ones(n, 1)], dim=1)  # (n, r+1)
    V = Vh[keep].T  # (F, r)
    Yt = torch.as_tensor(Ypm, dtype=torch.float64)
    Cs_t = torch.as_tensor(Cs, dtype=torch.float64)
    # The fold fits only choose C (by held-out accuracy), so they run in float32, about
    # twice as fast; the refit that produces the reported weights runs in float64.
    # Column b = t * K + k: every (target, fold) at once, one C at a time along the
    # regularisation path (Cs ascending), each C warm-started from the previous solution,
    # as scikit-learn's path does: the strongly regularised solves converge in a few
    # Newton steps and each later one starts close to its answer. At 12 000 inputs x 256
    # features this took a third of the time of solving every C from zero at once.
    f32 = torch.float32
    Xf = Xr.to(f32)
    Y = Yt.to(f32)[:, :, None].expand(n, T, K).reshape(n, -1)
    M = torch.as_tensor(fold_train.T, dtype=f32)[:, None, :].expand(n, T, K).reshape(n, -1)
    path, W, n_iter = [], None, 0
    for C in Cs:
        lam = torch.full((T * K,), 1.0 / float(C), dtype=f32)
        W, it = _newton_logistic(Xf, Y, M, lam, max_iter=max_iter, tol=max(tol, 1e-5), W0=W)
        path.append(W.double().reshape(-1, T, K))
        n_iter += it
    Wr = torch.stack(path, dim=2)  # (r+1, T, nC, K)

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


def column_r2(y, pred, centre):
    """R² per column with the total sum of squares taken around `centre`."""
    sst = ((y - centre) ** 2).sum(0)
    return 1.0 - ((y - pred) ** 2).sum(0) / np.maximum(sst, TINY)


def fit_layer(X, Y, kinds, fold_test, Cs, *, max_iter=100, tol=1e-4):
    """Fit every target of one layer with C chosen by K-fold CV, then refit on all rows.

    X (n, F) raw training rows, Y (n, T) numeric, `fold_test` (K, n) bool. Returns a dict
    with `coef` (T, F) and `intercept` (T,) in input units, `C` (T,), `cv_scores` (T,)
    and `n_iter` (Newton iterations of the logistic solves; 0 if all targets are ridge).
    """
    Cs = np.sort(np.asarray(Cs, dtype=np.float64))
    if Cs.ndim != 1 or len(Cs) == 0 or np.any(Cs <= 0):
        raise ValueError(f"Cs must be a non-empty list of positive numbers, got {Cs!r}.")
    mean, scale = standardise(X)
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
            # One GEMM (einsum without BLAS took a sixth of a layer's time at N = 12 000).
            Wk = np.ascontiguousarray(W[..., k]).reshape(W.shape[0], -1)
            dec = (Xs[rows] @ Wk).reshape(-1, *W.shape[1:3]) + b[None, :, :, k]
            if kind == "logistic":
                fold_scores[..., k] = ((dec > 0) == (Ypm[rows][:, :, None] > 0)).mean(0)
            else:
                centre = Yk[~rows].mean(0)
                for c in range(len(Cs)):
                    fold_scores[:, c, k] = column_r2(Yk[rows], dec[:, :, c], centre)
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
