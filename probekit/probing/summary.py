"""Probe summary and results files: the per-site summary of a sweep and its written report.

`summarize` reduces the tidy rows of a `SweepResult` to one entry per model, probe kind
and site: accuracy on every target family (mean and minimum over targets), the
docs/theory.md §6 numbers of the site's units and the identifiability ladder for z and
for the alternative basis T(z), selectivity, and the controls the numbers are compared
with; plus the best layer of the trained model. docs/probing.md documents every field.
For a text dataset (primary family `user`) every site entry also holds the accuracy of
each label and its interval, and every trained site each control's accuracy per label.
`write_report` writes `results.jsonl`, `summary.json`, the linear probes' weights
(`probes.safetensors`) and the PNG plots of a `ProbeReport`, each atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probekit.probing.inputs import ProbeInputs
from probekit.probing.intervals import (
    CONFIDENCE,
    latents_above_controls,
    mean_accuracy_interval,
    wilson_interval,
)
from probekit.probing.metrics import RUNG_THRESHOLD, ladder_rung
from probekit.probing.probe_sweep import UNIT_FAMILIES, SweepResult
from synthetic.config import write_atomic

SCORES = ("accuracy", "r2")
CONTROL_KEYS = ("random_init", "raw_input", "alt_basis", "control_task")


def _values(rows, **match) -> list[float]:
    return [r["value"] for r in rows if all(r[k] == v for k, v in match.items())]


def _site_entry(sel: list[dict], units: list[dict], inputs: ProbeInputs) -> dict:
    """One site of one model and probe kind on one split: accuracies, units' §6 numbers, ladder."""
    primary = inputs.primary
    entry: dict = {"layer": (sel or units)[0]["layer"]}
    for fam in inputs.families:
        vals = _values(sel, target_family=fam)
        if vals:
            entry[f"acc_{fam}"] = float(np.mean(vals))
            entry[f"acc_{fam}_min"] = float(np.min(vals))
    if primary != "z":  # labels are read one by one, not only as a mean
        for fam in (primary, "control_task"):
            per = {r["target"]: r["value"] for r in sel if r["target_family"] == fam}
            if per:
                entry[f"acc_{fam}_per_label"] = per
    if "z" in inputs.families and entry.get("acc_z") is not None:
        entry["acc_z_per_latent"] = [float(v) for v in _values(sel, target_family="z")]
        task_latents = set(inputs.meta.get("task_latents") or [])
        if task_latents:  # latents some task equals: a linear head forces those
            per = entry["acc_z_per_latent"]
            entry["acc_z_task_latents"] = float(np.mean([per[i] for i in sorted(task_latents)]))
            rest = [v for i, v in enumerate(per) if i not in task_latents]
            entry["acc_z_other_latents"] = float(np.mean(rest)) if rest else None
    for fam in UNIT_FAMILIES:
        found = {r["metric"]: r["value"] for r in units if r["target_family"] == fam}
        if not found:
            continue
        ladder = {
            "mcc_units": found["mcc"],
            "identification_error_units": found["identification_error"],
            "procrustes_corr": found["procrustes_corr"],
        }
        ladder["rung"] = ladder_rung(
            ladder["mcc_units"], ladder["procrustes_corr"], entry.get(f"acc_{fam}")
        )
        if fam == "z":
            entry.update(ladder)
        else:
            entry[f"{fam}_ladder"] = ladder
    control = entry.get("acc_control_task")
    entry["selectivity"] = None if control is None else entry[f"acc_{primary}"] - control
    return {k: v for k, v in entry.items() if v is not None}


def _intervals(sweep: SweepResult, key: tuple, rng: np.random.Generator) -> dict:
    """Per-target Wilson intervals and the bootstrap interval of the mean, from correctness."""
    hits = sweep.correct.get(key)
    if hits is None or not len(hits):
        return {}
    lo, hi = wilson_interval(hits.sum(axis=0), len(hits))
    mean_lo, mean_hi = mean_accuracy_interval(hits, rng)
    return {"ci": [mean_lo, mean_hi], "per_target_ci": np.stack([lo, hi], axis=1).tolist()}


def summarize(
    sweep: SweepResult,
    inputs: ProbeInputs,
    probes: Sequence[str],
    *,
    seed: int = 0,
    task_metrics: dict | None = None,
) -> dict:
    """Per model, probe kind and site: accuracies with intervals, units' §6 numbers, ladder,
    controls and latents recovered, on the reported split; the best layer chosen on validation.

    The headline scope is `unseen` (inputs the model never trained on) when the checkpoint
    held inputs out of training; the same summary on the model's own training inputs
    (held out from the probe) is then under `seen`.
    """
    task_metrics = task_metrics or {}
    out: dict = {
        "primary_family": inputs.primary,
        "confidence": CONFIDENCE,
        "rung_threshold": RUNG_THRESHOLD,
        "task_acc_heldout": task_metrics.get("eval_acc_heldout"),
        "task_acc_seen": task_metrics.get("eval_acc"),
    }
    out.update(_scope_summary(sweep, inputs, probes, sweep.scope, seed, task_metrics))
    if sweep.scope == "unseen" and len(sweep.splits.get("test_seen", ())):
        out["seen"] = _scope_summary(sweep, inputs, probes, "seen", seed, task_metrics)
    return out


