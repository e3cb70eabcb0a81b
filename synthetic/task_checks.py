"""What a task set's tasks are: exact degree in z, single latents, and their redraw.

A task that *is* a latent, g_i = ±z_j, forces a model with linear heads to represent
z_j linearly, which inflates recovery. `task_report` says, per task, its exact
Fourier–Walsh degree in z, whether it is a single latent (which one, which sign),
whether it is a single coordinate ±T_r(z) of the task set's basis recoding (when it
has one), and whether its degree is below the family's k. `redraw_single_latent`
replaces such tasks in the families that draw signs of random polynomials
(`TaskFamily.redraws_single_latent`), deterministically from the generator.

How it is computed, exactly in every case where it reports a value:

- d ≤ 16: every task's truth table over the whole cube, in chunks of tasks; a task is
  a single latent when its table equals ±(the table of z_j) (one matrix product with
  the d latent columns picks the candidate, a comparison confirms it).
- d > 16: a polynomial task depends only on the latents its monomials touch (through
  the recoding's rows when there is one), so the same checks run on the cube of those
  latents (at most 20 of them) with the other latents fixed; other tasks use the whole
  cube up to d = 20. Beyond that a task is unchecked (`checked` False): its degree is
  the polynomial's degree in z for a real-valued polynomial task, else None.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from synthetic.bits import cube
from synthetic.fourier import degree
from synthetic.recodings import apply_recoding
from synthetic.task_blocks import _Polys, _Table, _View
from synthetic.task_families import TASK_FAMILIES

# A synthetic.tasks.TaskSet; not imported, since synthetic.tasks imports this module.
TaskSet = Any

WHOLE_CUBE_BITS = 16
MAX_SUPPORT_BITS = 20
CHUNK_ELEMENTS = 1 << 22
MAX_REDRAW_ROUNDS = 100
TOL = 1e-9


def _locate(tasks: TaskSet) -> list[tuple[int, int]]:
    """(block index, row in block) of every task, in task order."""
    cols = [(b, r) for b, block in enumerate(tasks.blocks) for r in range(block.n)]
    return [cols[int(j)] for j in tasks.order]


def _rows_block(block, rows: list[int], d: int):
    """A block holding only `rows` of `block`, in that order."""
    if isinstance(block, _Polys):
        return _Polys([block.polys[r] for r in rows], d)
    if isinstance(block, _Table):
        return _Table(block.table[rows], d)
    if isinstance(block, _View):
        out = copy.copy(block)  # shares ψ₂
        out.bits = [block.bits[r] for r in rows]
        return out
    raise TypeError(f"Unknown task block {type(block).__name__}.")


def subset(tasks: TaskSet, indices) -> TaskSet:
    """The task set of tasks[indices] (same d, target and recoding), in that order."""
    where = _locate(tasks)
    by_block: dict[int, list[int]] = {}
    position = []  # (block, position among that block's picked rows) per picked task
    for i in indices:
        b, r = where[int(i)]
        rows = by_block.setdefault(b, [])
        position.append((b, len(rows)))
        rows.append(r)
    blocks, offsets, offset = [], {}, 0
    for b, rows in by_block.items():
        blocks.append(_rows_block(tasks.blocks[b], rows, tasks.d))
        offsets[b] = offset
        offset += len(rows)
    order = [offsets[b] + p for b, p in position]
    return type(tasks)(tasks.d, tasks.target, blocks, order, recoding=tasks.recoding)


def _support(tasks: TaskSet, block, row: int) -> list[int] | None:
    """The latents a task can depend on, or None when that is every latent."""
    if not isinstance(block, _Polys):
        return None
    used = sorted({i for s in block.polys[row] for i in s})
    if tasks.recoding is None:
        return used
    if not used:
        return []
    return np.nonzero(tasks.recoding[used].any(axis=0))[0].tolist()


def _match(tables: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per table row, the column it equals up to sign (index, ±1) or (-1, 0)."""
    n = tables.shape[0]
    if columns.shape[0] == 0:
        return np.full(n, -1), np.zeros(n, dtype=np.int64)
    corr = tables @ columns.T  # (n, c)
    best = np.argmax(np.abs(corr), axis=1)
    sign = np.where(corr[np.arange(n), best] >= 0, 1, -1)
    equal = np.max(np.abs(tables - sign[:, None] * columns[best]), axis=1) <= TOL
    return np.where(equal, best, -1), np.where(equal, sign, 0)


