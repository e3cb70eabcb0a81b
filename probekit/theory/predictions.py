"""What the theory predicts for a world and a task set (docs/theory.md §3), with the numbers.

`predict(cfg)` computes, exactly wherever it can (`probekit.theory.degrees`,
`probekit.theory.inverse`), and says where it cannot:

- per task, deg(g_i) in z, deg(h_i) in x (h_i = g_i ∘ ψ⁻¹) and the degree saved
  deg(h_i | ψ⁻¹) = deg(h_i) − deg(g_i) (ψ⁻¹ is a bijection, so g_i is unique): on the
  whole cube up to d = `max_exact_d` (20), beyond it through the GF(2) form of ψ⁻¹
  (gf2_linear, signed permutations, NOT/CNOT circuits: any d) or on the sub-cube of the
  bits a task reaches (shallow circuits); otherwise unknown;
- per latent, deg(z_j) in x and whether a linear probe on the raw input reads it
  (`input_decodable`, `input_decodable_latents`);
- which latents some task equals as ±z_j (`latents.forced_by_tasks`);
- the task distribution against uniform: result 4 needs more weight than uniform on low
  degree in z (`probekit.theory.spectrum`); `recoded` when the tasks are drawn in a basis
  T(z) of parities (`tasks.basis`); `uniform` (result 3);
- the exact cost check: hierarchical deg(ψ⁻¹) + Σ deg(g_i) against flat Σ deg(h_i), and
  the total saving against d² (result 2);
- the toolkit's rough threshold n* ≈ d² / (mean degree saved per task) (heuristic);
- `rules` (each with `rests_on` and `heuristic`) and `expected_recovery` in
  {"yes", "no", "not_singled_out"} with its reason, `theory_result` and
  `expected_recovery_detail` ("partial: k of d latents forced; …").

For m > d, degrees in x are taken as functions of the first d observed bits, which
determine z; they are upper bounds on what a learner using the redundant bits could reach.

`write_prediction(run_dir, cfg)` stores the prediction beside a run as prediction.json,
once; `read_prediction(run_dir)` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probekit.theory.costs import cost_fields, degree_fields, pool
from probekit.theory.degrees import task_degrees
from probekit.theory.inverse import analyse_inverse, latent_report
from probekit.theory.rules import decide
from probekit.theory.spectrum import classify_distribution, compare_to_uniform, mixture_parts
from synthetic.config import write_atomic
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec

if TYPE_CHECKING:
    from probekit.config import ExperimentConfig

__all__ = [
    "EXPECTED",
    "MAX_EXACT_D",
    "PREDICTION_FILE",
    "classify_distribution",
    "mixture_parts",
    "predict",
    "predict_specs",
    "read_prediction",
    "write_prediction",
]

# Largest d whose whole cube is enumerated; beyond it degrees are computed locally.
MAX_EXACT_D = 20
# Below this many tasks the set's own mean saving is too noisy for n*: pool it with
# tasks drawn from the same spec under other seeds, up to RESAMPLE_TASKS tasks.
MIN_TASKS_FOR_MEAN = 32
RESAMPLE_TASKS = 64
PREDICTION_FILE = "prediction.json"

EXPECTED = ("yes", "no", "not_singled_out")


def predict(cfg: ExperimentConfig, **kwargs: Any) -> dict[str, Any]:
    """The theory's prediction for cfg.world and cfg.tasks (see `predict_specs`)."""
    return predict_specs(cfg.world, cfg.tasks, **kwargs)


def predict_specs(
    world_spec: WorldSpec,
    task_spec: TaskSpec,
    *,
    max_exact_d: int = MAX_EXACT_D,
    min_tasks_for_mean: int = MIN_TASKS_FOR_MEAN,
    resample_tasks: int = RESAMPLE_TASKS,
) -> dict[str, Any]:
    """The theory's prediction for one world and one task spec, as a JSON-ready dict."""
    if not isinstance(world_spec, WorldSpec) or not isinstance(task_spec, TaskSpec):
        raise TypeError(
            "predict_specs needs a WorldSpec and a TaskSpec, got "
            f"{type(world_spec).__name__} and {type(task_spec).__name__}."
        )
    d, n = world_spec.d, task_spec.n
    task_spec.validate_for(d)
    world = World(world_spec)
    tasks = TaskSet.from_spec(task_spec, world)
    inv = analyse_inverse(world)
    latents = latent_report(world, inv, whole_cube_d=max_exact_d)
    deg = task_degrees(world, tasks, inv, max_exact_d)
    flags = tasks.task_report()
    pooled = pool(
        world, tasks, task_spec, inv, deg, max_exact_d, min_tasks_for_mean, resample_tasks
    )
    spectrum = compare_to_uniform(
        pooled["levels"], pooled["families"], task_spec.family, task_spec.k, task_spec.params, d
    )
    out: dict[str, Any] = {
        "world": world_spec.to_dict(),
        "tasks": task_spec.to_dict(),
        "d": d,
        "m": world_spec.n_observed,
        "n": n,
        "target": task_spec.target,
        "d_squared": d * d,
        "distribution": _distribution(task_spec, d, spectrum),
        "notes": _notes(world_spec, d),
    }
    out.update(degree_fields(d, deg, flags, inv, latents))
    out.update(cost_fields(out, deg, pooled, task_spec))
    out.update(decide(out))
    return out


