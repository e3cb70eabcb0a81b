"""Task families: the registry `TASK_FAMILIES` of ways to draw n proxy tasks of degree k.

Each family validates its params (`check`, with or without d) and draws a task block
from an `np.random.Generator` (`draw`): signs of random Walsh polynomials, single
parities, uniform random functions, signs of degree-weighted random polynomials, a
second view ψ₂(z), and mixtures of these. `summary` says in one line what a task of
the family is.

k is the degree of the *polynomial* a task is the sign of. With target="sign" the
task is sign(p(z)), whose exact Fourier–Walsh degree in z can be higher than k (the
sign of a degree-2 polynomial of 10 latents typically has degree 3-6) or lower (a
dominant degree-1 term makes it a single latent ±z_j, degree 1). Families with
`redraws_single_latent` redraw such single-latent tasks (see `synthetic.task_checks`)
unless TaskSpec.allow_single_latent is set; `TaskSet.task_report()` gives every task's
exact degree in z.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from synthetic.observation import check_observation
from synthetic.registry import Registry
from synthetic.task_blocks import _is_int, _Polys, _Table, _View

TASK_FAMILIES: Registry[type[TaskFamily]] = Registry("task family")
MAX_TABLE_BITS = 20


class TaskFamily:
    """A way of drawing n tasks; `check` validates params, `draw` returns a block."""

    defaults: dict[str, Any] = {}
    summary = ""
    # Tasks are signs of random polynomials, so some can come out as a single latent ±z_j;
    # TaskSet.from_spec redraws those (one at a time, with `draw(1, ...)`) by default.
    redraws_single_latent = False

    @classmethod
    def always_single_latent(cls, k: int, params: dict, d: int | None) -> bool:
        """True if every task this family draws is a single latent ±z_j (redrawing is futile)."""
        return False

    @classmethod
    def check(cls, n: int, k: int, params: dict, d: int | None) -> None:
        unknown = sorted(set(params) - set(cls.defaults))
        if unknown:
            known = ", ".join(sorted(cls.defaults)) or "(none)"
            raise ValueError(
                f"Unknown parameter {unknown[0]!r} for task family {cls.name!r}. "
                f"Known parameters: {known}"
            )

    @classmethod
    def draw(cls, n: int, k: int, d: int, params: dict, rng: np.random.Generator):
        raise NotImplementedError


def _positive_int(value, what):
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")


def _random_subset(d: int, size: int, rng: np.random.Generator) -> tuple[int, ...]:
    return tuple(sorted(int(i) for i in rng.choice(d, size=size, replace=False)))


@TASK_FAMILIES.register("walsh")
class Walsh(TaskFamily):
    """The sign of a random Walsh polynomial p of degree exactly k (the value p itself for
    target="real"): one k-subset plus subsets of size 1..k (`n_terms` in all), Gaussian
    coefficients, scaled to unit variance under uniform z (no constant term, so sign
    targets stay balanced in expectation).

    The polynomial has degree k; the task sign(p(z)) has an exact degree in z that can be
    higher (typically) or lower: when one degree-1 term dominates, the sign is that single
    latent ±z_j. Such single-latent tasks are redrawn unless allow_single_latent is set.
    With k = 1 and one term (n_terms = 1 or d = 1) every task is a single latent, which
    TaskSpec refuses unless allow_single_latent is set.
    """

    name = "walsh"
    defaults = {"n_terms": 4}
    summary = (
        "sign of a random degree-k Walsh polynomial of z (its exact degree in z can be "
        "higher or lower than k)"
    )
    redraws_single_latent = True

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        _positive_int(params.get("n_terms", 4), "walsh 'n_terms'")

    @classmethod
    def always_single_latent(cls, k, params, d):
        terms = int(params.get("n_terms", 4))
        return k == 1 and (terms == 1 or d == 1)

    @classmethod
    def draw(cls, n, k, d, params, rng):
        n_terms = int(params.get("n_terms", 4))
        if k == 0:
            return _Polys([{(): 1.0} for _ in range(n)], d)
        available = sum(math.comb(d, s) for s in range(1, k + 1))
        n_terms = min(n_terms, available)
        polys = []
        for _ in range(n):
            subsets = [_random_subset(d, k, rng)]
            seen = set(subsets)
            while len(subsets) < n_terms:
                s = _random_subset(d, int(rng.integers(1, k + 1)), rng)
                if s not in seen:
                    seen.add(s)
                    subsets.append(s)
            c = rng.standard_normal(len(subsets))
            c /= np.sqrt(np.sum(c**2))
            polys.append(dict(zip(subsets, c.tolist(), strict=True)))
        return _Polys(polys, d)


@TASK_FAMILIES.register("parity")
class Parity(TaskFamily):
    """Single characters χ_S(z) = Π_{i∈S} z_i with |S| = k (distinct while C(d, k) allows);
    the exact degree is k.

    With k = 1 every task is a single latent ±z_j by definition: parity tasks are never
    redrawn, so allow_single_latent has no effect on this family (the task report still
    flags them).
    """

    name = "parity"
    summary = "a parity χ_S(z) of k latents (exact degree k; k = 1 tasks are single latents)"

    @classmethod
    def draw(cls, n, k, d, params, rng):
        distinct = n <= math.comb(d, k)
        subsets, seen = [], set()
        while len(subsets) < n:
            s = _random_subset(d, k, rng)
            if distinct and s in seen:
                continue
            seen.add(s)
            subsets.append(s)
        return _Polys([{s: 1.0} for s in subsets], d)


@TASK_FAMILIES.register("uniform")
class Uniform(TaskFamily):
    """Uniformly random functions of z, the no-free-lunch control; k is ignored.

    Values are ±1 (`values: sign`, a uniformly random Boolean function) or i.i.d.
    N(0, 1) per cube point (`values: gaussian`, for real targets).
    """

    name = "uniform"
    defaults = {"values": "sign"}
    summary = "a uniformly random function of z (k is ignored)"

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        if params.get("values", "sign") not in ("sign", "gaussian"):
            raise ValueError(
                f"uniform 'values' must be 'sign' or 'gaussian', got {params.get('values')!r}."
            )
        if d is not None and d > MAX_TABLE_BITS:
            raise ValueError(
                f"Task family 'uniform' stores a truth table of 2^d values per task and is "
                f"limited to d ≤ {MAX_TABLE_BITS}, got d={d}; use a smaller world or the "
                "'degree_weighted' family with rho=1 for a spread-out spectrum."
            )

    @classmethod
    def draw(cls, n, k, d, params, rng):
        if params.get("values", "sign") == "gaussian":
            return _Table(rng.standard_normal((n, 1 << d)), d)
        return _Table(np.where(rng.random((n, 1 << d)) < 0.5, -1.0, 1.0), d)


@TASK_FAMILIES.register("degree_weighted")
class DegreeWeighted(TaskFamily):
    """The sign of a random polynomial (its value for target="real") with Gaussian
    coefficients on every subset of size 1..max_degree (default k), variance ∝ ρ^|S|,
    scaled to unit variance (ρ < 1 favours low degree: docs/theory.md §3 result 4).

    As for `walsh`, the sign's exact degree in z can differ from the polynomial's, and a
    task that comes out as a single latent ±z_j is redrawn unless allow_single_latent.
    """

    name = "degree_weighted"
    defaults = {"rho": 0.5, "max_degree": None}
    summary = (
        "sign of a random polynomial of z on all subsets of size ≤ max_degree, weight ∝ rho^|S| "
        "(its exact degree in z can differ from the polynomial's)"
    )
    redraws_single_latent = True
    MAX_TERMS = 200_000

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        rho = params.get("rho", 0.5)
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho > 0:
            raise ValueError(f"degree_weighted 'rho' must be a number > 0, got {rho!r}.")
        md = params.get("max_degree")
        if md is not None and (not _is_int(md) or md < 1):
            raise ValueError(
                f"degree_weighted 'max_degree' must be an integer ≥ 1 (or null for k), got {md!r}."
            )
        if md is None and k < 1:
            raise ValueError("degree_weighted needs k ≥ 1 or params.max_degree ≥ 1.")
        if d is not None:
            top = k if md is None else md
            if top > d:
                raise ValueError(f"degree_weighted max_degree={top} exceeds d={d}.")
            terms = sum(math.comb(d, s) for s in range(1, top + 1))
            if terms > cls.MAX_TERMS:
                raise ValueError(
                    f"degree_weighted with d={d}, max_degree={top} has {terms} monomials "
                    f"(limit {cls.MAX_TERMS}); lower max_degree."
                )

    @classmethod
    def draw(cls, n, k, d, params, rng):
        from itertools import combinations

        top = params.get("max_degree") or k
        rho = float(params.get("rho", 0.5))
        subsets = [s for size in range(1, top + 1) for s in combinations(range(d), size)]
        std = np.sqrt(np.array([rho ** len(s) for s in subsets]))
        c = rng.standard_normal((n, len(subsets))) * std  # (n, M)
        c /= np.sqrt(np.sum(c**2, axis=1, keepdims=True))
        return _Polys([dict(zip(subsets, row.tolist(), strict=True)) for row in c], d)


@TASK_FAMILIES.register("cross_view")
class CrossView(TaskFamily):
    """The first n bits of a second observation map ψ₂(z): "predict another view".

    Not redrawn: a bit of ψ₂ that is a single latent (e.g. ψ₂ = identity) is the point of
    the experiment; the task report flags it.
    """

    name = "cross_view"
    summary = "bit i of a second observation map ψ₂(z) (k is ignored)"
    defaults = {"observation": "random_bijection", "observation_params": {}}

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        obs = params.get("observation", "random_bijection")
        if d is not None:
            if n > d:
                raise ValueError(f"cross_view uses n ≤ d bits of ψ₂(z), got n={n} > d={d}.")
            check_observation(obs, d, params.get("observation_params") or {})
        else:
            from synthetic.observation import OBSERVATION_MAPS

            OBSERVATION_MAPS.get(obs)

    @classmethod
    def draw(cls, n, k, d, params, rng):
        seed = int(rng.integers(2**62))
        obs = params.get("observation", "random_bijection")
        return _View(obs, params.get("observation_params") or {}, seed, range(n), d)


@TASK_FAMILIES.register("mixture")
class Mixture(TaskFamily):
    """Each task from family `first` with probability ε, else from `second`.

    A task from a component that redraws single latents (walsh, degree_weighted) is
    redrawn from that same component.
    """

    summary = "each task from family `first` with probability epsilon, else from `second`"

    name = "mixture"
    defaults = {
        "epsilon": 0.1,
        "first": "walsh",
        "second": "uniform",
        "first_params": {},
        "second_params": {},
    }

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        eps = params.get("epsilon", 0.1)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= 1:
            raise ValueError(f"mixture 'epsilon' must be a probability in [0, 1], got {eps!r}.")
        for part in ("first", "second"):
            name = params.get(part, cls.defaults[part])
            if name == "mixture":
                raise ValueError(f"mixture '{part}' cannot itself be 'mixture'.")
            sub = params.get(f"{part}_params") or {}
            if not isinstance(sub, Mapping):
                raise ValueError(f"mixture '{part}_params' must be a mapping, got {sub!r}.")
            TASK_FAMILIES.get(name).check(n, k, dict(sub), d)

    @classmethod
    def always_single_latent(cls, k, params, d):
        # A component drawn with positive probability whose every task is a single latent
        # would make the redraw loop give up at draw time; refuse it up front instead.
        eps = float(params.get("epsilon", 0.1))
        for part, weight in (("first", eps), ("second", 1.0 - eps)):
            fam = TASK_FAMILIES.get(params.get(part, cls.defaults[part]))
            sub = dict(params.get(f"{part}_params") or {})
            if weight > 0 and fam.redraws_single_latent and fam.always_single_latent(k, sub, d):
                return True
        return False

    @classmethod
    def draw(cls, n, k, d, params, rng):
        eps = float(params.get("epsilon", 0.1))
        from_first = rng.random(n) < eps
        blocks, columns = [], np.empty(n, dtype=np.int64)
        offset = 0
        for part, mask in (("first", from_first), ("second", ~from_first)):
            count = int(mask.sum())
            sub_rng = np.random.default_rng(int(rng.integers(2**62)))
            if count == 0:
                continue
            name = params.get(part, cls.defaults[part])
            sub = dict(params.get(f"{part}_params") or {})
            block = TASK_FAMILIES.get(name).draw(count, k, d, sub, sub_rng)
            block.family, block.family_params = name, sub  # where a redraw comes from
            blocks.append(block)
            columns[np.nonzero(mask)[0]] = offset + np.arange(count)
            offset += count
        return blocks, columns
