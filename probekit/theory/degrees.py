"""Exact Fourier–Walsh degrees of a task set in z and in x = ψ(z), wherever they can be computed.

`task_degrees(world, tasks, inv, whole_cube_d)` returns per task deg(g_i) in z, its level
weights in z, and deg(h_i) in x for h_i = g_i ∘ ψ⁻¹ (None when unknown), with a phrase
saying how each was obtained:

- d ≤ whole_cube_d: truth tables over the whole cube and one Walsh transform each
  (chunked so that d = 20 stays within memory).
- Larger d, in z: a real-valued polynomial task is read off its coefficients (through the
  basis recoding when there is one); a sign task that depends on at most
  `MAX_LOCAL_BITS` latents is transformed on the sub-cube of those latents (its
  coefficients there are its global ones). Other tasks: unknown.
- Larger d, in x: when ψ⁻¹ is GF(2)-affine, z_j = s_j χ_{B_j}(x) turns each character
  χ_S(z) into ±χ_{⊕_{j∈S} B_j}(x), distinct S into distinct masks (B is invertible), so
  deg_x h = max over S with ĝ(S) ≠ 0 of |⊕_{j∈S} B_j|, exactly, at any d. Otherwise, when
  the x bits the task's latents depend on (`Inverse.deps`) number at most
  `MAX_LOCAL_BITS`, h is transformed on that sub-cube. Other tasks: unknown.

For m > d every degree in x is taken on the first d observed bits, as in
`synthetic.task_degrees.tables_in_x`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from probekit.theory.inverse import MAX_LOCAL_BITS, Inverse
from synthetic.bits import cube, mask_degrees, to_index
from synthetic.fourier import coefficients, degree
from synthetic.recodings import apply_recoding
from synthetic.task_checks import subset

if TYPE_CHECKING:
    from synthetic.tasks import TaskSet
    from synthetic.world import World

CHUNK_ELEMENTS = 1 << 22
TOL = 1e-9
_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


@dataclass
class TaskDegrees:
    """Per-task degrees (None: unknown) and how they were computed."""

    degree_z: list[int | None]
    degree_x: list[int | None]
    levels_z: list[np.ndarray | None]  # (d + 1,) level weights W^k of g_i in z
    method_z: str
    method_x: str

    @property
    def all_known(self) -> bool:
        return None not in self.degree_z and None not in self.degree_x


def task_degrees(world: World, tasks: TaskSet, inv: Inverse, whole_cube_d: int) -> TaskDegrees:
    """Degrees of every task of `tasks` in z and in x (see the module docstring)."""
    if tasks.d != world.d:
        raise ValueError(f"Tasks are over d={tasks.d} latents but the world has d={world.d}.")
    if world.d <= whole_cube_d:
        return _whole_cube(world, tasks)
    return _local(world, tasks, inv)


def _levels(c: np.ndarray, n_bits: int, degs: np.ndarray | None = None) -> np.ndarray:
    """Level weights (n_bits + 1,) of one coefficient vector; `degs` = |S| per entry."""
    degs = mask_degrees(n_bits) if degs is None else degs
    return np.bincount(degs, weights=c * c, minlength=n_bits + 1)[: n_bits + 1]


def _whole_cube(world: World, tasks: TaskSet) -> TaskDegrees:
    d = world.d
    idx = to_index(world.cube_x()[:, :d])  # h(ψ(z)) = g(z)
    degs = mask_degrees(d)
    deg_z, deg_x, levels = [], [], []
    step = max(1, CHUNK_ELEMENTS >> d)
    for lo in range(0, tasks.n, step):
        part = range(lo, min(tasks.n, lo + step))
        g = (tasks if len(part) == tasks.n else subset(tasks, part)).truth_tables()
        c = coefficients(g)
        deg_z += np.where(np.abs(c) > TOL, degs, 0).max(axis=1).tolist()
        levels += [_levels(row, d, degs) for row in c]
        del c
        h = np.empty_like(g)
        h[:, idx] = g
        deg_x += np.atleast_1d(degree(h, TOL)).tolist()
    how = f"exact: Walsh transform of every truth table over the whole cube (2^{d} points)"
    return TaskDegrees([int(v) for v in deg_z], [int(v) for v in deg_x], levels, how, how)


# ---------------------------------------------------------------- large d


def _locate(tasks: TaskSet) -> list[tuple[object, int]]:
    """(block, row in block) of every task, in task order."""
    cols = [(block, r) for block in tasks.blocks for r in range(block.n)]
    return [cols[int(j)] for j in tasks.order]


def _z_masks(tasks: TaskSet, poly: dict) -> tuple[np.ndarray, np.ndarray]:
    """A polynomial's monomials as 0/1 masks over z (d columns) and their coefficients."""
    items = [(s, c) for s, c in poly.items() if abs(c) > TOL]
    masks = np.zeros((len(items), tasks.d), dtype=np.uint8)
    for r, (s, _) in enumerate(items):
        if tasks.recoding is None:
            masks[r, list(s)] = 1
        elif s:
            masks[r] = np.bitwise_xor.reduce(tasks.recoding[list(s)], axis=0)
    return masks, np.array([c for _, c in items], dtype=np.float64)