def _notes(world_spec: WorldSpec, d: int) -> list[str]:
    notes = []
    if world_spec.n_observed > d:
        notes.append(
            f"m = {world_spec.n_observed} > d = {d}: degrees in x are computed on the first d "
            "observed bits, which determine z; the redundant bits could only lower them."
        )
    if world_spec.latent_bias is not None:
        notes.append(
            "z is not uniform (latent_bias): degrees do not depend on the measure, but "
            "results 3 and 4 are stated for uniform z."
        )
    notes.append(
        "deg ψ⁻¹ is reported as the sum and the max of its coordinate degrees; the cube "
        "check and the d² bound use the sum."
    )
    return notes


# ---------------------------------------------------------------- distribution


def _distribution(spec: TaskSpec, d: int, spectrum: dict) -> dict[str, Any]:
    """kind ('recoded', 'uniform', 'low_degree', 'other'), reason, nominal kind, spectrum."""
    nominal, why = classify_distribution(spec.family, spec.k, dict(spec.params), d)
    verdict = spectrum["verdict"]
    if nominal == "uniform":
        kind, reason = "uniform", why
    elif spectrum["mean_level"] == 0:
        kind, reason = "other", "every task is constant in z and carries no information"
    elif verdict == "unknown":
        kind, reason = nominal, f"{why} (the drawn tasks' levels are unknown: nominal profile)"
    else:
        mean, half = spectrum["mean_level"], spectrum["uniform_mean_level"]
        words = {
            "favours_low_degree": "more weight than uniform on low degree",
            "favours_high_degree": "more weight than uniform on HIGH degree",
            "same_as_uniform": "the same weight as uniform",
            "not_distinguishable_from_uniform": "no weight on low degree distinguishable from uniform",
        }[verdict]
        kind = "low_degree" if verdict == "favours_low_degree" else "other"
        reason = (
            f"{spec.family} tasks (k = {spec.k}) put {words} in z: mean level "
            f"{mean:.3g} ± {spectrum['standard_error']:.2g} vs d/2 = {half:g} for uniform"
        )
        if "nominal" in spectrum["source"]:
            reason += f" ({spectrum['source']}; heuristic)"
    basis = spec.basis
    if basis is not None and int(basis.get("weight", 2)) >= 2:
        # Tasks drawn as g(T(z)): their simplicity is in T(z), not z (result 4 read the
        # other way; result 5 for a basis the learner does not choose).
        reason = (
            f"{reason}, drawn as functions of a recoding T(z) ({basis.get('kind')}, weight "
            f"{basis.get('weight', 2)}) instead of z: a low-degree preference in T(z) singles "
            "out T(z), whose coordinates are parities of several latents"
        )
        kind = "recoded"
    return {"kind": kind, "reason": reason, "nominal_kind": nominal, "spectrum": spectrum}


# ---------------------------------------------------------------- prediction.json


def _toolkit_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("probekit")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_prediction(run_dir: str | Path, cfg: ExperimentConfig) -> Path:
    """Write RUN/prediction.json (predict(cfg), the config, the toolkit version) once.

    The directory is created if needed and the file written atomically. An existing
    prediction.json is never rewritten: its path is returned when it was made from the
    same world and tasks, and a ValueError naming both is raised when it was not.
    """
    path = Path(run_dir) / PREDICTION_FILE
    config = cfg.to_dict()
    if path.exists():
        old = read_prediction(run_dir) or {}
        old_cfg = old.get("config") or {}
        mine = {k: config[k] for k in ("world", "tasks")}
        theirs = {k: old_cfg.get(k) for k in ("world", "tasks")}
        if _canonical(mine) != _canonical(theirs):
            raise ValueError(
                f"{path} was made from a different world/tasks config and is never rewritten "
                f"(existing: {_canonical(theirs)}; requested: {_canonical(mine)}). Use another "
                "run directory, or remove the file by hand if the run's config changed."
            )
        return path
    record = {"prediction": predict(cfg), "config": config, "toolkit_version": _toolkit_version()}
    path.parent.mkdir(parents=True, exist_ok=True)  # only once the prediction is made
    write_atomic(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def read_prediction(run_dir: str | Path) -> dict[str, Any] | None:
    """The record written by `write_prediction` ({prediction, config, toolkit_version}), or None."""
    path = Path(run_dir) / PREDICTION_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
