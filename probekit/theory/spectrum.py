"""Does the task distribution put more weight than uniform on low degree in z? (result 4's hypothesis)

docs/theory.md §3 result 4 needs a task distribution that puts more weight than uniform
on low-degree functions of z. For a uniformly random function on d bits the expected
Fourier weight of level k is C(d, k) / 2^d, so its expected *mean level*
Σ_k k·W^k / Σ_k W^k is exactly d / 2. The toolkit reads "more weight than uniform on low
degree" as: the task distribution's expected mean level is below d / 2.

`compare_to_uniform` estimates that mean level from the drawn tasks' exact level weights
in z (`probekit.theory.degrees`), per component of the family (a mixture's components
weighted by ε and 1 − ε; a `uniform` component contributes exactly d / 2), with a
standard error over the tasks. The distribution is said to favour low degree when the
gap d / 2 − mean exceeds twice that standard error (the margin is the toolkit's choice,
flagged `heuristic` when it, rather than the sign of the gap, decided). When the drawn
tasks' levels are unknown (large d, sign tasks on many latents) the family's nominal
profile by name is used instead (`family_mean_level`, the polynomial's levels, not its
sign's), flagged `heuristic`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MARGIN_SE = 2.0


def uniform_levels(d: int) -> list[float]:
    """Expected level weights of a uniformly random Boolean function on d bits: C(d, k) / 2^d."""
    return [math.comb(d, k) / 2.0**d for k in range(d + 1)]


def mean_level(levels: np.ndarray) -> float | None:
    """Σ k W^k / Σ W^k, or None for the zero function."""
    levels = np.asarray(levels, dtype=np.float64)
    total = float(levels.sum())
    return None if total <= 0 else float(np.arange(levels.size) @ levels / total)


def mixture_parts(params: dict, d: int) -> list[tuple[str, float, dict]]:
    """(family, probability, its params) of each mixture component drawn with positive probability."""
    eps = float(params.get("epsilon", 0.1))
    parts = []
    for part, weight in (("first", eps), ("second", 1.0 - eps)):
        if weight > 0:
            name = params.get(part, "walsh" if part == "first" else "uniform")
            parts.append((name, weight, dict(params.get(f"{part}_params") or {})))
    return parts


def family_mean_level(family: str, k: int, params: dict, d: int) -> float | None:
    """The nominal mean level of a family's *polynomials* by name (None: no stated profile)."""
    params = dict(params or {})
    if family == "uniform":
        return d / 2
    if family == "parity":
        return float(k)
    if family == "walsh":
        if k == 0:
            return 0.0
        terms = min(int(params.get("n_terms", 4)), sum(math.comb(d, s) for s in range(1, k + 1)))
        # One term of degree k, the others of a size uniform in 1..k, equal expected weight.
        return (k + (terms - 1) * (k + 1) / 2) / terms
    if family == "degree_weighted":
        rho, top = float(params.get("rho", 0.5)), params.get("max_degree") or k
        w = [math.comb(d, s) * rho**s for s in range(1, top + 1)]
        return sum(s * v for s, v in zip(range(1, top + 1), w, strict=True)) / sum(w)
    if family == "cross_view":
        obs = params.get("observation", "random_bijection")
        return 1.0 if obs in ("identity", "signed_permutation") else None
    if family == "mixture":
        total = 0.0
        for name, weight, sub in mixture_parts(params, d):
            level = family_mean_level(name, k, sub, d)
            if level is None:
                return None
            total += weight * level
        return total
    return None


