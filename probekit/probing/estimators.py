"""scikit-learn estimators over the probe solvers: `LinearProbe` and `MLPProbe`.

One concept: a probe as a scikit-learn estimator. `__init__` only stores its keyword
arguments, `fit` returns self and sets attributes ending in `_`, so `clone`,
`GridSearchCV` and `cross_val_score` work. Both share the target handling of
`_ProbeBase` (per-column kinds, binary label coding, predict and score): `LinearProbe`
fits with the batched solver of `probekit.probing.solvers`, `MLPProbe` trains a small
torch MLP.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from probekit.probing.solvers import DEFAULT_CS, TINY, fit_layer, fold_masks, standardise


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
                scores.append(1.0 - np.sum(w * (y_t - p_t) ** 2) / max(sst, TINY))
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
        self.x_mean_, self.x_scale_ = standardise(X)
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
