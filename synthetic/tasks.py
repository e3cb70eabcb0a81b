"""Proxy tasks g_i(z): specs, families (a registry) and the vectorised TaskSet."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synthetic import config
from synthetic.bits import MAX_CUBE_BITS, cube, to_index
from synthetic.observation import build_observation, check_observation
from synthetic.registry import Registry

if TYPE_CHECKING:
    from synthetic.world import World, WorldSpec

TASK_FAMILIES: Registry[type[TaskFamily]] = Registry("task family")
TARGETS = ("sign", "real")
MAX_TABLE_BITS = 20
# |p(z)| below this counts as a tie and maps to +1: exact zeros can come out as
# ±1e-17 depending on summation order, and the label must not depend on the BLAS.
SIGN_TIE_TOL = 1e-9
EVAL_CHUNK_ELEMENTS = 1 << 22

Polynomial = dict[tuple[int, ...], float]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class TaskSpec:
    """A family of n proxy tasks of degree k with a Boolean ("sign") or real target."""

    family: str = "walsh"
    n: int = 64
    k: int = 2
    target: str = "sign"
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks that need no world; `validate_for(world_spec)` adds the d-dependent ones."""
        if not _is_int(self.n) or self.n <= 0:
            raise ValueError(f"TaskSpec.n must be a positive integer, got {self.n!r}; e.g. n=64.")
        if not _is_int(self.k) or self.k < 0:
            raise ValueError(f"TaskSpec.k must be an integer ≥ 0 (a degree), got {self.k!r}.")
        if self.target not in TARGETS:
            raise ValueError(
                f"TaskSpec.target must be one of {', '.join(TARGETS)}, got {self.target!r}."
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"TaskSpec.seed must be an integer ≥ 0, got {self.seed!r}.")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"TaskSpec.params must be a mapping, got {self.params!r}.")
        TASK_FAMILIES.get(self.family).check(self.n, self.k, dict(self.params), None)

    def validate_for(self, world: WorldSpec | World | int) -> None:
        """Raise ValueError if this spec does not fit a world of the given d (k ≤ d, ...)."""
        d = world if _is_int(world) else world.d
        if self.k > d:
            raise ValueError(f"TaskSpec.k={self.k} exceeds the number of latents d={d}; use k ≤ d.")
        TASK_FAMILIES.get(self.family).check(self.n, self.k, dict(self.params), int(d))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)


# ---------------------------------------------------------------- blocks


class _Polys:
    """Tasks given as sparse Walsh polynomials, evaluated as χ(z) @ C."""

    kind = "polynomial"

    def __init__(self, polys: Sequence[Polynomial], d: int) -> None:
        self.polys = [check_polynomial(p, d, where=f"task {i}") for i, p in enumerate(polys)]
        monos = sorted({s for p in self.polys for s in p}, key=lambda s: (len(s), s))
        self.monomials = monos
        pos = {s: j for j, s in enumerate(monos)}
        self.coef = np.zeros((len(monos), len(self.polys)), dtype=np.float64)
        for i, p in enumerate(self.polys):
            for s, c in p.items():
                self.coef[pos[s], i] = c
        # Group monomials by size so χ is one fancy-indexed product per size.
        self.groups = []
        for size in sorted({len(s) for s in monos}):
            cols = np.array([j for j, s in enumerate(monos) if len(s) == size], dtype=np.int64)
            idx = np.array([monos[j] for j in cols], dtype=np.int64).reshape(len(cols), size)
            self.groups.append((cols, idx))

    @property
    def n(self) -> int:
        return len(self.polys)

    def values(self, z: np.ndarray) -> np.ndarray:
        chi = np.empty((z.shape[0], len(self.monomials)), dtype=np.float64)  # (N, M)
        for cols, idx in self.groups:
            if idx.shape[1] == 0:
                chi[:, cols] = 1.0
            else:
                chi[:, cols] = np.prod(z[:, idx], axis=-1, dtype=np.int8)  # (N, M_k)
        return chi @ self.coef  # (N, n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "polynomials": [[[list(s), float(c)] for s, c in p.items()] for p in self.polys],
        }


class _Table:
    """Tasks given as truth tables over the cube, evaluated by index lookup."""

    kind = "table"

    def __init__(self, table: np.ndarray, d: int) -> None:
        table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != 1 << d:
            raise ValueError(f"A task table must have shape (n, 2^{d}), got {table.shape}.")
        self.table = table

    @property
    def n(self) -> int:
        return self.table.shape[0]

    def values(self, z: np.ndarray) -> np.ndarray:
        return self.table[:, to_index(z)].T

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table.tolist()}


