"""A sweep: a grid of ordinary training + probing runs, one directory per point, resumable.

A sweep file (YAML) names a base experiment config and a grid over config keys:

    name: appendix_d
    base: ../default.yaml          # relative to this file, or to the repository
    overrides: {world.d: 8}        # applied to every point
    grid:                          # cartesian product, in this order
      tasks.k: [2, 3, 4]
      tasks.n: [1, 4, 8, 64]
    zip:                           # keys that change together, one axis per group
      - {model.kind: [mlp, gpt2], data.format: [array, multitask]}
    seeds: [0, 1, 2]               # every grid point once per seed (train.seed = probe.seed = s)
    probe: true                    # run `probekit probe` on each finished point

`grids: [{grid: ..., zip: ...}, ...]` instead of `grid`/`zip` takes the union of several
grids (for combinations that only make sense together). Each point runs in
`SWEEP/<key=value__key=value>` (`SWEEP/<key=value__key=value>__seed-<s>` with `seeds:`);
a point with `final/` and `probe/summary.json` is skipped, an interrupted one resumes
from its checkpoints, so a killed sweep continues. `SWEEP/results.jsonl` is the
long-form table (one row per point × seed × metric, every point of the sweep, with a
`seed` column when the sweep has `seeds:`) and `SWEEP/sweep.json` describes the grid.

Parsing and grid expansion live in `probekit.sweeps.spec`, the results table in
`probekit.sweeps.results`; their public names are re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probekit.config import NON_RESULT_KEYS, ExperimentConfig
from probekit.sweeps.results import (
    PROBE_METRICS,
    SUMMARY_COLUMNS,
    TRAIN_METRICS,
    point_metrics,
    point_status,
    summary_table,
    write_results,
)
from probekit.sweeps.spec import (
    BLOCK_KEYS,
    FIGURES,
    SWEEP_KEYS,
    Axis,
    Point,
    SweepError,
    SweepSpec,
    load_sweep,
    parse_only,
    parse_sweep,
    point_name,
    seed_point_name,
    select,
    to_override,
    validate,
)
from probekit.training.run_dir import atomic_write_text
from synthetic.config import apply_overrides, load_yaml

__all__ = [
    "BLOCK_KEYS",
    "FIGURES",
    "PROBE_METRICS",
    "SUMMARY_COLUMNS",
    "SWEEP_KEYS",
    "TRAIN_METRICS",
    "Axis",
    "Point",
    "SweepError",
    "SweepResult",
    "SweepSpec",
    "collect_results",
    "config_digest",
    "describe",
    "launch_commands",
    "load_sweep",
    "parse_only",
    "parse_sweep",
    "point_metrics",
    "point_name",
    "point_status",
    "point_tags",
    "probe_run",
    "run_point",
    "run_sweep",
    "seed_point_name",
    "select",
    "summary_table",
    "to_override",
    "train_point",
    "validate",
    "wants_figure",
    "write_results",
    "write_sweep_json",
]

# --------------------------------------------------------------------------- running


def probe_run(run_dir: Path, *, progress: bool = False) -> Path:
    """Probe a finished run layer by layer into RUN/probe (the one call into probekit.probing.pipeline)."""
    from probekit.probing.pipeline import probe_checkpoint

    out = Path(run_dir) / "probe"
    probe_checkpoint(Path(run_dir), out=out, progress=progress)
    return out


def train_point(cfg: ExperimentConfig, run_dir: Path, tags: Mapping[str, Any] | None = None) -> Any:
    """Train (or resume) one point, its prediction written first; `tags` for its trackers."""
    from probekit.theory.predictions import write_prediction
    from probekit.training.loop import train

    # Before training (once every check has passed), and never rewritten after it.
    before = lambda: write_prediction(run_dir, cfg)  # noqa: E731
    return train(cfg, run_dir, resume=True, progress=False, before_write=before, tags=tags)


def point_tags(spec: SweepSpec, point: Point) -> dict[str, Any]:
    """What a point's run is tagged with in its experiment trackers: sweep, point, parameters."""
    tags = {"sweep": spec.name, "point": point.name, **point.overrides}
    if point.seed is not None:
        tags["seed"] = point.seed
    return tags


def config_digest(cfg: ExperimentConfig) -> str:
    """A point's content address: the hash of its resolved config (where metrics go left out)."""
    data = cfg.to_dict()
    for key in NON_RESULT_KEYS:
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_point(
    cfg: ExperimentConfig,
    run_dir: Path,
    *,
    probe: bool,
    train_fn: Callable[[ExperimentConfig, Path], Any],
    probe_fn: Callable[[Path], Any],
) -> str:
    """Train (or resume) and probe one point as far as its directory says it still needs;
    returns its status before. An error is written to RUN/error.txt and raised again."""
    status = point_status(run_dir, probe)
    if status == "done":
        return status
    try:
        if status in ("new", "partial"):
            train_fn(cfg, run_dir)
        if probe:
            probe_fn(run_dir)
    except Exception as err:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "error.txt", f"{type(err).__name__}: {err}\n")
        raise
    (run_dir / "error.txt").unlink(missing_ok=True)
    return status


@dataclass
class SweepResult:
    """What `run_sweep` did: per point its status before and after, failures and the table."""

    out: Path
    statuses: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    figure: Path | None = None
    appendix_d: dict | None = None  # the figure's table and trends, when drawn


