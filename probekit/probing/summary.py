"""Probe summary and results files: the per-site summary of a sweep and its written report.

`summarize` reduces the tidy rows of a `SweepResult` to mean accuracy per model, probe
and site on the primary family, on T(z) and on control tasks, with selectivity,
identification error, MCC and the best layer of the trained model; `write_report`
writes `results.jsonl`, `summary.json` and the PNG plots of a `ProbeReport`, each
atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probekit.probing.inputs import ProbeInputs
from probekit.probing.probe_sweep import SweepResult, _site_layer


def _mean(rows, **match) -> float | None:
    vals = [r["value"] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.mean(vals)) if vals else None


def summarize(sweep: SweepResult, inputs: ProbeInputs, probes: Sequence[str]) -> dict:
    """Per model, probe and site: mean accuracy on the primary family, on T(z), on control
    tasks, selectivity, identification error and MCC; and the best layer of the trained model."""
    primary = inputs.primary
    rows = [
        r for r in sweep.rows if r["metric"] in ("accuracy", "r2", "identification_error", "mcc")
    ]
    out: dict = {"primary_family": primary, "models": {}}
    for model in dict.fromkeys(r["model"] for r in rows):
        out["models"][model] = {}
        for probe in probes:
            per_site = {}
            for site in dict.fromkeys(r["site"] for r in rows if r["model"] == model):
                sel = [
                    r
                    for r in rows
                    if r["model"] == model and r["probe"] == probe and r["site"] == site
                ]
                if not sel:
                    continue
                scores = [r for r in sel if r["metric"] in ("accuracy", "r2")]
                entry = {"layer": _site_layer(site)}
                for fam in inputs.families:
                    entry[f"acc_{fam}"] = _mean(scores, target_family=fam)
                entry["selectivity"] = (
                    None
                    if entry.get("acc_control_task") is None
                    else entry[f"acc_{primary}"] - entry["acc_control_task"]
                )
                for metric in ("identification_error", "mcc"):
                    entry[metric] = _mean(sel, target_family="z", metric=metric)
                per_site[site] = {k: v for k, v in entry.items() if v is not None}
            if per_site:
                out["models"][model][probe] = per_site
    trained = out["models"].get("trained", {})
    out["best_layer"] = {}
    for probe, per_site in trained.items():
        site = max(per_site, key=lambda s: (per_site[s][f"acc_{primary}"], -per_site[s]["layer"]))
        best = {"site": site, **per_site[site]}
        for control in ("random_init", "input"):
            other = out["models"].get(control, {}).get(probe, {})
            at = other.get(site) or next(iter(other.values()), None)
            if at is not None:
                best[f"{control}_acc_{primary}"] = at[f"acc_{primary}"]
        out["best_layer"][probe] = best
    return out


@dataclass
class ProbeReport:
    """The outcome of `probe_checkpoint`: tidy rows, the summary and where they were written."""

    rows: list[dict]
    summary: dict
    out: Path | None
    correlations: dict = field(default_factory=dict)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(report: ProbeReport, out: str | Path, probes: Sequence[str]) -> Path:
    """results.jsonl, summary.json and the PNG plots into `out`, each written atomically."""
    from probekit.probing import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in report.rows))
    _atomic_text(out / "summary.json", json.dumps(report.summary, indent=2))
    primary = report.summary["primary_family"]
    for probe in probes:
        plots.plot_layer_accuracy(
            report.summary, out / f"accuracy_{probe}.png", probe=probe, family=primary
        )
        best = report.summary["best_layer"].get(probe)
        matrix = best and report.correlations.get(("trained", best["site"], probe))
        if matrix is not None:
            plots.plot_correlation_matrix(
                matrix,
                out / f"correlation_{probe}.png",
                title=f"trained, {best['site']}, {probe} probe",
            )
    report.out = out
    return out