class _View:
    """Tasks given as bits of a second observation map ψ₂(z) (cross-view prediction)."""

    kind = "view"

    def __init__(self, observation: str, params: Mapping[str, Any], seed: int, bits, d):
        self.observation, self.params, self.seed = observation, dict(params), int(seed)
        self.bits = [int(b) for b in bits]
        if any(b < 0 or b >= d for b in self.bits):
            raise ValueError(f"cross_view bits must lie in [0, {d}), got {self.bits}.")
        self.psi2 = build_observation(observation, d, np.random.default_rng(self.seed), params)

    @property
    def n(self) -> int:
        return len(self.bits)

    def values(self, z: np.ndarray) -> np.ndarray:
        return self.psi2.encode(z)[:, self.bits].astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "observation": self.observation,
            "observation_params": config.to_dict(self.params),
            "seed": self.seed,
            "bits": list(self.bits),
        }


def check_polynomial(poly: Mapping, d: int, where: str = "polynomial") -> Polynomial:
    """Validate a {subset: coefficient} polynomial over d latents; return it normalised."""
    if not isinstance(poly, Mapping):
        raise ValueError(f"{where}: a Walsh polynomial must be a mapping {{subset: coef}}.")
    out: Polynomial = {}
    for s, c in poly.items():
        subset = (s,) if _is_int(s) else tuple(s)
        if not all(_is_int(i) for i in subset):
            raise ValueError(f"{where}: subset {s!r} must hold integer latent indices.")
        subset = tuple(sorted(int(i) for i in subset))
        if any(i < 0 or i >= d for i in subset):
            raise ValueError(
                f"{where}: subset {list(subset)} has an index outside [0, {d}); latent "
                f"indices run from 0 to d-1={d - 1}."
            )
        if len(set(subset)) != len(subset):
            raise ValueError(f"{where}: subset {list(subset)} repeats an index (z_i² = 1).")
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating, np.integer)):
            raise ValueError(f"{where}: coefficient of {list(subset)} must be a number, got {c!r}.")
        if not math.isfinite(float(c)):
            raise ValueError(f"{where}: coefficient of {list(subset)} is not finite: {c!r}.")
        out[subset] = out.get(subset, 0.0) + float(c)
    return out


_BLOCKS = {"polynomial": _Polys, "table": _Table, "view": _View}


