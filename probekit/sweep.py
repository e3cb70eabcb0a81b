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
    probe: true                    # run `probekit probe` on each finished point

`grids: [{grid: ..., zip: ...}, ...]` instead of `grid`/`zip` takes the union of several
grids (for combinations that only make sense together). Each point runs in
`SWEEP/<key=value__key=value>`; a point with `final/` and `probe/summary.json` is
skipped, an interrupted one resumes from its checkpoints, so a killed sweep continues.
`SWEEP/results.jsonl` is the long-form table (one row per point × metric) and
`SWEEP/sweep.json` describes the grid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probekit.config import ExperimentConfig, load_experiment
from probekit.run_dir import atomic_write_text
from synthetic.config import apply_overrides, load_yaml

SWEEP_KEYS = ("name", "description", "base", "overrides", "grid", "zip", "grids", "probe", "figure")
BLOCK_KEYS = ("grid", "zip")
FIGURES = ("auto", "appendix_d", "none")
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 150


class SweepError(ValueError):
    """A sweep file or a point of it is invalid; raised before any run starts."""


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: one key (plain) or several keys that change together (zipped)."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # one tuple per position, aligned with `keys`


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its directory name and its overrides, in axis order."""

    name: str
    overrides: dict[str, Any]

    def args(self) -> list[str]:
        """The point's overrides as `key=value` strings for `load_experiment`."""
        return [to_override(k, v) for k, v in self.overrides.items()]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    name: str
    base: Path | None
    overrides: tuple[str, ...]
    blocks: tuple[tuple[Axis, ...], ...]
    probe: bool = True
    figure: str = "auto"
    description: str = ""
    path: Path | None = None

    def points(self) -> list[Point]:
        """Every point of every block, in order, without duplicates."""
        seen: dict[str, Point] = {}
        for axes in self.blocks:
            for combo in itertools.product(*(axis.values for axis in axes)):
                overrides = {}
                for axis, values in zip(axes, combo, strict=True):
                    overrides.update(zip(axis.keys, values, strict=True))
                point = Point(point_name(overrides), overrides)
                seen.setdefault(point.name, point)
        return list(seen.values())

    def axis_keys(self) -> list[str]:
        """Every key some axis varies, in first-seen order."""
        keys = [k for axes in self.blocks for axis in axes for k in axis.keys]
        return list(dict.fromkeys(keys))

    def config(self, point: Point) -> ExperimentConfig:
        """The full experiment config of one point (strict: unknown keys are errors)."""
        return load_experiment(self.base, [*self.overrides, *point.args()])

    def to_dict(self) -> dict:
        """A JSON-ready description of the sweep (for sweep.json)."""
        return {
            "name": self.name,
            "description": self.description,
            "sweep_file": str(self.path) if self.path else None,
            "base": str(self.base) if self.base else None,
            "overrides": list(self.overrides),
            "blocks": [
                [{"keys": list(a.keys), "values": [list(v) for v in a.values]} for a in axes]
                for axes in self.blocks
            ],
            "probe": self.probe,
            "figure": self.figure,
        }


# --------------------------------------------------------------------------- names


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_name(overrides: Mapping[str, Any]) -> str:
    """`key=value__key=value`; a short hash is appended when the name had to be shortened."""
    raw = "__".join(f"{k}={_fmt(v)}" for k, v in overrides.items()) or "base"
    safe = _SAFE.sub("-", raw)
    if safe != raw or len(safe) > _MAX_NAME:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        safe = f"{safe[:_MAX_NAME]}-{digest}"
    return safe


def to_override(key: str, value: Any) -> str:
    """`key=value` that `apply_overrides` parses back to exactly `value`."""
    text = value if isinstance(value, str) else json.dumps(value)
    item = f"{key}={text}"
    parsed = _parse_value(item, key)
    if parsed != value and isinstance(value, str):
        item = f"{key}={json.dumps(value)}"  # a string YAML would read as something else
        parsed = _parse_value(item, key)
    if parsed != value:
        raise SweepError(f"{key}: the value {value!r} cannot be written as an override.")
    return item


def _parse_value(item: str, key: str) -> Any:
    node = apply_overrides({}, [item])
    for part in key.split("."):
        node = node[part]
    return node


# --------------------------------------------------------------------------- parsing


def _repo_root(start: Path) -> Path | None:
    for parent in (start, *start.parents):
        if (parent / "pyproject.toml").exists():
            return parent
    return None