def _analyse(
    tables: np.ndarray, support: list[int], recoding, degrees: bool = True
) -> list[dict[str, Any]]:
    """Degree and matches of tables over the cube of `support` (the other latents fixed)."""
    s = len(support)
    points = cube(s).astype(np.float64)  # z restricted to the support, index order
    if degrees and s:
        degs = np.atleast_1d(degree(tables, TOL))
    else:
        degs = np.zeros(len(tables), dtype=np.int64)
    lat, lat_sign = _match(tables, points.T)
    basis, basis_sign = np.full(len(tables), -1), np.zeros(len(tables), dtype=np.int64)
    if recoding is not None:
        inside = [
            r for r in range(recoding.shape[0]) if set(np.nonzero(recoding[r])[0]) <= set(support)
        ]
        if inside:
            sub = recoding[np.ix_(inside, support)]
            t_cols = apply_recoding(points.astype(np.int8), sub).T.astype(np.float64)
            found, basis_sign = _match(tables, t_cols)
            basis = np.where(found >= 0, np.asarray(inside)[np.maximum(found, 0)], -1)
    return [
        {
            "degree_z": int(degs[i]) if degrees else None,
            "single_latent": int(support[lat[i]]) if lat[i] >= 0 else None,
            "sign": int(lat_sign[i]) if lat[i] >= 0 else None,
            "basis_coordinate": int(basis[i]) if basis[i] >= 0 else None,
            "checked": True,
        }
        for i in range(len(tables))
    ]


def _points(d: int, support: list[int]) -> np.ndarray:
    z = np.ones((1 << len(support), d), dtype=np.int8)
    z[:, support] = cube(len(support))
    return z


def _poly_degree_z(poly: dict, recoding) -> int:
    """Degree in z of a real polynomial in u = T(z) (χ_S(u) is the character of ⊕ rows)."""
    degs = [0]
    for s, c in poly.items():
        if abs(c) <= TOL:
            continue
        if recoding is None:
            degs.append(len(s))
        else:
            mask = np.bitwise_xor.reduce(recoding[list(s)], axis=0) if s else 0
            degs.append(int(np.sum(mask)))
    return max(degs)


def _unchecked(tasks: TaskSet, block, row: int) -> dict[str, Any]:
    deg = None
    if tasks.target == "real" and isinstance(block, _Polys):
        deg = _poly_degree_z(block.polys[row], tasks.recoding)
    return {
        "degree_z": deg,
        "single_latent": None,
        "sign": None,
        "basis_coordinate": None,
        "checked": False,
    }


def analyse_tasks(tasks: TaskSet, degrees: bool = True) -> list[dict[str, Any]]:
    """Per task: degree_z, single_latent, sign, basis_coordinate, checked (see module doc).

    degrees=False skips the Fourier transform (degree_z is then None): the redraw only
    needs the comparisons.
    """
    d = tasks.d
    out: list[dict[str, Any] | None] = [None] * tasks.n
    if d <= WHOLE_CUBE_BITS:
        step = max(1, CHUNK_ELEMENTS >> d)
        full = list(range(d))
        for lo in range(0, tasks.n, step):
            idx = list(range(lo, min(tasks.n, lo + step)))
            part = tasks if len(idx) == tasks.n else subset(tasks, idx)
            rows = _analyse(part.truth_tables(), full, tasks.recoding, degrees)
            for i, row in zip(idx, rows, strict=True):
                out[i] = row
        return out  # type: ignore[return-value]
    where = _locate(tasks)
    for i, (b, r) in enumerate(where):
        block = tasks.blocks[b]
        support = _support(tasks, block, r)
        if support is None and d <= MAX_SUPPORT_BITS:
            support = list(range(d))
        if support is None or len(support) > MAX_SUPPORT_BITS:
            out[i] = _unchecked(tasks, block, r)
            continue
        one = subset(tasks, [i])
        table = one.evaluate(_points(d, support)).astype(np.float64).T  # (1, 2^s)
        out[i] = _analyse(table, support, tasks.recoding, degrees)[0]
    return out  # type: ignore[return-value]


