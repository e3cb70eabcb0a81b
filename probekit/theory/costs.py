"""The numbers of a prediction: per-task degrees and savings, pooled means, costs, n*.

`predictions.predict_specs` calls `pool` (the task set's savings and level weights, pooled
with resampled task sets when it has few tasks), `degree_fields` (per-task and per-latent
degrees, what is unknown and why) and `cost_fields` (the exact cube check, the total
saving against d², and the toolkit's rough threshold n*, flagged heuristic).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from probekit.theory.degrees import TaskDegrees, task_degrees
from probekit.theory.rules import THRESHOLD_GROUNDS
from probekit.theory.spectrum import classify_distribution, mixture_parts
from synthetic.tasks import TaskSet, TaskSpec

# ---------------------------------------------------------------- degrees


def _families(tasks: TaskSet) -> list[tuple[str, dict] | None]:
    cols = [block for block in tasks.blocks for _ in range(block.n)]
    out = []
    for j in tasks.order:
        block = cols[int(j)]
        name = getattr(block, "family", None)
        out.append(None if name is None else (name, dict(getattr(block, "family_params", {}))))
    return out


def _savings(deg: TaskDegrees) -> np.ndarray:
    return np.array(
        [b - a for a, b in zip(deg.degree_z, deg.degree_x, strict=True) if None not in (a, b)],
        dtype=np.float64,
    )


def pool(world, tasks, spec, inv, deg, max_exact_d, min_mean, resample) -> dict[str, Any]:
    """Savings and level weights of the task set, pooled with resampled sets when n is small."""
    savings, levels, families = [_savings(deg)], list(deg.levels_z), _families(tasks)
    source, seeds, count, seed = "task set", [], spec.n, spec.seed
    while spec.n < min_mean and count < resample:
        seed += 1
        other = TaskSet.from_spec(dataclasses.replace(spec, seed=seed), world)
        more = task_degrees(world, other, inv, max_exact_d)
        savings.append(_savings(more))
        levels += more.levels_z
        families += _families(other)
        seeds.append(seed)
        count += other.n
    if seeds:
        source = (
            f"task set pooled with {len(seeds)} resampled task sets (seeds {seeds[0]}..{seeds[-1]})"
        )
    return {
        "savings": np.concatenate(savings),
        "levels": levels,
        "families": families,
        "source": source,
    }


def _stats(values: list[int | None]) -> dict[str, Any] | None:
    a = np.array([v for v in values if v is not None], dtype=np.int64)
    if a.size == 0:
        return None
    return {
        "mean": float(a.mean()),
        "min": int(a.min()),
        "max": int(a.max()),
        "sum": int(a.sum()),
        "known": int(a.size),
    }


def degree_fields(d: int, deg, flags: list[dict], inv, latents: dict) -> dict[str, Any]:
    per_latent = latents["per_latent"]
    phi = [r["degree_x"] for r in per_latent]
    phi_known = None not in phi
    unknown = []
    if not phi_known:
        unknown.append(f"deg_x of z_j for {sum(v is None for v in phi)} latents")
    for side, values in (("z", deg.degree_z), ("x", deg.degree_x)):
        if None in values:
            unknown.append(f"deg_{side} of {sum(v is None for v in values)} of {len(values)} tasks")
    rows = []
    for i, (a, b) in enumerate(zip(deg.degree_z, deg.degree_x, strict=True)):
        rows.append(
            {
                "task": i,
                "degree_z": a,
                "degree_x": b,
                "saved": None if None in (a, b) else b - a,
                "single_latent": flags[i]["single_latent"],
            }
        )
    exact = not unknown
    return {
        "exact": exact,
        "exact_skipped_reason": None
        if exact
        else (
            "unknown: " + "; ".join(unknown) + " (beyond the whole cube, d > max_exact_d, and not "
            "reachable through a GF(2) form or a small sub-cube)"
        ),
        "degree_methods": {
            "tasks_z": deg.method_z,
            "tasks_x": deg.method_x,
            "psi_inverse": inv.kind,
            "input_decodable": sorted({r["test"] for r in per_latent}),
        },
        "per_task": rows,
        "degree_z": _stats(deg.degree_z),
        "degree_x": _stats(deg.degree_x),
        "psi_inverse_degree": {
            "sum": int(sum(phi)) if phi_known else None,
            "max": int(max(phi)) if phi_known else None,
            "per_coordinate": phi,
        },
        "input_decodable_latents": latents["decodable"],
        "input_linear_probe": {
            "mean_accuracy": latents["mean_accuracy"],
            "per_latent_accuracy": [r["accuracy"] for r in per_latent],
            "unknown": latents["unknown"],
        },
        "latents": {
            "d": d,
            "forced_by_tasks": sorted(
                {f["single_latent"] for f in flags if f["single_latent"] is not None}
            ),
            "decodable_from_input": latents["decodable"],
            "unchecked_tasks": sum(not f["checked"] for f in flags),
        },
    }


# ---------------------------------------------------------------- costs


def cost_fields(p: dict, deg, pool: dict, spec: TaskSpec) -> dict[str, Any]:
    d, n = p["d"], p["n"]
    phi_sum = p["psi_inverse_degree"]["sum"]
    saved = _savings(deg)
    known = deg.all_known
    check = None
    if known and phi_sum is not None:
        hier = int(phi_sum + p["degree_z"]["sum"])
        flat = int(p["degree_x"]["sum"])
        check = {
            "psi_inverse_degree_sum": int(phi_sum),
            "task_degree_z_sum": int(p["degree_z"]["sum"]),
            "hierarchical_total": hier,
            "flat_total": flat,
            "cheaper": "hierarchical" if hier < flat else ("flat" if flat < hier else "tie"),
        }
    savings, source, used = pool["savings"], pool["source"], pool["savings"].size
    if known:
        total = float(saved.sum())
    elif used:
        words = (
            "the 1 task whose degrees are" if used == 1 else f"the {used} tasks whose degrees are"
        )
        source = f"{words} known ({source}; an estimate)"
        total = float(savings.mean()) * n
    else:
        mean, source = _assumed_saving(spec, p["distribution"]["kind"], d)
        savings, total = np.array([mean]), mean * n
    mean_saving = float(savings.mean())
    ok = mean_saving > 0
    threshold = {
        "mean_saving_per_task": mean_saving,
        "source": source,
        "n_tasks_used": int(used),
        "n_star": math.ceil(d * d / mean_saving) if ok else None,
        "n_star_exact": math.ceil(phi_sum / mean_saving) if ok and phi_sum is not None else None,
        "heuristic": True,
        "rests_on": THRESHOLD_GROUNDS,
    }
    return {
        "total_saving": int(total) if known else total,
        "total_saving_exact": known,
        "saving_exceeds_d_squared": bool(total > d * d),
        "threshold": threshold,
        "cube_check": check,
    }


def _assumed_saving(spec: TaskSpec, kind: str, d: int) -> tuple[float, str]:
    """No degree known at all: the toolkit's assumption, stated as such."""
    if kind != "low_degree":
        return 0.0, "assumed (heuristic): tasks are already generic in z, so ψ saves ≈ 0 per task"
    eps = 1.0
    if spec.family == "mixture":
        eps = sum(
            w
            for name, w, sub in mixture_parts(dict(spec.params), d)
            if classify_distribution(name, spec.k, sub, d)[0] == "low_degree"
        )
    saving = eps * max(d - spec.k, 0)
    return saving, (
        f"assumed (heuristic): ψ scrambles a degree-{spec.k} task into a generic function of "
        f"x (degree ≈ d), saving ≈ {'ε·' if eps < 1 else ''}(d − k) = {saving:g}"
    )