def _values(tasks: TaskSet, i: int, block, row: int, z: np.ndarray) -> np.ndarray:
    """Task i on the rows of z, float64 (±1 labels are exact in evaluate's float32)."""
    if tasks.target == "real" and hasattr(block, "polys"):
        u = z if tasks.recoding is None else apply_recoding(z, tasks.recoding)
        out = np.zeros(z.shape[0])
        for s, c in block.polys[row].items():
            out += c * (np.prod(u[:, list(s)], axis=1, dtype=np.int8) if s else 1)
        return out
    return subset(tasks, [i]).evaluate(z)[:, 0].astype(np.float64)


def _xor_table(rows: np.ndarray) -> np.ndarray:
    """(2^s, w): entry M is the XOR of rows[k] over the set bits k of M (rows packed, (s, w))."""
    table = np.zeros((1, rows.shape[1]), dtype=np.uint8)
    for r in rows:
        table = np.concatenate([table, table ^ r])
    return table


def _local(world: World, tasks: TaskSet, inv: Inverse) -> TaskDegrees:
    d = world.d
    b_packed = None if inv.affine is None else np.packbits(inv.affine[0], axis=1)
    deg_z: list[int | None] = []
    deg_x: list[int | None] = []
    levels: list[np.ndarray | None] = []
    used_z, used_x = set(), set()
    for i, (block, row) in enumerate(_locate(tasks)):
        poly = block.polys[row] if hasattr(block, "polys") else None
        support = None
        if poly is not None:
            masks, coefs = _z_masks(tasks, poly)
            support = np.nonzero(masks.any(axis=0))[0].tolist()
        # In z: the monomials themselves (real targets), or the sub-cube of the support.
        sub = None  # (support, coefficients over its sub-cube)
        if poly is not None and tasks.target == "real":
            dz = int(masks.sum(axis=1).max(initial=0))
            lev = np.bincount(masks.sum(axis=1), weights=coefs**2, minlength=d + 1)
            used_z.add("exact: read off the polynomial's coefficients")
        elif support is not None and len(support) <= MAX_LOCAL_BITS:
            s = len(support)
            pts = np.ones((1 << s, d), dtype=np.int8)
            pts[:, support] = cube(s)
            c = coefficients(_values(tasks, i, block, row, pts))
            nz = np.abs(c) > TOL
            dz = int(np.where(nz, mask_degrees(s), 0).max())
            lev = np.zeros(d + 1)
            lev[: s + 1] = _levels(c, s)
            sub = (support, c)
            used_z.add(
                f"exact: Walsh transform on the sub-cube of each task's latents (≤ {MAX_LOCAL_BITS})"
            )
        else:
            dz, lev = None, None
            used_z.add(f"unknown for tasks on more than {MAX_LOCAL_BITS} latents (sign targets)")
        deg_z.append(dz)
        levels.append(lev)
        deg_x.append(
            _degree_x(world, tasks, inv, b_packed, i, block, row, poly, support, sub, used_x)
        )
    return TaskDegrees(deg_z, deg_x, levels, "; ".join(sorted(used_z)), "; ".join(sorted(used_x)))


def _degree_x(world, tasks, inv, b_packed, i, block, row, poly, support, sub, used) -> int | None:
    d = world.d
    if inv.affine is not None:
        b = inv.affine[0]
        if poly is not None and tasks.target == "real":
            masks, _ = _z_masks(tasks, poly)
            xm = (masks.astype(np.int64) @ b.astype(np.int64)) & 1
            used.add("exact: χ_S(z) = ±χ_{⊕ B_j}(x) with B the GF(2) form of ψ⁻¹")
            return int(xm.sum(axis=1).max(initial=0))
        if sub is not None:
            support, c = sub
            table = _xor_table(b_packed[support])  # x-mask of every sub-cube character
            pop = _POP8[table].sum(axis=1)
            used.add("exact: χ_S(z) = ±χ_{⊕ B_j}(x) with B the GF(2) form of ψ⁻¹")
            return int(np.where(np.abs(c) > TOL, pop, 0).max())
    elif support is not None and inv.deps is not None:
        bits = sorted({k for j in support for k in inv.deps[j]})
        if len(bits) <= MAX_LOCAL_BITS:
            x = np.ones((1 << len(bits), d), dtype=np.int8)
            x[:, bits] = cube(len(bits))
            vals = _values(tasks, i, block, row, world.psi.decode(x))
            used.add(
                f"exact: Walsh transform on the sub-cube of the x bits a task reaches (≤ {MAX_LOCAL_BITS})"
            )
            return int(degree(vals, TOL))
    used.add(
        f"unknown where ψ⁻¹ is not GF(2)-affine and a task reaches more than {MAX_LOCAL_BITS} x bits"
    )
    return None
