"""The results of a sweep directory: each point's status and metrics, and the tables of them.

One concept: reading what the runs of a sweep left behind. `point_status` tells a
point's progress from its directory, `point_metrics` reads one finished point (last
evaluation, best probe layer, the theory's prediction and the verdict),
`write_results` rebuilds `SWEEP/results.jsonl` (one row per point × seed × metric) from
the point directories, and `summary_table` condenses it to a Markdown line per grid point,
its seeds pooled (`probekit.sweeps.aggregate`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from probekit.config import ExperimentConfig
from probekit.sweeps.aggregate import aggregate_rows, format_metric
from probekit.sweeps.spec import Point, SweepSpec
from probekit.training.run_dir import atomic_write_text, read_jsonl


def point_status(run_dir: Path, probe: bool) -> str:
    """'done', 'trained' (final/ but no probe yet), 'partial' (started) or 'new'."""
    if (run_dir / "final").is_dir():
        if not probe or (run_dir / "probe" / "summary.json").is_file():
            return "done"
        return "trained"
    if (run_dir / "config.yaml").exists():
        return "partial"
    return "new"


TRAIN_METRICS = {
    "final_step": "step",
    "task_acc": "eval_acc",
    "task_acc_heldout": "eval_acc_heldout",
    "eval_loss": "eval_loss",
    "probe_acc_z": "probe_acc_z",
    "probe_acc_alt_basis": "probe_acc_alt_basis",
    "identification_error": "identification_error",
    "mcc": "mcc",
}
PROBE_METRICS = (
    "layer",
    "acc_z",
    "acc_alt_basis",
    "acc_control_task",
    "selectivity",
    "identification_error_units",
    "mcc_units",
    "procrustes_corr",
    "rung",
    "acc_z_ci",
    "acc_z_min",
    "latents_recovered",
    "alt_latents_recovered",
    "n_test",
    "task_acc",
    "val_acc_z",
)


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN
    return value


def point_metrics(run_dir: Path, cfg: ExperimentConfig, cache: dict | None = None) -> dict:
    """{metric: value} of one finished point: last evaluation, best probe layer, theory, verdict.

    Text values (the probe's best site, the theory's and the verdict's reasons) are metrics
    of their own, so the table stays one row per point × metric with no ragged columns."""
    from probekit.theory.predictions import predict, read_prediction

    out: dict[str, Any] = {}
    last = (read_jsonl(run_dir / "metrics.jsonl") or [{}])[-1]
    for name, key in TRAIN_METRICS.items():
        if key in last:
            out[name] = _number(last[key])
    best = None
    summary_path = run_dir / "probe" / "summary.json"
    if summary_path.is_file():
        probes = json.loads(summary_path.read_text()).get("best_layer") or {}
        kind = "linear" if "linear" in probes else next(iter(probes), None)
        best = probes.get(kind) if kind else None
        if best:
            out["probe.kind"], out["probe.site"] = kind, best.get("site")
            out.update({f"probe.{m}": _number(best[m]) for m in PROBE_METRICS if m in best})
            for name, value in (best.get("controls") or {}).items():
                out[f"probe.controls.{name}"] = _number(value)
            # The same layer choice and numbers on the model's own training inputs.
            on_seen = (json.loads(summary_path.read_text()).get("seen") or {}).get("best_layer")
            seen = (on_seen or {}).get(kind) or {}
            for m in ("site", "acc_z", "acc_z_ci", "latents_recovered", "mcc_units", "rung"):
                if m in seen:
                    out[f"probe.seen.{m}"] = _number(seen[m])
    key = json.dumps([cfg.world.to_dict(), cfg.tasks.to_dict()], sort_keys=True, default=str)
    cache = {} if cache is None else cache
    saved = read_prediction(run_dir)  # written before training, never rewritten
    if saved:
        prediction = saved["prediction"]
    else:
        if key not in cache:
            cache[key] = predict(cfg)
        prediction = cache[key]
    threshold = prediction.get("threshold") or {}
    out["theory.expected_recovery"] = prediction["expected_recovery"]
    out["theory.reason"] = prediction.get("reason")
    out["theory.n_star"] = _number(threshold.get("n_star_exact") or threshold.get("n_star"))
    from probekit.theory.verdict import judge, measurement

    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    v = judge(prediction, measurement(summary), "" if summary else " (the point is not probed)")
    out["verdict"], out["verdict.agrees"], out["verdict.reason"] = (
        v["verdict"],
        v.get("agrees"),
        v["reason"],
    )
    if (summary or {}).get("scope") == "unseen":  # also judged on the model's training inputs
        seen = judge(prediction, measurement(summary, scope="seen"))
        out["verdict.seen"], out["verdict.seen.agrees"] = seen["verdict"], seen.get("agrees")
    return out


def write_results(
    spec: SweepSpec,
    out: Path,
    points: Sequence[Point],
    configs: Mapping[str, ExperimentConfig],
    *,
    failures: Mapping[str, str] | None = None,
    probe: bool | None = None,
    cache: dict | None = None,
) -> list[dict]:
    """Rebuild SWEEP/results.jsonl from the point directories (one row per point × metric).

    With `seeds:` every row has a `seed` column. A point that failed (in `failures`, or
    unfinished with an `error.txt` left by an earlier run) has status `failed` and an
    `error` row; a point missing from `configs` (not selected by --only) is configured only
    if it has finished."""
    failures = dict(failures or {})
    probe = spec.probe if probe is None else probe
    columns = list(dict.fromkeys(k for p in points for k in p.overrides))
    seeded = any(p.seed is not None for p in points)
    rows = []
    for point in points:
        run_dir = out / point.name
        status = point_status(run_dir, probe)
        if point.name not in failures and status != "done" and (run_dir / "error.txt").is_file():
            failures[point.name] = (run_dir / "error.txt").read_text().strip()
        status = "failed" if point.name in failures else status
        base = {"sweep": spec.name, "point": point.name}
        base.update({k: point.overrides.get(k) for k in columns})
        if seeded:
            base["seed"] = point.seed
        values: dict[str, Any] = {"status": status}
        if failures.get(point.name):
            values["error"] = failures[point.name]
        if (run_dir / "final").is_dir():
            cfg = configs.get(point.name) or spec.config(point)
            values.update(point_metrics(run_dir, cfg, cache))
        rows.extend({**base, "metric": m, "value": v} for m, v in values.items())
    atomic_write_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return rows


SUMMARY_COLUMNS = (
    "task_acc",
    "task_acc_heldout",
    "probe.acc_z",
    "probe.latents_recovered",
    "probe.acc_alt_basis",
    "probe.mcc_units",
    "probe.rung",
    "verdict",
    "verdict.agrees",
    "verdict.seen",
)


def summary_table(rows: Iterable[Mapping]) -> str:
    """A Markdown table, one line per grid point, of the headline numbers of a results table;
    with several seeds a number is `mean [lo, hi]` (Student's t 95 % over seeds) and a
    category the count of each value (`recovered ×2, partial ×1`)."""
    points = aggregate_rows(rows)
    several = any(p.n_seeds > 1 for p in points)
    metrics = ["status", *SUMMARY_COLUMNS]
    header = ["point", *(["seeds"] if several else []), *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in points:
        cells = [p.name, *([str(p.n_seeds)] if several else [])]
        cells += [format_metric(p.metrics.get(m), p.n_seeds) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