def _resolve_base(base: str, sweep_file: Path | None) -> Path:
    path = Path(base)
    if path.is_absolute():
        tried = [path]
    else:
        tried = []
        if sweep_file is not None:
            tried.append(sweep_file.parent / path)
            root = _repo_root(sweep_file.resolve().parent)
            if root is not None:
                tried.append(root / path)
        tried.append(Path.cwd() / path)
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise SweepError(
        f"base config {base!r} not found (tried {', '.join(str(t) for t in tried)}); give a "
        "path relative to the sweep file or to the repository."
    )


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", key):
        raise SweepError(f"{where}: {key!r} is not a dotted config key such as tasks.k.")
    return key


def _values(key: str, values: Any, where: str) -> list:
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}.{key} must be a non-empty list of values, got {values!r}.")
    return values


def _parse_block(block: Any, where: str) -> tuple[Axis, ...]:
    if not isinstance(block, Mapping):
        raise SweepError(f"{where} must be a mapping with grid: and/or zip:, got {block!r}.")
    unknown = sorted(set(block) - set(BLOCK_KEYS))
    if unknown:
        raise SweepError(f"Unknown key '{where}.{unknown[0]}'. Known keys: {', '.join(BLOCK_KEYS)}")
    axes = []
    grid = block.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise SweepError(f"{where}.grid must map config keys to lists of values, got {grid!r}.")
    for key, values in grid.items():
        key = _key(key, f"{where}.grid")
        axes.append(Axis((key,), tuple((v,) for v in _values(key, values, f"{where}.grid"))))
    zipped = block.get("zip") or []
    if isinstance(zipped, Mapping):
        zipped = [zipped]
    for i, group in enumerate(zipped):
        here = f"{where}.zip[{i}]"
        if not isinstance(group, Mapping) or not group:
            raise SweepError(f"{here} must map config keys to equally long lists, got {group!r}.")
        keys = tuple(_key(k, here) for k in group)
        columns = [_values(k, group[k], here) for k in keys]
        lengths = {k: len(c) for k, c in zip(keys, columns, strict=True)}
        if len(set(lengths.values())) != 1:
            raise SweepError(
                f"{here}: zipped keys change together and need lists of one length, got {lengths}."
            )
        axes.append(Axis(keys, tuple(zip(*columns, strict=True))))
    keys = [k for axis in axes for k in axis.keys]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise SweepError(f"{where}: {repeated[0]!r} appears on more than one axis.")
    if not axes:
        raise SweepError(f"{where} has no axis; add grid: {{key: [values]}} or zip:.")
    return tuple(axes)


def parse_sweep(data: Mapping[str, Any], path: str | Path | None = None) -> SweepSpec:
    """Build a SweepSpec from a sweep file's dict (strict keys)."""
    path = Path(path) if path is not None else None
    if not isinstance(data, Mapping):
        raise SweepError(f"A sweep file must be a mapping, got {type(data).__name__}.")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"Unknown key '{unknown[0]}'. Known keys: {', '.join(SWEEP_KEYS)}")
    base = _resolve_base(data["base"], path) if data.get("base") else None
    raw = data.get("overrides") or {}
    if isinstance(raw, Mapping):
        overrides = tuple(to_override(_key(k, "overrides"), v) for k, v in raw.items())
    elif isinstance(raw, list) and all(isinstance(s, str) and "=" in s for s in raw):
        overrides = tuple(raw)
    else:
        raise SweepError(f"overrides must map keys to values or list key=value, got {raw!r}.")
    if "grids" in data:
        if "grid" in data or "zip" in data:
            raise SweepError("Give either grids: (a list of grids) or grid:/zip:, not both.")
        if not isinstance(data["grids"], list) or not data["grids"]:
            raise SweepError(f"grids must be a non-empty list of grids, got {data['grids']!r}.")
        blocks = tuple(_parse_block(b, f"grids[{i}]") for i, b in enumerate(data["grids"]))
    else:
        blocks = (_parse_block({k: data[k] for k in BLOCK_KEYS if k in data}, "sweep"),)
    figure = data.get("figure", "auto")
    if figure not in FIGURES:
        raise SweepError(f"figure={figure!r} is unknown. Available: {', '.join(FIGURES)}")
    probe = data.get("probe", True)
    if not isinstance(probe, bool):
        raise SweepError(f"probe must be true or false, got {probe!r}.")
    name = data.get("name") or (path.stem if path else "sweep")
    return SweepSpec(
        name=str(name),
        base=base,
        overrides=overrides,
        blocks=blocks,
        probe=probe,
        figure=figure,
        description=str(data.get("description", "")),
        path=path.resolve() if path else None,
    )


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and parse a sweep YAML file."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"Sweep file {path} does not exist; see configs/sweeps/ for presets.")
    return parse_sweep(load_yaml(path), path)