def task_report(tasks: TaskSet) -> list[dict[str, Any]]:
    """`TaskSet.task_report()`: one dict per task (keys in the TaskSet docstring)."""
    k = None if tasks.spec is None else tasks.spec.k
    rows = []
    for i, row in enumerate(analyse_tasks(tasks)):
        deg = row["degree_z"]
        rows.append(
            {
                "task": i,
                "degree_z": deg,
                "single_latent": row["single_latent"],
                "sign": row["sign"],
                "below_k": bool(k is not None and deg is not None and deg < k),
                "basis_coordinate": row["basis_coordinate"],
                "checked": row["checked"],
            }
        )
    return rows


def _hands_out(row: dict[str, Any]) -> bool:
    return row["single_latent"] is not None or row["basis_coordinate"] is not None


def redraw_single_latent(tasks: TaskSet, k: int, rng: np.random.Generator) -> TaskSet:
    """Replace every redrawable task that is ±z_j (or ±T_r(z)) by a fresh draw.

    Only tasks of polynomial blocks tagged with a family whose `redraws_single_latent`
    is set are redrawn, each from its own family and params with `draw(1, ...)` and the
    same generator, in rounds: every round draws one replacement per still-flagged task,
    in task order. Other tasks are left exactly as drawn. After MAX_REDRAW_ROUNDS rounds
    a ValueError says which family could not produce enough non-single-latent tasks.
    """
    where = _locate(tasks)

    def redrawable(i: int) -> bool:
        block = tasks.blocks[where[i][0]]
        name = getattr(block, "family", None)
        return (
            isinstance(block, _Polys)
            and name is not None
            and TASK_FAMILIES.get(name).redraws_single_latent
        )

    candidates = [i for i in range(tasks.n) if redrawable(i)]
    if not candidates:
        return tasks
    rows = analyse_tasks(subset(tasks, candidates), degrees=False)
    flagged = [i for i, row in zip(candidates, rows, strict=True) if _hands_out(row)]
    if not flagged:
        return tasks
    polys = {
        b: list(block.polys) for b, block in enumerate(tasks.blocks) if isinstance(block, _Polys)
    }
    for _ in range(MAX_REDRAW_ROUNDS):
        fresh = []
        for i in flagged:
            block = tasks.blocks[where[i][0]]
            family = TASK_FAMILIES.get(block.family)
            fresh.append(family.draw(1, k, tasks.d, dict(block.family_params), rng).polys[0])
        trial = type(tasks)(
            tasks.d, tasks.target, [_Polys(fresh, tasks.d)], recoding=tasks.recoding
        )
        still = []
        for i, poly, row in zip(flagged, fresh, analyse_tasks(trial, degrees=False), strict=True):
            if _hands_out(row):
                still.append(i)
            else:
                b, r = where[i]
                polys[b][r] = poly
        flagged = still
        if not flagged:
            break
    if flagged:
        block = tasks.blocks[where[flagged[0]][0]]
        raise ValueError(
            f"Could not draw {len(flagged)} of the {tasks.n} tasks as anything but a single "
            f"latent ±z_j{' or basis coordinate ±T_r(z)' if tasks.recoding is not None else ''} "
            f"after {MAX_REDRAW_ROUNDS} redraws each (family {block.family!r}, k={k}, params "
            f"{dict(block.family_params)}): these settings (almost) only give single latents. "
            "Raise k or the number of terms, or set tasks.allow_single_latent=true to keep them."
        )
    blocks = []
    for b, block in enumerate(tasks.blocks):
        if b in polys:
            new = _Polys(polys[b], tasks.d)
            for attr in ("family", "family_params"):
                if hasattr(block, attr):
                    setattr(new, attr, getattr(block, attr))
            block = new
        blocks.append(block)
    return type(tasks)(
        tasks.d, tasks.target, blocks, tasks.order, spec=tasks.spec, recoding=tasks.recoding
    )


def latents_equal_to_tasks(report: list[dict[str, Any]]) -> list[int]:
    """Sorted latent indices that some task of a task report equals up to sign."""
    return sorted({r["single_latent"] for r in report if r["single_latent"] is not None})


__all__ = [
    "analyse_tasks",
    "latents_equal_to_tasks",
    "redraw_single_latent",
    "subset",
    "task_report",
]