def classify_distribution(family: str, k: int, params: dict, d: int) -> tuple[str, str]:
    """'uniform', 'low_degree' or 'other' for a task family by name, with a one-line reason.

    This is the family's nominal profile (the levels of its polynomials); `predict` replaces
    it by the drawn tasks' exact level weights whenever they can be computed.
    """
    params = dict(params or {})
    half = d / 2
    if family == "uniform":
        return "uniform", "tasks are uniformly random functions of z (docs/theory.md §3 result 3)"
    if family == "degree_weighted":
        rho, top = float(params.get("rho", 0.5)), params.get("max_degree") or k
        if rho == 1 and top == d:
            return "uniform", (
                "degree_weighted with rho = 1 on every subset is a uniformly random real "
                "function (docs/theory.md §3 result 3)"
            )
    if family == "mixture":
        parts = mixture_parts(params, d)
        if all(classify_distribution(n, k, p, d)[0] == "uniform" for n, _, p in parts):
            return "uniform", "mixture of uniform-like families only (docs/theory.md §3 result 3)"
    if family in ("walsh", "parity") and k == 0:
        return "other", f"{family} tasks with k = 0 are constant and carry no information"
    level = family_mean_level(family, k, params, d)
    if level is None:
        return "other", f"family {family!r} has no stated degree profile in z"
    where = f"nominal mean level {level:.3g} of its polynomials vs d/2 = {half:g} for uniform"
    if level < half:
        return "low_degree", f"{family} (k = {k}): {where}"
    return "other", f"{family} (k = {k}) does not favour low degree: {where}"


def compare_to_uniform(
    levels: Sequence[np.ndarray | None],
    families: Sequence[tuple[str, dict] | None],
    spec_family: str,
    k: int,
    params: dict,
    d: int,
) -> dict[str, Any]:
    """Expected mean level of the task distribution vs d / 2 (see the module docstring).

    `levels[i]` are task i's exact level weights in z (None: unknown), `families[i]` the
    (family, params) it was drawn from (None when the task set has no spec).
    """
    parts = (
        mixture_parts(dict(params), d) if spec_family == "mixture" else [(spec_family, 1.0, params)]
    )
    means, ses, notes, by_name = [], [], [], []
    profile = np.zeros(d + 1)
    for name, weight, sub in parts:
        if name == "uniform":
            means.append(d / 2)
            ses.append(0.0)
            profile += weight * np.array(uniform_levels(d))
            continue
        rows = [
            lv
            for lv, fam in zip(levels, families, strict=True)
            if fam is None or (fam[0] == name and dict(fam[1]) == dict(sub))
        ]
        known = [np.asarray(r, dtype=np.float64) for r in rows if r is not None]
        known = [r for r in known if r.sum() > 0]
        if len(known) >= 2 and all(r is not None for r in rows):
            per_task = np.array([mean_level(r) for r in known])
            means.append(float(per_task.mean()))
            ses.append(float(per_task.std(ddof=1) / math.sqrt(len(known))))
            profile += weight * np.mean([r / r.sum() for r in known], axis=0)
            notes.append(f"{name}: {len(known)} drawn tasks, exact level weights")
        else:
            level = family_mean_level(name, k, sub, d)
            if level is None:
                return _unknown(d, f"{name}: levels of the drawn tasks unknown, no profile by name")
            means.append(level)
            ses.append(0.0)
            by_name.append(name)
            notes.append(f"{name}: levels of the drawn tasks unknown, nominal profile by name")
    weights = [w for _, w, _ in parts]
    mean = float(np.dot(weights, means))
    se = float(math.sqrt(sum((w * s) ** 2 for w, s in zip(weights, ses, strict=True))))
    gap = d / 2 - mean
    if gap > MARGIN_SE * se and gap > 0:
        verdict = "favours_low_degree"
    elif -gap > MARGIN_SE * se and gap < 0:
        verdict = "favours_high_degree"
    else:
        verdict = "same_as_uniform" if gap == 0 and se == 0 else "not_distinguishable_from_uniform"
    margin_decided = gap != 0 and abs(gap) <= MARGIN_SE * se
    return {
        "verdict": verdict,
        "mean_level": mean,
        "standard_error": se,
        "uniform_mean_level": d / 2,
        "level_weights": None if by_name else [float(v) for v in profile],
        "uniform_level_weights": uniform_levels(d),
        "source": "; ".join(notes) or "uniform components only (exact)",
        "heuristic": bool(by_name) or margin_decided,
        "rests_on": "docs/theory.md §3 result 4 (its hypothesis: more weight than uniform on low degree)",
    }


def _unknown(d: int, why: str) -> dict[str, Any]:
    return {
        "verdict": "unknown",
        "mean_level": None,
        "standard_error": None,
        "uniform_mean_level": d / 2,
        "level_weights": None,
        "uniform_level_weights": uniform_levels(d),
        "source": why,
        "heuristic": True,
        "rests_on": "docs/theory.md §3 result 4 (its hypothesis: more weight than uniform on low degree)",
    }