def parse_only(text: str | Sequence[str] | None) -> dict[str, Any]:
    """`k=v,k=v` (or a list of `k=v`) into {key: value} with YAML-parsed values."""
    if not text:
        return {}
    items = text.split(",") if isinstance(text, str) else list(text)
    out = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"--only {item!r} must look like key=value, e.g. tasks.k=2.")
        key = item.split("=", 1)[0].strip()
        out[key] = _parse_value(item.strip(), key)
    return out


def select(spec: SweepSpec, only: Mapping[str, Any] | None = None) -> list[Point]:
    """The points whose overrides match every `only` key (keys must be axes of the sweep)."""
    points = spec.points()
    if not only:
        return points
    axes = spec.axis_keys()
    unknown = [k for k in only if k not in axes]
    if unknown:
        raise SweepError(
            f"--only {unknown[0]!r} is not an axis of this sweep. Axes: {', '.join(axes)}"
        )
    chosen = [p for p in points if all(p.overrides.get(k) == v for k, v in only.items())]
    if not chosen:
        raise SweepError(f"--only {dict(only)} matches no point of this sweep.")
    return chosen


def validate(spec: SweepSpec, points: Iterable[Point]) -> dict[str, ExperimentConfig]:
    """Build every point's config before anything runs; the first bad point raises SweepError."""
    from probekit.models.factory import data_format_for

    configs = {}
    for point in points:
        try:
            cfg = spec.config(point)
            formats = data_format_for(cfg.model.kind)
        except (ValueError, KeyError, TypeError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise SweepError(f"point {point.name}: {msg}") from err
        if cfg.data.format not in formats:
            raise SweepError(
                f"point {point.name}: model.kind={cfg.model.kind!r} trains on data.format in "
                f"{list(formats)}, got {cfg.data.format!r}; zip model.kind with data.format."
            )
        configs[point.name] = cfg
    return configs


# --------------------------------------------------------------------------- running


def point_status(run_dir: Path, probe: bool) -> str:
    """'done', 'trained' (final/ but no probe yet), 'partial' (started) or 'new'."""
    if (run_dir / "final").is_dir():
        if not probe or (run_dir / "probe" / "summary.json").is_file():
            return "done"
        return "trained"
    if (run_dir / "config.yaml").exists():
        return "partial"
    return "new"


def probe_run(run_dir: Path, *, progress: bool = False) -> Path:
    """Probe a finished run layer by layer into RUN/probe (the one call into probekit.probing)."""
    from probekit.probing import probe_checkpoint

    out = Path(run_dir) / "probe"
    probe_checkpoint(Path(run_dir), out=out, progress=progress)
    return out


def _train(cfg: ExperimentConfig, run_dir: Path) -> Any:
    from probekit.train import train

    return train(cfg, run_dir, resume=True, progress=False)


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


def write_sweep_json(spec: SweepSpec, out: Path, points: Sequence[Point]) -> Path:
    """SWEEP/sweep.json: the grid, every point and its directory; refuses a different base."""
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
    train_fn = train_fn or _train
    probe_fn = probe_fn or probe_run
    points = select(spec, only)
    configs = validate(spec, points)  # every error surfaces before the first run
    write_sweep_json(spec, out, points)
    result = SweepResult(out)
    cache: dict[str, dict] = {}
    bar = tqdm(points, desc=f"sweep {spec.name}", unit="point", disable=not progress)
    for point in bar:
        run_dir = out / point.name
        status = point_status(run_dir, probe)
        result.statuses[point.name] = status
        bar.set_postfix_str(point.name)
        if status != "done":
            try:
                trained = False
                if status in ("new", "partial"):
                    train_fn(configs[point.name], run_dir)
                    trained = True
                if probe and (trained or status == "trained"):
                    probe_fn(run_dir)
                result.ran.append(point.name)
                (run_dir / "error.txt").unlink(missing_ok=True)
            except Exception as err:  # one failed point must not stop the others
                result.failures[point.name] = f"{type(err).__name__}: {err}"
                run_dir.mkdir(parents=True, exist_ok=True)
                atomic_write_text(run_dir / "error.txt", result.failures[point.name] + "\n")
        result.rows = write_results(
            spec, out, points, configs, failures=result.failures, probe=probe, cache=cache
        )
    bar.close()
    if figure and wants_figure(spec, points):
        from probekit.appendix_d import write_appendix_d

        result.appendix_d = write_appendix_d(out, [out / p.name for p in points])
        result.figure = result.appendix_d["png"]
    return result


# --------------------------------------------------------------------------- results

TRAIN_METRICS = {
    "final_step": "step",
    "task_acc": "eval_acc",
    "eval_loss": "eval_loss",
    "probe_acc_z": "probe_acc_z",
    "probe_acc_recoding": "probe_acc_recoding",
    "identification_error": "identification_error",
    "mcc": "mcc",
}
PROBE_METRICS = (
    "layer",
    "acc_z",
    "acc_recoding",
    "acc_control_task",
    "selectivity",
    "identification_error",
    "mcc",
    "random_init_acc_z",
    "input_acc_z",
)


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN
    return value


def _read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill
    return rows


def point_metrics(run_dir: Path, cfg: ExperimentConfig, cache: dict | None = None) -> dict:
    """{metric: value} of one finished point: last evaluation, best probe layer, theory, verdict.

    Text values (the probe's best site, the theory's and the verdict's reasons) are metrics
    of their own, so the table stays one row per point × metric with no ragged columns."""
    from probekit.theory import predict
    from probekit.verdict import verdict

    out: dict[str, Any] = {}
    last = (_read_metrics(run_dir) or [{}])[-1]
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
    key = json.dumps([cfg.world.to_dict(), cfg.tasks.to_dict()], sort_keys=True, default=str)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = predict(cfg)
    prediction = cache[key]
    threshold = prediction.get("threshold") or {}
    out["theory.expected_recovery"] = prediction["expected_recovery"]
    out["theory.reason"] = prediction.get("reason")
    out["theory.n_star"] = _number(threshold.get("n_star_exact") or threshold.get("n_star"))
    measured = {
        "task_acc": _number(last.get("eval_acc")),
        "probe_acc_z": best and best.get("acc_z"),
        "probe_acc_recoding": best and best.get("acc_recoding"),
        "probe_acc_random_init": best and best.get("random_init_acc_z"),
        "identification_error": best and best.get("identification_error"),
        "mcc": best and best.get("mcc"),
    }
    if all(measured[k] is not None for k in ("task_acc", "probe_acc_z", "probe_acc_recoding")):
        note = ""
        if measured["probe_acc_random_init"] is None:
            # without the random-init control the recoding control is the only baseline
            measured["probe_acc_random_init"] = measured["probe_acc_recoding"]
            note = " (no random-init control: the recoding control stands in for it)"
        v = verdict(prediction, measured)
        out["verdict"], out["verdict.reason"] = v["verdict"], v["reason"] + note
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
    """Rebuild SWEEP/results.jsonl from the point directories (one row per point × metric)."""
    failures = failures or {}
    probe = spec.probe if probe is None else probe
    columns = list(dict.fromkeys(k for p in points for k in p.overrides))
    rows = []
    for point in points:
        run_dir = out / point.name
        status = "failed" if point.name in failures else point_status(run_dir, probe)
        base = {"sweep": spec.name, "point": point.name}
        base.update({k: point.overrides.get(k) for k in columns})
        values: dict[str, Any] = {"status": status}
        if failures.get(point.name):
            values["error"] = failures[point.name]
        if (run_dir / "final").is_dir():
            values.update(point_metrics(run_dir, configs[point.name], cache))
        rows.extend({**base, "metric": m, "value": v} for m, v in values.items())
    atomic_write_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return rows


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
    """Per point, the `accelerate launch` training command and the probe command, shell-quoted."""
    import shlex

    out = Path(out)
    lines = []
    for point in points:
        run_dir = out / point.name
        train = ["accelerate", "launch", "-m", "probekit.train"]
        if spec.base is not None:
            train += ["--config", _display(spec.base)]
        train += ["--run-dir", str(run_dir), "--no-progress", *spec.overrides, *point.args()]
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


SUMMARY_COLUMNS = (
    "task_acc",
    "probe_acc_z",
    "identification_error",
    "probe.acc_z",
    "probe.acc_recoding",
    "verdict",
)


def summary_table(rows: Iterable[Mapping]) -> str:
    """A Markdown table, one line per point, of the headline numbers of a results table."""
    table: dict[str, dict] = {}
    for row in rows:
        table.setdefault(row["point"], {})[row["metric"]] = row["value"]
    header = ["point", "status", *SUMMARY_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for point, values in table.items():
        cells = [point] + [_cell(values.get(c)) for c in header[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def describe(spec: SweepSpec, out: str | Path, points: Sequence[Point]) -> str:
    """A plain-text listing of the points, their directories and status (for --dry-run)."""
    out = Path(out)
    lines = [f"sweep {spec.name}: {len(points)} points, base {spec.base}, out {out}"]
    for point in points:
        lines.append(f"  [{point_status(out / point.name, spec.probe):7s}] {point.name}")
    return "\n".join(lines)