def _scope_summary(
    sweep: SweepResult,
    inputs: ProbeInputs,
    probes: Sequence[str],
    scope: str,
    seed: int,
    task_metrics: dict,
) -> dict:
    primary = inputs.primary
    test, val = f"test_{scope}", f"val_{scope}"
    rng = np.random.default_rng([seed, 11])
    task_acc = task_metrics.get("eval_acc_heldout" if scope == "unseen" else "eval_acc")
    out: dict = {"scope": scope, "reported_split": test, "validation_split": val, "models": {}}
    scored = [r for r in sweep.rows if r["metric"] in SCORES]
    units = [r for r in sweep.rows if r["probe"] == "units" and r["split"] == test]
    for model in dict.fromkeys(r["model"] for r in sweep.rows):
        out["models"][model] = {}
        sites = list(dict.fromkeys(r["site"] for r in sweep.rows if r["model"] == model))
        for probe in probes:
            per_site = {}
            for site in sites:
                mine = [
                    r for r in scored if (r["model"], r["probe"], r["site"]) == (model, probe, site)
                ]
                if not mine:
                    continue
                at = [r for r in units if (r["model"], r["site"]) == (model, site)]
                entry = _site_entry([r for r in mine if r["split"] == test], at, inputs)
                entry["n_test"] = int(len(sweep.splits[test]))
                entry["task_acc"] = task_acc
                if scope == "unseen":
                    entry["task_acc_heldout"] = task_acc
                vals = _values(mine, split=val, target_family=primary)
                entry[f"val_acc_{primary}"] = float(np.mean(vals)) if vals else None
                for fam in (primary, "alt_basis"):
                    ci = _intervals(sweep, (model, site, probe, fam, test), rng)
                    if ci:
                        entry[f"acc_{fam}_ci"] = ci["ci"]
                        entry[f"acc_{fam}_per_target_ci"] = ci["per_target_ci"]
                if primary != "z" and f"acc_{primary}_per_target_ci" in entry:
                    # Intervals exist for classification labels only, in the rows' order.
                    names = [r["target"] for r in mine if r["split"] == test
                             and r["target_family"] == primary and r["metric"] == "accuracy"]  # fmt: skip
                    cis = entry[f"acc_{primary}_per_target_ci"]
                    entry[f"acc_{primary}_per_label_ci"] = dict(zip(names, cis, strict=True))
                per_site[site] = {k: v for k, v in entry.items() if v is not None}
            if per_site:
                out["models"][model][probe] = per_site
    _add_controls(out, sweep, test, primary)
    out["best_layer"] = {}
    for probe, per_site in out["models"].get("trained", {}).items():
        # Chosen on the validation split, never on the reported one.
        key = f"val_acc_{primary}"
        site = max(per_site, key=lambda s: (per_site[s].get(key, -1.0), -per_site[s]["layer"]))
        out["best_layer"][probe] = {"site": site, "chosen_by": key, **per_site[site]}
    return out


# A latent is confidently *absent* when its interval's upper end lies below the best control's
# accuracy plus this margin: whatever it holds of z_i is worth less than 0.1 of accuracy.
ABSENT_MARGIN = 0.1


def _latent_states(sweep: SweepResult, probe: str, site: str, fam: str, test: str):
    """(recovered, absent) target indices of `fam` at this site, from intervals.

    Recovered: the interval lies wholly above the intervals of the same target read by
    the untrained copy at this site and by the raw input. Absent: its upper end is below
    the best of those controls' accuracies + ABSENT_MARGIN. A target that is neither is
    undetermined: too few test inputs to tell.
    """
    hits = sweep.correct.get(("trained", site, probe, fam, test))
    if hits is None:
        return None
    lo, hi = wilson_interval(hits.sum(axis=0), len(hits))
    # The same target read from other representations (theory/verdict.py says why the
    # control task, another target, is reported beside rather than gating).
    control_keys = [
        ("random_init", site, probe, fam, test),
        ("input", "input", probe, fam, test),
    ]
    highs, points = [], []
    for key in control_keys:
        c = sweep.correct.get(key)
        if c is not None and c.shape[1] == hits.shape[1]:
            highs.append(wilson_interval(c.sum(axis=0), len(c))[1])
            points.append(c.mean(axis=0))
    if not highs:  # no control measured: nothing to be above
        return None
    recovered = np.flatnonzero(latents_above_controls(lo, np.stack(highs)))
    absent = np.flatnonzero(hi < np.max(points, axis=0) + ABSENT_MARGIN)
    return recovered.tolist(), absent.tolist()