class TaskSet:
    """n tasks g_i(z) on d latents, evaluated together; built from a spec or polynomials."""

    def __init__(self, d: int, target: str, blocks: list, order=None, spec: TaskSpec | None = None):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}.")
        self.d, self.target, self.blocks, self.spec = int(d), target, list(blocks), spec
        total = sum(b.n for b in self.blocks)
        if total == 0:
            raise ValueError("A TaskSet needs at least one task.")
        # order[j] = column of the concatenated block outputs that is task j.
        self.order = np.arange(total) if order is None else np.asarray(order, dtype=np.int64)
        if sorted(self.order.tolist()) != list(range(total)):
            raise ValueError(f"TaskSet order must be a permutation of 0..{total - 1}.")

    @property
    def n(self) -> int:
        """Number of tasks."""
        return int(self.order.size)

    def __repr__(self) -> str:
        kinds = "+".join(b.kind for b in self.blocks)
        return f"TaskSet(n={self.n}, d={self.d}, target={self.target!r}, kind={kinds})"

    # ---- construction

    @classmethod
    def from_spec(cls, spec: TaskSpec, world: World) -> TaskSet:
        """Draw the tasks of `spec` for `world` (randomness from spec.seed only)."""
        spec.validate_for(world.d)
        rng = np.random.default_rng(spec.seed)
        family = TASK_FAMILIES.get(spec.family)
        block = family.draw(spec.n, spec.k, world.d, dict(spec.params), rng)
        blocks, order = block if isinstance(block, tuple) else ([block], None)
        return cls(world.d, spec.target, blocks, order, spec=spec)

    @classmethod
    def from_polynomials(cls, polys: Sequence[Mapping], d: int, target: str = "sign") -> TaskSet:
        """Tasks given directly as Walsh polynomials {sorted subset tuple: coefficient}."""
        if not _is_int(d) or d <= 0:
            raise ValueError(f"d must be a positive integer, got {d!r}.")
        return cls(d, target, [_Polys(list(polys), d)])

    @classmethod
    def from_truth_tables(cls, tables: np.ndarray, target: str = "real") -> TaskSet:
        """Tasks given as an (n, 2^d) array of values in index order."""
        tables = np.atleast_2d(np.asarray(tables, dtype=np.float64))
        d = int(round(math.log2(tables.shape[1]))) if tables.shape[1] else -1
        if d < 1 or tables.shape[1] != 1 << d:
            raise ValueError(f"Truth tables need 2^d columns, got {tables.shape[1]}.")
        return cls(d, target, [_Table(tables, d)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly interchange form (polynomials as [[subset, coef], ...] per task)."""
        return {
            "d": self.d,
            "target": self.target,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "blocks": [b.to_dict() for b in self.blocks],
            "order": self.order.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSet:
        """Inverse of to_dict; validates indices and shapes."""
        unknown = set(data) - {"d", "target", "spec", "blocks", "order"}
        if unknown:
            raise ValueError(
                f"Unknown key {sorted(unknown)[0]!r} in a TaskSet dict. "
                "Known keys: d, target, spec, blocks, order"
            )
        d = data.get("d")
        if not _is_int(d) or d <= 0:
            raise ValueError(f"TaskSet dict 'd' must be a positive integer, got {d!r}.")
        blocks = []
        for b in data.get("blocks", []):
            kind = b.get("kind")
            if kind == "polynomial":
                polys = [{tuple(s): c for s, c in p} for p in b["polynomials"]]
                blocks.append(_Polys(polys, d))
            elif kind == "table":
                blocks.append(_Table(np.array(b["table"], dtype=np.float64), d))
            elif kind == "view":
                blocks.append(
                    _View(b["observation"], b["observation_params"], b["seed"], b["bits"], d)
                )
            else:
                raise ValueError(
                    f"Unknown task block kind {kind!r}. Available: {', '.join(_BLOCKS)}"
                )
        spec = None if data.get("spec") is None else TaskSpec.from_dict(data["spec"])
        return cls(d, data.get("target", "sign"), blocks, data.get("order"), spec=spec)

    # ---- evaluation

    def _raw(self, z: np.ndarray, dtype=np.float64) -> np.ndarray:
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.d:
            raise ValueError(f"z must have shape (N, {self.d}), got {z.shape}.")
        z = z.astype(np.int8, copy=False)
        out = np.empty((z.shape[0], self.n), dtype=dtype)
        # Rows in chunks so the (rows, monomials) character matrix stays ~32 MB.
        width = max([self.n] + [len(getattr(b, "monomials", ())) for b in self.blocks])
        step = max(1, EVAL_CHUNK_ELEMENTS // width)
        for lo in range(0, z.shape[0], step):
            zc = z[lo : lo + step]
            vals = np.concatenate([b.values(zc) for b in self.blocks], axis=1)  # (rows, n)
            vals = vals[:, self.order]
            if self.target == "sign":
                vals = np.where(vals >= -SIGN_TIE_TOL, 1.0, -1.0)
            out[lo : lo + step] = vals
        return out

    def evaluate(self, z: np.ndarray) -> np.ndarray:
        """All task values on a batch z (N, d) ±1 -> (N, n) float32 (±1 for target='sign')."""
        return self._raw(z, np.float32)

    def truth_tables(self) -> np.ndarray:
        """(n, 2^d) float64 table of every task over the cube in index order."""
        if self.d > MAX_CUBE_BITS:
            raise ValueError(f"truth_tables needs d ≤ {MAX_CUBE_BITS}, got d={self.d}.")
        return np.ascontiguousarray(self._raw(cube(self.d)).T)

    @property
    def polynomials(self) -> list[Polynomial] | None:
        """The tasks as Walsh polynomials, or None if not stored so and d > 16.

        Stored polynomials are returned as stored: for target='sign' they are the
        scores whose sign is the label (the label's own degree can be higher; use
        `truth_tables()` with `synthetic.fourier` for it). Other tasks are expanded
        from their truth tables.
        """
        if all(b.kind == "polynomial" for b in self.blocks):
            flat = [p for b in self.blocks for p in b.polys]
            return [dict(flat[j]) for j in self.order]
        if self.d > 16:
            return None
        from synthetic.fourier import polynomials_of

        return polynomials_of(self.truth_tables())


# ---------------------------------------------------------------- families


class TaskFamily:
    """A way of drawing n tasks; `check` validates params, `draw` returns a block."""

    defaults: dict[str, Any] = {}

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
    """Random Walsh polynomials of degree exactly k: one k-subset plus subsets of size 1..k,
    Gaussian coefficients, scaled to unit variance under uniform z (no constant term,
    so sign targets stay balanced in expectation)."""

    name = "walsh"
    defaults = {"n_terms": 4}

    @classmethod
    def check(cls, n, k, params, d):
        super().check(n, k, params, d)
        _positive_int(params.get("n_terms", 4), "walsh 'n_terms'")

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
    """Single characters χ_S with |S| = k (distinct while C(d, k) allows)."""

    name = "parity"

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
    """Gaussian coefficients on every subset of size 1..max_degree with variance ∝ ρ^|S|,
    scaled to unit variance (ρ < 1 favours low degree: THEORY.md §3 result 4)."""

    name = "degree_weighted"
    defaults = {"rho": 0.5, "max_degree": None}
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
    """The first n bits of a second observation map ψ₂(z): "predict another view"."""

    name = "cross_view"
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
    """Each task from family `first` with probability ε, else from `second`."""

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
            blocks.append(TASK_FAMILIES.get(name).draw(count, k, d, sub, sub_rng))
            columns[np.nonzero(mask)[0]] = offset + np.arange(count)
            offset += count
        return blocks, columns


def build_tasks(spec: TaskSpec, world: World) -> TaskSet:
    """Alias of TaskSet.from_spec."""
    return TaskSet.from_spec(spec, world)


def replace_spec(spec: TaskSpec, **changes: Any) -> TaskSpec:
    """A validated copy of a TaskSpec with some fields changed."""
    return dataclasses.replace(spec, **changes)
