"""Proxy tasks g_i(z): the `TaskSpec` and the vectorised `TaskSet` built from it.

Families (the `TASK_FAMILIES` registry) live in `synthetic.task_families`, the block
representations in `synthetic.task_blocks`, the per-task report and the redraw of
single-latent tasks in `synthetic.task_checks`, basis recodings T in
`synthetic.recodings`; their public names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synthetic import config
from synthetic.bits import MAX_CUBE_BITS, cube
from synthetic.fourier import polynomials_of
from synthetic.recodings import (
    apply_recoding,
    check_basis,
    check_recoding,
    recoding_from_spec,
)
from synthetic.task_blocks import (
    _BLOCKS,
    Polynomial,
    _is_int,
    _Polys,
    _Table,
    _View,
    check_polynomial,
)
from synthetic.task_checks import latents_equal_to_tasks, redraw_single_latent, task_report
from synthetic.task_families import (
    MAX_TABLE_BITS,
    TASK_FAMILIES,
    CrossView,
    DegreeWeighted,
    Mixture,
    Parity,
    TaskFamily,
    Uniform,
    Walsh,
)

if TYPE_CHECKING:
    from synthetic.world import World, WorldSpec

__all__ = [
    "EVAL_CHUNK_ELEMENTS",
    "MAX_TABLE_BITS",
    "SIGN_TIE_TOL",
    "TARGETS",
    "TASK_FAMILIES",
    "CrossView",
    "DegreeWeighted",
    "Mixture",
    "Parity",
    "Polynomial",
    "TaskFamily",
    "TaskSet",
    "TaskSpec",
    "Uniform",
    "Walsh",
    "build_tasks",
    "check_polynomial",
    "replace_spec",
]

TARGETS = ("sign", "real")
# |p(z)| below this counts as a tie and maps to +1: exact zeros can come out as
# ±1e-17 depending on summation order, and the label must not depend on the BLAS.
SIGN_TIE_TOL = 1e-9
EVAL_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class TaskSpec:
    """A family of n proxy tasks of degree k with a Boolean ("sign") or real target.

    k is the degree of the random polynomial a task is drawn from; with target="sign"
    the task is its sign, whose exact degree in z can be higher or lower than k
    (`TaskSet.task_report()` gives it).

    allow_single_latent: families whose tasks are signs of random polynomials (walsh,
        degree_weighted, and those components of a mixture) redraw a task that comes
        out as a single latent ±z_j, since such a task hands a linear head its latent;
        n stays n and the draw stays deterministic from `seed`. True keeps the first
        draw as it is (the tasks of specs written before this option existed). Parity,
        uniform and cross_view tasks are never redrawn (parity with k = 1 is single
        latents by definition).
    basis: None (tasks are functions of z) or a recoding T of the cube, e.g.
        {kind: sparse_parity, weight: 2, seed: 1}: T(z)_i is the parity of `weight`
        latents (`synthetic.recodings.sparse_parity_recoding`, drawn from the basis
        seed alone). The family's tasks are then g(T(z)): drawn exactly as without a
        basis, evaluated on T(z). Redrawing then also replaces tasks equal to ±T_r(z).
    """

    family: str = "walsh"
    n: int = 64
    k: int = 2
    target: str = "sign"
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    allow_single_latent: bool = False
    basis: dict[str, Any] | None = None

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
        if not isinstance(self.allow_single_latent, bool):
            raise ValueError(
                f"TaskSpec.allow_single_latent must be true or false, got "
                f"{self.allow_single_latent!r}."
            )
        check_basis(self.basis, None)
        TASK_FAMILIES.get(self.family).check(self.n, self.k, dict(self.params), None)
        self._check_single_latent(None)

    def validate_for(self, world: WorldSpec | World | int) -> None:
        """Raise ValueError if this spec does not fit a world of the given d (k ≤ d, ...)."""
        d = world if _is_int(world) else world.d
        if self.k > d:
            raise ValueError(f"TaskSpec.k={self.k} exceeds the number of latents d={d}; use k ≤ d.")
        TASK_FAMILIES.get(self.family).check(self.n, self.k, dict(self.params), int(d))
        check_basis(self.basis, int(d))
        self._check_single_latent(int(d))

    def _check_single_latent(self, d: int | None) -> None:
        family = TASK_FAMILIES.get(self.family)
        if not self.allow_single_latent and family.always_single_latent(
            self.k, dict(self.params), d
        ):
            raise ValueError(
                f"TaskSpec: family {self.family!r} with k={self.k} and params {dict(self.params)} "
                "draws only single latents ±z_j (the sign of one term), and single-latent tasks "
                "are redrawn by default; use k ≥ 2 or more terms (walsh n_terms ≥ 2), or set "
                "allow_single_latent=true to keep them."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)


class TaskSet:
    """n tasks g_i(z) on d latents, evaluated together; built from a spec or polynomials.

    With a `recoding` A (the spec's `basis`) the blocks are functions of u = T(z),
    T(z)_i = Π_{j: A[i,j]=1} z_j, and every task is evaluated as g_i(T(z)); everything
    else (truth tables, degrees, reports) is then about g_i ∘ T as a function of z.
    """

    def __init__(
        self,
        d: int,
        target: str,
        blocks: list,
        order=None,
        spec: TaskSpec | None = None,
        recoding: np.ndarray | None = None,
    ):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}.")
        self.d, self.target, self.blocks, self.spec = int(d), target, list(blocks), spec
        self.recoding = None if recoding is None else check_recoding(recoding, self.d)
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
        if isinstance(block, tuple):  # a mixture tags its blocks with their families
            blocks, order = block
        else:
            block.family, block.family_params = spec.family, dict(spec.params)
            blocks, order = [block], None
        recoding = recoding_from_spec(spec.basis, world.d)
        tasks = cls(world.d, spec.target, blocks, order, spec=spec, recoding=recoding)
        if not spec.allow_single_latent:
            # Replacements come from the same generator, after the first draw.
            tasks = redraw_single_latent(tasks, spec.k, rng)
        return tasks

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
        """JSON-friendly interchange form (polynomials as [[subset, coef], ...] per task).

        A task set with a basis recoding adds "recoding": A as a list of 0/1 rows.
        """
        out = {
            "d": self.d,
            "target": self.target,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "blocks": [b.to_dict() for b in self.blocks],
            "order": self.order.tolist(),
        }
        if self.recoding is not None:
            out["recoding"] = self.recoding.astype(int).tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSet:
        """Inverse of to_dict; validates indices and shapes."""
        unknown = set(data) - {"d", "target", "spec", "blocks", "order", "recoding"}
        if unknown:
            raise ValueError(
                f"Unknown key {sorted(unknown)[0]!r} in a TaskSet dict. "
                "Known keys: d, target, spec, blocks, order, recoding"
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
        recoding = data.get("recoding")
        recoding = None if recoding is None else np.asarray(recoding)
        return cls(
            d, data.get("target", "sign"), blocks, data.get("order"), spec=spec, recoding=recoding
        )

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
            if self.recoding is not None:
                zc = apply_recoding(zc, self.recoding)  # the blocks are functions of T(z)
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
        scores whose sign is the label (the label's own degree can be higher or lower;
        `task_report()` gives it). Other tasks, and every task of a set with a basis
        recoding (whose stored polynomials are in T(z), not z), are expanded from their
        truth tables in z.
        """
        if self.recoding is None and all(b.kind == "polynomial" for b in self.blocks):
            flat = [p for b in self.blocks for p in b.polys]
            return [dict(flat[j]) for j in self.order]
        if self.d > 16:
            return None
        return polynomials_of(self.truth_tables())

    # ---- what the tasks are

    def task_report(self) -> list[dict[str, Any]]:
        """Per task, what it is exactly, as a function of z (`synthetic.task_checks`).

        One dict per task with keys
          task: its index;
          degree_z: exact Fourier–Walsh degree in z (None if it cannot be computed exactly:
            d > 20 and a task depending on more than 20 latents, unless it is a real-valued
            polynomial, whose degree in z is read off it);
          single_latent: j if the task equals ±z_j, else None;
          sign: +1 / -1 for z_j / -z_j, None if not a single latent;
          below_k: degree_z < the spec's k (False without a spec or a known degree);
          basis_coordinate: r if the task equals ±T_r(z) for the basis recoding, else None;
          checked: False when d > 20 and the task could not be analysed exactly.
        Vectorised over the cube for d ≤ 16.
        """
        return task_report(self)

    def latents_equal_to_tasks(self) -> list[int]:
        """Sorted indices j of the latents that some task equals up to sign (±z_j)."""
        return latents_equal_to_tasks(self.task_report())

    def basis_recoding(self) -> np.ndarray | None:
        """The (d, d) 0/1 matrix A of the basis recoding T the tasks are drawn in, or None."""
        return None if self.recoding is None else self.recoding.copy()


def build_tasks(spec: TaskSpec, world: World) -> TaskSet:
    """Alias of TaskSet.from_spec."""
    return TaskSet.from_spec(spec, world)


def replace_spec(spec: TaskSpec, **changes: Any) -> TaskSpec:
    """A validated copy of a TaskSpec with some fields changed."""
    return dataclasses.replace(spec, **changes)