def _config_digest(spec: SweepSpec) -> str:
    base = load_yaml(spec.base) if spec.base else {}
    data = apply_overrides(base or {}, list(spec.overrides))
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def write_sweep_json(
    spec: SweepSpec,
    out: Path,
    points: Sequence[Point],
    configs: Mapping[str, ExperimentConfig] | None = None,
) -> Path:
    """SWEEP/sweep.json: the grid, every point, its directory and (given `configs`) its
    content address; refuses a different base."""
    path = out / "sweep.json"
    digest = _config_digest(spec)
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("base_digest") not in (None, digest):
            raise SweepError(
                f"{out} holds a sweep made from a different base config or base overrides; "
                "choose another --out or delete it."
            )
        known = {p["name"]: p for p in old.get("points", [])}
    else:
        known = {}
    for p in points:  # a run with --only keeps the points it did not select
        known[p.name] = {"name": p.name, "overrides": p.overrides, "dir": p.name}
        if p.seed is not None:
            known[p.name].update(seed=p.seed, grid_point=p.grid_name)
        if configs and p.name in configs:
            known[p.name]["digest"] = config_digest(configs[p.name])
    info = {**spec.to_dict(), "base_digest": digest, "points": list(known.values())}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(info, indent=2, default=str))
    return path


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    only: Mapping[str, Any] | None = None,
    probe: bool | None = None,
    progress: bool = True,
    train_fn: Callable[[ExperimentConfig, Path], Any] | None = None,
    probe_fn: Callable[[Path], Any] | None = None,
    figure: bool = True,
) -> SweepResult:
    """Run (or continue) every selected point sequentially; write results.jsonl and sweep.json."""
    from tqdm.auto import tqdm

    out = Path(out)
    probe = spec.probe if probe is None else probe
    probe_fn = probe_fn or probe_run
    points = select(spec, only)
    configs = validate(spec, points)  # every error surfaces before the first run
    write_sweep_json(spec, out, points, configs)
    everything = spec.points()  # results.jsonl lists every point, selected by --only or not
    result = SweepResult(out)
    cache: dict[str, dict] = {}
    bar = tqdm(points, desc=f"sweep {spec.name}", unit="point", disable=not progress)
    for point in bar:
        run_dir = out / point.name
        fn = train_fn or functools.partial(train_point, tags=point_tags(spec, point))
        bar.set_postfix_str(point.name)
        result.statuses[point.name] = point_status(run_dir, probe)
        try:
            before = run_point(
                configs[point.name], run_dir, probe=probe, train_fn=fn, probe_fn=probe_fn
            )
            if before != "done":
                result.ran.append(point.name)
        except Exception as err:  # one failed point must not stop the others
            result.failures[point.name] = f"{type(err).__name__}: {err}"
        result.rows = write_results(
            spec, out, everything, configs, failures=result.failures, probe=probe, cache=cache
        )
    bar.close()
    if figure and wants_figure(spec, points):
        _draw_figure(result, out, everything)
    return result


def collect_results(
    spec: SweepSpec, out: str | Path, *, probe: bool | None = None, figure: bool = True
) -> SweepResult:
    """Rebuild SWEEP/results.jsonl (and the figure) from what the point directories hold;
    run nothing. The same table as `run_sweep` writes, whoever ran the points."""
    out = Path(out)
    probe = spec.probe if probe is None else probe
    everything = spec.points()
    configs = validate(spec, everything)
    result = SweepResult(out)
    result.statuses = {p.name: point_status(out / p.name, probe) for p in everything}
    result.rows = write_results(spec, out, everything, configs, probe=probe)
    if figure and wants_figure(spec, everything):
        _draw_figure(result, out, everything)
    return result


def _draw_figure(result: SweepResult, out: Path, points: Sequence[Point]) -> None:
    from probekit.sweeps.appendix_d import write_appendix_d

    result.appendix_d = write_appendix_d(out, [out / p.name for p in points])
    result.figure = result.appendix_d["png"]


def wants_figure(spec: SweepSpec, points: Sequence[Point]) -> bool:
    """Whether the sweep gets the Appendix-D figure: asked for, or a grid over tasks.k × tasks.n."""
    if spec.figure == "appendix_d":
        return True
    if spec.figure == "none":
        return False
    keys = {k for p in points for k in p.overrides}
    return {"tasks.k", "tasks.n"} <= keys


# --------------------------------------------------------------------------- commands


def launch_commands(spec: SweepSpec, out: str | Path, points: Iterable[Point]) -> list[str]:
    """Per point (each seed its own point), the `accelerate launch` training command and the
    probe command, shell-quoted."""
    import shlex

    out = Path(out)
    lines = []
    for point in points:
        run_dir = out / point.name
        train = ["accelerate", "launch", "-m", "probekit.train"]
        if spec.base is not None:
            train += ["--config", _display(spec.base)]
        train += ["--run-dir", str(run_dir), "--no-progress"]
        for key, value in point_tags(spec, point).items():  # the trackers' tags
            train += ["--tag", to_override(key, value)]
        train += [*spec.overrides, *point.args()]
        line = shlex.join(train)
        if spec.probe:
            line += " && " + shlex.join(
                ["probekit", "probe", str(run_dir), "--out", str(run_dir / "probe")]
            )
        lines.append(line)
    return lines


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(spec: SweepSpec, out: str | Path, points: Sequence[Point]) -> str:
    """A plain-text listing of the points, their directories and status (for --dry-run)."""
    out = Path(out)
    lines = [f"sweep {spec.name}: {len(points)} points, base {spec.base}, out {out}"]
    for point in points:
        lines.append(f"  [{point_status(out / point.name, spec.probe):7s}] {point.name}")
    return "\n".join(lines)
