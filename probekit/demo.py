"""The one-command demo: generate, train with 1 and with many tasks, probe, predict, report.

    OUT/data/tasks-N/      the generated dataset of the N-task run (`probekit generate`)
    OUT/runs/tasks-N/      the run (`probekit train`), with probe/ (`probekit probe`)
    OUT/report/            report.html (self-contained) and report.md (`probekit report`)

Every step is skipped when its output is already there, and training resumes from its
last checkpoint, so running the demo again finishes an interrupted demo and otherwise
only rewrites the report. The preset (configs/demo.yaml, or configs/demo/quick.yaml for
`--quick`) is an ordinary experiment file; the demo only changes `tasks.n` and points
`train.data_dir` at the generated dataset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from probekit.config import ExperimentConfig, load_experiment
from probekit.training.run_dir import atomic_write_text

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = {"full": CONFIG_DIR / "demo.yaml", "quick": CONFIG_DIR / "demo" / "quick.yaml"}
TASK_COUNTS = (1, 64)
TABLE_COLUMNS = (
    "run",
    "predicted",
    "task acc",
    "probe z",
    "latents",
    "T(z)",
    "random init",
    "outcome",
    "agrees",
    "on training inputs",
)


@dataclass
class DemoResult:
    """Where the demo wrote its runs and report, and the verdict table it printed."""

    out: Path
    runs: list[Path]
    report_html: Path
    report_markdown: Path
    table: str
    verdicts: list[dict]


def preset_path(quick: bool = False, config: str | Path | None = None) -> Path:
    """The demo's experiment file: `config` if given, else the full or quick preset."""
    path = Path(config) if config else PRESETS["quick" if quick else "full"]
    if not path.exists():
        raise FileNotFoundError(
            f"Demo preset {path} not found. Run from a source checkout (configs/ next to "
            "probekit/) or pass --config with an experiment YAML."
        )
    return path


