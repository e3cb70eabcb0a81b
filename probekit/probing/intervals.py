"""95 % intervals for the numbers a probe reports: over test inputs, and over seeds.

- `wilson_interval`: a held-out accuracy is k successes in n test inputs; the Wilson score
  interval keeps its coverage near the nominal level for small n and accuracies near 0 or
  1, where the normal approximation does not.
- `mean_accuracy_interval`: the mean accuracy over several targets scored on the same test
  inputs; the inputs are resampled (percentile bootstrap, `scipy.stats.bootstrap`), so the
  interval respects that the targets share their inputs.
- `seed_interval`: a number measured once per training seed; Student's t interval of the
  mean (with 1 seed there is no interval).
- `latents_above_controls`: which targets' intervals lie wholly above the best control's.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def wilson_interval(
    successes: np.ndarray | int, n: np.ndarray | int, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) Wilson score interval of a proportion, elementwise."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"need 0 ≤ successes ≤ n and n > 0, got successes={k}, n={n}.")
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def mean_accuracy_interval(
    correct: np.ndarray,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
    n_resamples: int = 2000,
) -> tuple[float, float]:
    """(lo, hi) of the mean accuracy over targets, resampling the test inputs (rows)."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.ndim == 1:
        correct = correct[:, None]
    per_input = correct.mean(axis=1)  # the mean over targets is the mean of per-input means
    if len(per_input) < 2 or np.ptp(per_input) == 0:
        # Every input scored alike: fall back to the Wilson interval of the pooled count.
        lo, hi = wilson_interval(correct.sum(), correct.size, confidence)
        return float(lo), float(hi)
    res = stats.bootstrap(
        (per_input,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=rng,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def seed_interval(values, confidence: float = CONFIDENCE) -> dict:
    """Mean over seeds with Student's t interval; `lo`/`hi` are None with fewer than 2 seeds."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    if v.size == 1:
        return {"mean": float(v[0]), "lo": None, "hi": None, "n": 1}
    sem = v.std(ddof=1) / np.sqrt(v.size)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, v.size - 1) * sem)
    return {
        "mean": float(v.mean()),
        "lo": float(v.mean() - half),
        "hi": float(v.mean() + half),
        "n": int(v.size),
    }


def latents_above_controls(lo: np.ndarray, control_hi: np.ndarray) -> np.ndarray:
    """(k,) bool: target j's interval lies wholly above the best control's (lo_j > max control hi_j)."""
    lo = np.asarray(lo, dtype=np.float64)
    control_hi = np.atleast_2d(np.asarray(control_hi, dtype=np.float64))
    return lo > control_hi.max(axis=0)
