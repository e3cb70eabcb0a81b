"""Reports of runs and sweeps: the theory's prediction beside the measurement, with a verdict.

`write_report(path, out)` reads a run directory, a sweep directory (`sweep.json`), a
directory of runs, or a bare probe output folder (`probekit.report.probe_folder`) and
writes two renderings of one document model:

- `report.html`: one self-contained page (inline CSS, figures as base64 PNG data URIs,
  no external asset), every piece of text passed through `html.escape`;
- `report.md`: the same content as Markdown, figures as PNG files next to it.

Per run: a verdict row (prediction, task accuracy, probe accuracy of z with its interval,
latents recovered, every control, the MCC of units and the ladder's rung, and the outcome
of `probekit.theory.verdict` with the numbers that decide it), the per-layer probe curves
with controls, the training curves, and reference numbers (the paper's Appendix D, and
the feasibility check of docs/theory.md §5) where the setting matches. The measurement
is read at the trained model's layer chosen on validation inputs (the controls at the
same site); without `probe/` the run is undecided.

The document model and its rendering live in `probekit.report.render`, the drawn
figures in `probekit.report.figures`, the reference numbers in
`probekit.report.references`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from probekit.report.causal import causal_blocks
from probekit.report.figures import run_figures, sweep_figures
from probekit.report.probe_folder import is_probe_folder, probe_folder_document
from probekit.report.references import references
from probekit.report.render import Section, Table, render_html, render_markdown
from probekit.training.run_dir import read_jsonl
from synthetic.config import write_atomic


@dataclass
class RunSummary:
    """Everything the report says about one run."""

    name: str
    path: Path
    config: dict
    metrics: list[dict]
    probe_summary: dict | None
    probe_dir: Path
    prediction: dict | None
    measured: dict[str, float | None]
    verdict: dict[str, Any]  # on inputs the model never saw (the headline), when there are any
    # The same judged on the model's own training inputs (held out from the probe); None when
    # nothing was held out of training, so the headline already is that.
    verdict_seen: dict[str, Any] | None = None


# --------------------------------------------------------------------------- reading


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def find_runs(path: Path) -> list[Path]:
    """Run directories (holding config.yaml) at `path` or up to two levels below it."""
    if (path / "config.yaml").exists():
        return [path]
    found = [p.parent for p in path.glob("*/config.yaml")]
    found += [p.parent for p in path.glob("*/*/config.yaml")]
    return sorted(set(found), key=lambda p: _natural(str(p.relative_to(path))))


def summarize_run(path: str | Path, name: str | None = None) -> RunSummary:
    """Read a run directory (config, metrics, probe results), predict and judge."""
    path = Path(path)
    if not (path / "config.yaml").exists():
        raise FileNotFoundError(
            f"{path} is not a run directory (config.yaml is missing); pass a directory "
            "written by `probekit train`, `probekit sweep` or `probekit demo`."
        )
    config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    metrics = read_jsonl(path / "metrics.jsonl")
    probe_dir = path / "probe"
    summary_path = probe_dir / "summary.json"
    probe_summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    prediction = None
    try:
        from probekit.config import ExperimentConfig
        from probekit.theory.predictions import predict, read_prediction

        # The prediction written before training, when the run has one; else made now.
        saved = read_prediction(path)
        prediction = saved["prediction"] if saved else predict(ExperimentConfig.from_dict(config))
    except (ValueError, KeyError, TypeError) as err:
        config["_prediction_error"] = str(err)
    from probekit.theory.verdict import judge, measurement

    measured = measurement(probe_summary)
    hint = "" if probe_summary else f" Run `probekit probe {path}` first."
    return RunSummary(
        name or path.name,
        path,
        config,
        metrics,
        probe_summary,
        probe_dir,
        prediction,
        measured,
        judge(prediction, measured, hint),
        judge(prediction, measurement(probe_summary, scope="seen"), hint)
        if (probe_summary or {}).get("scope") == "unseen"
        else None,
    )


# --------------------------------------------------------------------------- the document

VERDICT_HEADER = [
    "run", "model", "tasks (n, k)", "predicted", "scope", "task acc.", "probe z [95% CI]",
    "latents recovered", "T(z)", "random init z", "raw input z", "control task", "MCC units",
    "rung", "outcome", "agrees", "outcome on training inputs", "decided by",
]  # fmt: skip
QUANTITIES = {
    "task_acc": "task accuracy",
    "acc_z": "probe accuracy: z",
    "acc_alt_basis": "probe accuracy: alternative basis T(z)",
    "acc_random_init": "probe accuracy: z, random init",
    "mcc_units": "MCC of units (§6)",
    "identification_error": "identification error (ours: 0 to 4, 2 = no correlation; the "
    "reference's scale differs)",
}
AGREES_CLASS = {True: "agrees", False: "disagrees", None: "inconclusive"}  # row styles


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.3f}"
    return str(value)


def _ci(m: dict) -> str:
    ci = m.get("acc_z_ci")
    return _fmt(m.get("acc_z")) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def verdict_row(run: RunSummary) -> list[str]:
    """One row of the verdict table."""
    cfg, m, p = run.config, run.measured, run.prediction or {}
    tasks = cfg.get("tasks", {})
    predicted = p.get("expected_recovery", "–")
    if p.get("theory_result"):
        predicted = f"{predicted} ({p['theory_result']})"
    k, d = m.get("latents_recovered"), m.get("d")
    return [
        run.name,
        str(cfg.get("model", {}).get("kind", "?")),
        f"{tasks.get('n', '?')}, {tasks.get('k', '?')}",
        predicted,
        _fmt(m.get("scope")),
        _fmt(m.get("task_acc")),
        _ci(m),
        "–" if k is None else f"{k} of {d}",
        *(_fmt(m.get(key)) for key in ("acc_alt_basis", "acc_random_init", "acc_raw_input")),
        *(_fmt(m.get(key)) for key in ("acc_control_task", "mcc_units", "rung")),
        run.verdict["verdict"],
        _fmt(run.verdict.get("agrees")),
        "–"
        if run.verdict_seen is None
        else f"{run.verdict_seen['verdict']} (agrees: {_fmt(run.verdict_seen.get('agrees'))})",
        run.verdict["reason"],
    ]


def verdict_table(runs: list[RunSummary]) -> Table:
    """The verdict table over runs (id `verdict-table`)."""
    return Table(
        VERDICT_HEADER,
        [verdict_row(r) for r in runs],
        table_id="verdict-table",
        row_verdicts=[AGREES_CLASS[r.verdict.get("agrees")] for r in runs],
    )


def run_section(run: RunSummary) -> Section:
    """Prediction, measurement, references and figures of one run."""
    p, cfg = run.prediction, run.config
    world, tasks, model = cfg.get("world", {}), cfg.get("tasks", {}), cfg.get("model", {})
    blocks: list = [
        f"World d = {world.get('d')}, m = {world.get('m') or world.get('d')}, observation "
        f"{world.get('observation')}; {_tasks_words([tasks.get('n')], tasks)} of degree "
        f"{tasks.get('k')} ({tasks.get('target')}); model {model.get('kind')}; "
        f"{cfg.get('train', {}).get('steps')} steps. Directory: {run.path}."
    ]
    if p is None:
        blocks.append(f"No prediction: {cfg.get('_prediction_error', 'the config did not load')}.")
    else:
        blocks.append(
            f"Prediction: expected recovery = {p['expected_recovery']} "
            f"[{p['theory_result']}]. {p['reason']}"
        )
    site = run.measured.get("site")
    where = (
        f" (layer of the trained model chosen on validation inputs: {site}; controls at the same site)"
        if site
        else ""
    )
    agrees = {True: "agrees with", False: "disagrees with", None: "cannot be compared with"}
    blocks.append(
        f"Outcome: {run.verdict['verdict']}{where}; it {agrees[run.verdict.get('agrees')]} the "
        f"prediction. {run.verdict['reason']}"
    )
    if run.verdict_seen is not None:
        blocks.append(
            f"On the model's own training inputs (held out from the probe): "
            f"{run.verdict_seen['verdict']}; it {agrees[run.verdict_seen.get('agrees')]} the "
            f"prediction. {run.verdict_seen['reason']}"
        )
    refs = references(cfg)
    if refs:
        rows = [
            [QUANTITIES.get(key, key), _fmt(run.measured.get(key)), _fmt(value), src]
            for key, value, src in refs
        ]
        blocks.append(Table(["quantity", "ours", "reference", "source"], rows))
    blocks.extend(run_figures(run.name, run.probe_dir, run.metrics))
    blocks.extend(causal_blocks(run.name, run.path / "intervene"))
    return Section(f"Run {run.name}", blocks)


# Columns of a sweep's results.jsonl that describe one metric, not the point.
PER_METRIC_COLUMNS = ("sweep", "source", "detail")


def sweep_section(sweep_dir: Path, runs: list[RunSummary]) -> Section:
    """sweep.json, the table over points (results.jsonl pivoted by point) and the sweep figures."""
    blocks: list = []
    spec_path = sweep_dir / "sweep.json"
    if spec_path.exists():
        spec = json.loads(spec_path.read_text())
        blocks.append(
            "Sweep specification: " + json.dumps(spec, sort_keys=True, default=str)[:2000]
        )
    rows = read_jsonl(sweep_dir / "results.jsonl")
    if rows and {"metric", "value"} <= set(rows[0]):
        # One row per point: the point's override columns, not the per-metric ones.
        keys = [c for c in rows[0] if c not in ("metric", "value", *PER_METRIC_COLUMNS)]
        metrics = list(dict.fromkeys(r["metric"] for r in rows))
        points: dict[tuple, dict] = {}
        for r in rows:
            point = tuple(json.dumps(r.get(c), default=str) for c in keys)
            points.setdefault(point, {})[r["metric"]] = r.get("value")
        table_rows = [
            [
                *(json.loads(v) if v != "null" else "–" for v in point),
                *(_fmt(vals.get(m)) for m in metrics),
            ]
            for point, vals in points.items()
        ]
        blocks.append(
            Table(keys + metrics, [[str(c) for c in row] for row in table_rows], "sweep-table")
        )
    elif rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        blocks.append(Table(keys, [[_fmt(r.get(k)) for k in keys] for r in rows], "sweep-table"))
    blocks.extend(sweep_figures(sweep_dir))
    refs = [
        [r.name, f"{r.config['tasks'].get('n')}, {r.config['tasks'].get('k')}",
         _fmt(None if r.measured.get("mcc_units") is None else 2 - 2 * r.measured["mcc_units"]), _fmt(v)]
        for r in runs for key, v, _ in references(r.config) if key == "identification_error"
    ]  # fmt: skip
    if refs:
        blocks.append(
            "Identification error beside the paper's Appendix D (read off its figure; the "
            "paper's definition is unpublished). The columns are on different scales: compare "
            "trends over n and k, not values."
        )
        scales = ["ours (0 to 4; 2 = no correlation)", "paper (its MSE; another scale)"]
        blocks.append(Table(["run", "tasks (n, k)", *scales], refs))
    return Section(f"Sweep {sweep_dir.name}", blocks)


def build_document(path: str | Path) -> tuple[str, list[Section]]:
    """The title and sections of the report on a run, a sweep or a directory of runs."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a directory; pass a run or sweep directory.")
    if is_probe_folder(path):  # `probekit probe --out DIR` of any checkpoint: no run, no verdict
        return probe_folder_document(path)
    run_dirs = find_runs(path)
    is_sweep = (path / "sweep.json").exists()
    if not run_dirs and not is_sweep:
        raise FileNotFoundError(
            f"No run found in {path}: expected config.yaml (a run), sweep.json (a sweep) or "
            "run directories one or two levels below."
        )
    runs = [summarize_run(d, "/".join(d.relative_to(path).parts) or d.name) for d in run_dirs]
    counts = {
        label: sum(r.verdict.get("agrees") is value for r in runs)
        for value, label in ((True, "agree"), (False, "disagree"), (None, "cannot be compared"))
    }
    intro = Section(
        "Verdicts",
        [
            "Each run: what the theory predicts (docs/theory.md §3), what was measured, and whether "
            "they agree. A latent counts as recovered when the 95 % interval of its probe accuracy, "
            "on inputs held out from the model and the probe, lies above the intervals of every "
            "control reading the same latent (an untrained copy at the same site, the raw input); the "
            "outcome is recovered (all latents), partial (k of d), not recovered, or undecided "
            "(too few test inputs, or the model did not fit its tasks on those inputs). "
            + ", ".join(f"{n} {v}" for v, n in counts.items())
            + ".",
            verdict_table(runs),
        ],
    )
    sections = [intro]
    if is_sweep:
        sections.append(sweep_section(path, runs))
    sections += [run_section(r) for r in runs]
    return f"probekit report: {experiment_name(path, runs)}", sections