def _add_controls(out: dict, sweep: SweepResult, test: str, primary: str) -> None:
    """`controls` and `latents_recovered` of every trained site."""
    models = out["models"]
    for probe, per_site in models.get("trained", {}).items():
        random_init = models.get("random_init", {}).get(probe, {})
        raw = next(iter(models.get("input", {}).get(probe, {}).values()), {})
        for site, entry in per_site.items():
            entry["controls"] = {
                "random_init": (random_init.get(site) or {}).get(f"acc_{primary}"),
                "raw_input": raw.get(f"acc_{primary}"),
                "alt_basis": entry.get("acc_alt_basis"),
                "control_task": entry.get("acc_control_task"),
            }
            per_label = f"acc_{primary}_per_label"
            if per_label in entry:
                sources = {
                    "random_init": (random_init.get(site) or {}).get(per_label) or {},
                    "raw_input": raw.get(per_label) or {},
                    "control_task": entry.get("acc_control_task_per_label") or {},
                }
                entry["controls_per_label"] = {
                    label: {name: values.get(label) for name, values in sources.items()}
                    for label in entry[per_label]
                }
            states = _latent_states(sweep, probe, site, primary, test)
            if states is not None:
                entry["latents_recovered"] = len(states[0])
                entry["recovered_latents"] = states[0]
                entry["latents_absent"] = len(states[1])
                entry["absent_latents"] = states[1]
            if "alt_basis" in {key[3] for key in sweep.correct}:
                alt = _latent_states(sweep, probe, site, "alt_basis", test)
                if alt is not None:
                    entry["alt_latents_recovered"] = len(alt[0])


@dataclass
class ProbeReport:
    """The outcome of `probe_checkpoint`: tidy rows, the summary and where they were written."""

    rows: list[dict]
    summary: dict
    out: Path | None
    correlations: dict = field(default_factory=dict)
    # (model, site, probe, family, split) -> (n_split, k) bool: each target right on each input
    correct: dict = field(default_factory=dict)
    # (model, site) -> {"weight": (T, F), "bias": (T,)} of the linear probes; `targets` names T
    weights: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)


def write_report(report: ProbeReport, out: str | Path, probes: Sequence[str]) -> Path:
    """results.jsonl, summary.json and the PNG plots into `out`, each written atomically."""
    from probekit.probing import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in report.rows))
    write_atomic(out / "summary.json", json.dumps(report.summary, indent=2))
    if report.weights:
        write_probe_weights(report, out / WEIGHTS_FILE)
    primary = report.summary["primary_family"]
    for probe in probes:
        plots.plot_layer_accuracy(
            report.summary, out / f"accuracy_{probe}.png", probe=probe, family=primary
        )
        best = report.summary["best_layer"].get(probe)
        matrix = best and report.correlations.get(("trained", best["site"], "units"))
        if matrix is not None:
            plots.plot_correlation_matrix(
                matrix, out / f"correlation_{probe}.png", site=f"{best['site']} (trained)"
            )
    if primary != "z":
        for probe in probes:
            plots.plot_label_accuracy(
                report.summary, out / f"accuracy_per_label_{probe}.png", probe=probe
            )
    report.out = out
    return out


WEIGHTS_FILE = "probes.safetensors"


def write_probe_weights(report: ProbeReport, path: Path) -> Path:
    """The linear probes as safetensors: `{model}/{site}/weight` (T, F) and `.../bias` (T,), float32.

    A probe's decision on activations `a` (N, F) of that site is `a @ weight.T + bias`; a
    classification target is its "+1" value where the decision is > 0. The metadata names
    the targets (`targets`, "family/target" in row order of weight), the position read and
    each binary label's values (`label_coding`).
    """
    from safetensors.numpy import save

    tensors = {}
    for (model, site), fit in sorted(report.weights.items()):
        tensors[f"{model}/{site}/weight"] = np.ascontiguousarray(fit["weight"], dtype=np.float32)
        tensors[f"{model}/{site}/bias"] = np.ascontiguousarray(fit["bias"], dtype=np.float32)
    metadata = {
        "targets": json.dumps(report.targets),
        "position": str(report.summary.get("position")),
        "label_coding": json.dumps((report.summary.get("inputs") or {}).get("label_coding") or {}),
        "decision": "activations @ weight.T + bias; > 0 means the target's +1 value",
    }
    write_atomic(path, save(tensors, metadata=metadata))
    return path