def run_config(
    base: Path, n_tasks: int, data_dir: Path, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """The preset with `tasks.n` set and training reading the generated dataset."""
    return load_experiment(
        base, [*overrides, f"tasks.n={n_tasks}", f"train.data_dir={data_dir.resolve()}"]
    )


def ensure_dataset(cfg: ExperimentConfig, path: Path, progress: bool) -> bool:
    """Generate the dataset of `cfg` at `path` unless the same one is there; True if generated."""
    from synthetic.dataset import GenerateConfig, generate_dataset, read_metadata, save_dataset

    gen = GenerateConfig(world=cfg.world, tasks=cfg.tasks, data=cfg.data)
    if path.exists():
        try:
            if read_metadata(path)["config"] == gen.to_dict():
                return False
        except (FileNotFoundError, ValueError, KeyError):
            pass  # unreadable or another config: regenerate below
    save_dataset(generate_dataset(gen, progress=progress), gen, path, overwrite=True)
    return True


def ensure_trained(cfg: ExperimentConfig, run: Path, progress: bool) -> bool:
    """Train (or resume) the run unless final/ exists; True if it trained."""
    from probekit.training.loop import train

    if (run / "final").is_dir():
        return False
    saved_path = run / "config.yaml"
    if saved_path.exists():
        # The demo directory may have been moved since the run started: the dataset moved
        # with it, so only its recorded path is stale. Any other difference still refuses.
        saved = yaml.safe_load(saved_path.read_text()) or {}
        wanted = cfg.to_dict()
        if saved.get("train", {}).get("data_dir") != wanted["train"]["data_dir"]:
            saved.setdefault("train", {})["data_dir"] = wanted["train"]["data_dir"]
            if saved == wanted:
                atomic_write_text(saved_path, yaml.safe_dump(saved, sort_keys=False))
    from probekit.theory.predictions import write_prediction

    # Before training (once every check has passed), and never rewritten after it.
    before = lambda: write_prediction(run, cfg)  # noqa: E731
    train(cfg, run, resume=True, progress=progress, before_write=before)
    return True


def ensure_probed(run: Path, progress: bool) -> bool:
    """Probe the run's final model unless probe/summary.json is newer than final/."""
    from probekit.probing.pipeline import probe_checkpoint

    summary = run / "probe" / "summary.json"
    spec = run / "final" / "probekit_spec.json"
    if summary.exists() and summary.stat().st_mtime >= spec.stat().st_mtime:
        return False
    probe_checkpoint(run, out=run / "probe", progress=progress)
    return True


def format_table(rows: list[list[str]]) -> str:
    """A fixed-width text table with TABLE_COLUMNS as its header."""
    table = [list(TABLE_COLUMNS), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_demo(
    out: str | Path = "demo",
    *,
    quick: bool = False,
    config: str | Path | None = None,
    task_counts: Sequence[int] = TASK_COUNTS,
    overrides: Sequence[str] = (),
    progress: bool = True,
    threads: int | None = 1,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Generate, train, probe and report the demo runs in `out`, skipping finished steps."""
    import torch

    # Small models gain nothing from intra-op threads, and on a busy machine the threads'
    # synchronisation dominates: 200 steps of the 3x256 MLP took 6 s with one thread and
    # 108 s with two on 2 shared cores. The previous setting is restored afterwards.
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_demo(out, quick, config, task_counts, overrides, progress, log)
    finally:
        torch.set_num_threads(before)


def _run_demo(out, quick, config, task_counts, overrides, progress, log) -> DemoResult:
    from probekit.report.document import summarize_run, write_report

    if len(set(task_counts)) != len(task_counts) or min(task_counts) < 1:
        raise ValueError(f"task_counts must be distinct positive integers, got {list(task_counts)}")
    base = preset_path(quick, config)
    out = Path(out)
    runs = []
    for n in task_counts:
        name = f"tasks-{n}"
        run, data = out / "runs" / name, out / "data" / name
        cfg = run_config(base, n, data, overrides)
        for step in ("generate", "train", "probe"):
            log(f"[demo] {step:<8} {name}: started")
            start = time.perf_counter()
            if step == "generate":
                did = ensure_dataset(cfg, data, progress)
            elif step == "train":
                did = ensure_trained(cfg, run, progress)
            else:
                did = ensure_probed(run, progress)
            took = (
                f"done in {time.perf_counter() - start:.1f} s" if did else "already done, skipped"
            )
            log(f"[demo] {step:<8} {name}: {took}")
        runs.append(run)
    log("[demo] report   started")
    paths = write_report(out / "runs", out / "report")
    summaries = [summarize_run(r) for r in runs]
    rows = []
    for s in summaries:
        m = s.measured
        k, seen = m.get("latents_recovered"), s.verdict_seen
        rows.append(
            [
                s.name,
                (s.prediction or {}).get("expected_recovery", "?"),
                *("–" if m.get(key) is None else f"{m[key]:.3f}" for key in ("task_acc", "acc_z")),
                "–" if k is None else f"{k}/{m.get('d')}",
                *(
                    "–" if m.get(key) is None else f"{m[key]:.3f}"
                    for key in ("acc_alt_basis", "acc_random_init")
                ),
                s.verdict["verdict"],
                str(s.verdict.get("agrees")),
                "–" if seen is None else f"{seen['verdict']} ({seen.get('agrees')})",
            ]
        )
    table = format_table(rows)
    verdicts = [{"run": s.name, **s.verdict, "seen": s.verdict_seen} for s in summaries]
    atomic_write_text(out / "report" / "verdicts.json", json.dumps(verdicts, indent=2, default=str))
    log(table)
    for s in summaries:
        log(f"{s.name}: {s.verdict['verdict']}: {s.verdict['reason']}")
        if s.verdict_seen is not None:
            log(
                f"{s.name}, training inputs: {s.verdict_seen['verdict']}: {s.verdict_seen['reason']}"
            )
    log(f"report: {paths.html.resolve()}")
    log(f"        {paths.markdown.resolve()}")
    return DemoResult(out, runs, paths.html, paths.markdown, table, verdicts)