def _tasks_words(ns: list, tasks: dict) -> str:
    """`1 walsh task`, `1 and 64 walsh tasks`."""
    ns = sorted(set(ns), key=lambda n: (not isinstance(n, int), n if isinstance(n, int) else 0))
    count = str(ns[-1]) if len(ns) == 1 else f"{', '.join(map(str, ns[:-1]))} and {ns[-1]}"
    return f"{count} {tasks.get('family')} task{'' if ns == [1] else 's'}"


def experiment_name(path: Path, runs: list[RunSummary]) -> str:
    """What a report is about: the sweep's name and description, else the runs' world and tasks."""
    if (path / "sweep.json").exists():
        spec = json.loads((path / "sweep.json").read_text())
        name = f"sweep {spec.get('name') or path.name}"
        return f"{name}: {spec['description']}" if spec.get("description") else name
    if not runs:
        return path.name
    worlds, groups = {}, {}
    for r in runs:
        w, t = r.config.get("world", {}), r.config.get("tasks", {})
        worlds[f"d = {w.get('d')}, m = {w.get('m') or w.get('d')}, {w.get('observation')}"] = 1
        key = (t.get("family"), t.get("k"), t.get("target"))
        groups.setdefault(key, (t, []))[1].append(t.get("n"))
    tasks = [
        f"{_tasks_words(ns, t)} (k = {t.get('k')}, {t.get('target')})" for t, ns in groups.values()
    ]
    world = next(iter(worlds)) if len(worlds) == 1 else f"{len(worlds)} worlds"
    return f"world {world}; " + "; ".join(tasks)


# --------------------------------------------------------------------------- writing


def _atomic_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, data)  # fsynced, then renamed into place


@dataclass
class ReportPaths:
    """Where a report was written."""

    html: Path
    markdown: Path
    figures: list[Path]
    title: str = ""
    verdicts: Table | None = None  # the verdict table over the runs


def write_report(path: str | Path, out: str | Path | None = None) -> ReportPaths:
    """Write report.html (self-contained) and report.md (+ PNGs) for a run, sweep or runs dir."""
    title, sections = build_document(path)
    out = Path(out) if out is not None else Path(path) / "report"
    out.mkdir(parents=True, exist_ok=True)
    markdown, files = render_markdown(title, sections)
    figures = []
    for name, data in files.items():
        _atomic_bytes(out / name, data)
        figures.append(out / name)
    _atomic_bytes(out / "report.md", markdown.encode("utf-8"))
    _atomic_bytes(out / "report.html", render_html(title, sections).encode("utf-8"))
    verdicts = next(
        (b for b in sections[0].blocks if isinstance(b, Table) and b.table_id == "verdict-table"),
        None,
    )
    return ReportPaths(out / "report.html", out / "report.md", figures, title, verdicts)
