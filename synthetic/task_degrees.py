"""Fourier–Walsh degrees of a world's tasks, in z and in x = ψ(z) (docs/theory.md §2, §3).

`fourier_report` is what `probekit fourier` prints: per-task degrees in z and in x,
level weights, single-latent and below-k flags (`TaskSet.task_report`), and the total
saving against d². The transforms themselves are `synthetic.fourier`, which knows
nothing of worlds or tasks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from synthetic.bits import to_index
from synthetic.fourier import degree, level_weights, vector_degree
from synthetic.task_families import TASK_FAMILIES

if TYPE_CHECKING:
    from synthetic.tasks import TaskSet
    from synthetic.world import World

MAX_REPORT_BITS = 20


def inverse_tables(world: World) -> np.ndarray:
    """Coordinates of ψ⁻¹ as functions of the first d observed bits, shape (d, 2^d).

    Row i, entry index(x) = z_i where x = ψ(z); ψ is a bijection of the d-cube so
    every x is covered.
    """
    _check_report_size(world.d)
    z = world.cube()
    x = world.cube_x()[:, : world.d]
    out = np.empty((world.d, z.shape[0]), dtype=np.float64)
    out[:, to_index(x)] = z.T
    return out


def tables_in_x(tasks: TaskSet, world: World) -> np.ndarray:
    """Truth tables (n, 2^d) of h_i = g_i ∘ ψ⁻¹ as functions of the first d observed bits.

    For m > d we analyse h as a function of x_1..x_d only: those bits already
    determine z (they are ψ(z)), and the extra bits are fixed functions of them,
    so this is the canonical table of h on the data. A learner that also used the
    redundant bits could sometimes realise h with lower degree in m variables, so
    for m > d the reported degree is an upper bound on that.
    """
    _check_report_size(world.d)
    if tasks.d != world.d:
        raise ValueError(f"Tasks are over d={tasks.d} latents but the world has d={world.d}.")
    g = tasks.truth_tables()
    x = world.cube_x()[:, : world.d]
    h = np.empty_like(g)
    h[:, to_index(x)] = g
    return h


def degree_in_x(tasks: TaskSet, world: World, tol: float = 1e-9) -> list[int]:
    """Per-task degree of g_i ∘ ψ⁻¹ (see `tables_in_x` for m > d)."""
    return np.atleast_1d(degree(tables_in_x(tasks, world), tol)).tolist()


def _check_report_size(d: int) -> None:
    if d > MAX_REPORT_BITS:
        raise ValueError(
            f"Exact Fourier analysis enumerates 2^d points and is limited to "
            f"d ≤ {MAX_REPORT_BITS}, got d={d}; analyse a smaller world."
        )


def fourier_report(world: World, tasks: TaskSet, tol: float = 1e-9) -> dict[str, Any]:
    """Per-task degrees in z and in x, level weights, flags, and the total saving against d².

    With Φ = ψ⁻¹ (a bijection, so g_i is unique) the saving of task i is
    deg(h_i) − deg(g_i) = deg(h_i | ψ⁻¹). docs/theory.md §3 result 2: when the total saving
    exceeds d², routing every task through the latents beats n flat realisations.
    For target='sign' the tables are the ±1 labels, not the scores, so a task's degree
    in z is that of the label, which can be above or below the family's k.

    Per task also `single_latent` / `sign` (the task is sign·z_j), `below_k` (degree in
    z below the spec's k) and `basis_coordinate` (the task is ±T_r(z) for the task set's
    basis recoding); the counts are `n_single_latent`, `latents_equal_to_tasks`,
    `n_below_k` and `n_basis_coordinate`, beside the family's one-line `task_summary`.
    """
    _check_report_size(world.d)
    g = tasks.truth_tables()
    h = tables_in_x(tasks, world)
    deg_z = np.atleast_1d(degree(g, tol))
    deg_x = np.atleast_1d(degree(h, tol))
    w_z = level_weights(g)
    w_x = level_weights(h)
    phi = vector_degree(inverse_tables(world), tol)
    flags = tasks.task_report()
    saving = deg_x - deg_z
    d2 = world.d**2
    per_task = [
        {
            "task": i,
            "degree_z": int(deg_z[i]),
            "degree_x": int(deg_x[i]),
            "saving": int(saving[i]),
            "level_weights_z": [float(v) for v in w_z[i]],
            "level_weights_x": [float(v) for v in w_x[i]],
            "single_latent": flags[i]["single_latent"],
            "sign": flags[i]["sign"],
            "below_k": flags[i]["below_k"],
            "basis_coordinate": flags[i]["basis_coordinate"],
        }
        for i in range(tasks.n)
    ]
    total_saving = int(saving.sum())
    return {
        "d": int(world.d),
        "m": int(world.m),
        "n_tasks": int(tasks.n),
        "observation": world.spec.observation,
        "target": tasks.target,
        "family": None if tasks.spec is None else tasks.spec.family,
        "k": None if tasks.spec is None else int(tasks.spec.k),
        "task_summary": _summary(tasks),
        "basis": None if tasks.spec is None else tasks.spec.basis,
        "n_single_latent": sum(f["single_latent"] is not None for f in flags),
        "latents_equal_to_tasks": sorted(
            {f["single_latent"] for f in flags if f["single_latent"] is not None}
        ),
        "n_below_k": sum(bool(f["below_k"]) for f in flags),
        "n_basis_coordinate": sum(f["basis_coordinate"] is not None for f in flags),
        "psi_inverse_degree": phi,
        "sum_degree_z": int(deg_z.sum()),
        "sum_degree_x": int(deg_x.sum()),
        "mean_degree_z": float(deg_z.mean()),
        "mean_degree_x": float(deg_x.mean()),
        "total_saving": total_saving,
        "d_squared": int(d2),
        "saving_exceeds_d_squared": bool(total_saving > d2),
        "flat_cost": int(deg_x.sum()),
        "hierarchical_cost": int(phi["sum"] + deg_z.sum()),
        "tasks_needed_estimate": (
            None if saving.mean() <= 0 else float(math.ceil(d2 / float(saving.mean())))
        ),
        "tasks": per_task,
    }


def _summary(tasks: TaskSet) -> str | None:
    """What a task of the set's family is, in one line (None without a spec)."""
    if tasks.spec is None:
        return None
    text = TASK_FAMILIES.get(tasks.spec.family).summary or tasks.spec.family
    if tasks.spec.basis is not None:
        text += ", as a function of the recoding T(z) instead of z"
    return text
