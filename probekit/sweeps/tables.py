"""Markdown results tables generated from sweep directories, every cell read from the files.

One concept: what `scripts/results_tables.py` writes. Per sweep directory, `sweep_markdown`
reads `sweep.json` (the grid, every point, the seeds) and `results.jsonl` (one row per point
× seed × metric), pools the seeds of each grid point (`probekit.sweeps.aggregate`) and writes
the command that produced the sweep, its seeds, one table row per grid point, the errors of
failed runs and, when asked, links to its figures copied into a folder. Every point of
`sweep.json` has a row, whatever its status (a point absent from results.jsonl is read from
its directory); disagreeing and undecided outcomes are cells like any other.
`replace_between_markers` puts the tables between `<!-- results:begin -->` and
`<!-- results:end -->` of a README, atomically.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from probekit.sweeps.aggregate import (
    ROW_COLUMNS,
    SEED_COLUMNS,
    PointSummary,
    aggregate_rows,
    format_metric,
)
from probekit.sweeps.results import point_status
from probekit.training.run_dir import atomic_write_text, read_jsonl
from synthetic.config import load_yaml

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

# (metric of results.jsonl, column header); every table has these, in this order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("task_acc", "task acc (train inputs)"),
    ("task_acc_heldout", "task acc (held-out)"),
    ("probe.acc_z", "probe z"),
    ("probe.latents_recovered", "latents recovered"),
    ("probe.acc_alt_basis", "T(z) control"),
    ("probe.controls.random_init", "random-init control"),
    ("probe.mcc_units", "MCC units"),
    ("probe.rung", "rung"),
    ("probe.seen.acc_z", "probe z (train inputs)"),
    ("probe.seen.latents_recovered", "latents recovered (train inputs)"),
    ("probe.seen.mcc_units", "MCC units (train inputs)"),
    ("theory.expected_recovery", "theory"),
    ("verdict", "outcome (held-out)"),
    ("verdict.agrees", "agrees"),
    ("verdict.seen", "outcome (train inputs)"),
    ("verdict.seen.agrees", "agrees (train inputs)"),
)
EXTRA_BEFORE = "theory.expected_recovery"  # where a preset's own columns go
# A preset's own columns, by sweep name.
PRESET_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "appendix_d": (("identification_error", "identification error (last eval)"),),
    "alt_basis": (("probe.alt_latents_recovered", "T(z) latents recovered"),),
    "no_free_lunch": (("probe.alt_latents_recovered", "T(z) latents recovered"),),
    "ssl": (("probe.alt_latents_recovered", "T(z) latents recovered"),),
    "mild_bias": (("probe.selectivity", "selectivity"),),
    "architecture": (("probe.site", "best site"),),
}
STATUS_WORDS = {
    "done": "done",
    "failed": "failed",
    "partial": "unfinished (stopped during training)",
    "trained": "trained, not probed",
    "new": "not started",
}
LEGEND = """\
Columns (the `results.jsonl` metric in brackets): task accuracy on the model's training
inputs (`task_acc`) and on inputs held out from training (`task_acc_heldout`); the probe's
held-out accuracy on z at the best layer (`probe.acc_z`); how many latents have an accuracy
interval above those of the same latent read by an untrained copy and by the raw input
(`probe.latents_recovered`); the alternative-basis control,
the probe's accuracy on a recoding T(z) (`probe.acc_alt_basis`); the random-init control,
the probe's accuracy on z in an untrained copy (`probe.controls.random_init`); the MCC of
the site's units (`probe.mcc_units`); the identifiability rung (`probe.rung`); the same
probe z, latents and MCC on the model's own training inputs, held out from the probe only
(`probe.seen.*`; for a random-bijection world the only scope where anything can be
learned: the map on unseen inputs is arbitrary); the theory's
prediction (`theory.expected_recovery`); the outcome and whether it agrees with the
prediction, on held-out inputs (`verdict`, `verdict.agrees`) and on training inputs
(`verdict.seen`, `verdict.seen.agrees`); `seeds`: how many runs the row pools.
With several seeds a number is `mean [lo, hi]`, Student's t 95 % interval over seeds (not
clipped to [0, 1]), and a category the count of each value (`recovered ×2, partial ×1`);
`(1 of 2 seeds)`: the other runs lack the value. With one seed, `probe z` gives its 95 %
interval over test inputs. `n/a`: the outcome cannot be compared with the prediction
(undecided, or partial against "yes"). An empty cell: not measured (the run did not finish
or was not probed)."""


def columns_for(sweep: str) -> list[tuple[str, str]]:
    """The metric columns of a sweep's table: COLUMNS with the preset's own ones inserted."""
    out = list(COLUMNS)
    at = [m for m, _ in out].index(EXTRA_BEFORE)
    out[at:at] = PRESET_COLUMNS.get(sweep, ())
    return out


# --------------------------------------------------------------------------- reading


def read_sweep(sweep_dir: str | Path) -> tuple[dict, list[dict]]:
    """sweep.json and the rows of results.jsonl, every point of sweep.json among them (a point
    results.jsonl lacks gets a `status` row read from its directory), in sweep.json's order."""
    sweep_dir = Path(sweep_dir)
    info_path = sweep_dir / "sweep.json"
    if not info_path.is_file():
        raise FileNotFoundError(
            f"{sweep_dir} has no sweep.json; pass a directory written by `probekit sweep`."
        )
    info = json.loads(info_path.read_text())
    rows = read_jsonl(sweep_dir / "results.jsonl")
    by_point: dict[str, list[dict]] = {}
    for row in rows:
        by_point.setdefault(str(row.get("point")), []).append(row)
    columns = _axis_columns(info, rows)
    seeded = bool(info.get("seeds")) or any("seed" in r for r in rows)
    ordered = []
    for entry in info.get("points", []):
        name = entry["name"]
        if name in by_point:
            ordered.extend(by_point.pop(name))
            continue
        status = point_status(sweep_dir / entry.get("dir", name), info.get("probe", True))
        row = {"sweep": info.get("name"), "point": name}
        row.update({k: entry.get("overrides", {}).get(k) for k in columns})
        if seeded:
            row["seed"] = entry.get("seed")
        ordered.append({**row, "metric": "status", "value": status})
    for rest in by_point.values():  # rows of points sweep.json does not list
        ordered.extend(rest)
    return info, ordered


def _axis_columns(info: Mapping, rows: Sequence[Mapping]) -> list[str]:
    if rows:
        return [k for k in rows[0] if k not in ROW_COLUMNS and k != "seed"]
    keys = [k for axes in info.get("blocks", []) for axis in axes for k in axis["keys"]]
    return list(dict.fromkeys(keys))


def sweep_command(info: Mapping, sweep_dir: Path) -> str:
    """`probekit sweep --config configs/sweeps/NAME.yaml` (with --out when not the default)."""
    path = info.get("sweep_file")
    shown = _from_repo(Path(path)) if path else f"<the sweep file of {info.get('name')}>"
    cmd = ["probekit", "sweep", "--config", shown]
    default = Path("runs") / "sweeps" / str(info.get("name"))
    if Path(sweep_dir).parts[-len(default.parts) :] != default.parts:
        cmd += ["--out", str(sweep_dir)]
    if info.get("probe") is False and path and Path(path).is_file():
        if (load_yaml(Path(path)) or {}).get("probe", True) is not False:
            cmd.append("--no-probe")
    return shlex.join(cmd)


def _from_repo(path: Path) -> str:
    for parent in path.parents:
        if (parent / "pyproject.toml").is_file():
            return path.relative_to(parent).as_posix()
    return str(path)


def seeds_line(info: Mapping) -> str:
    """What the seeds of a sweep were, in words."""
    if info.get("seeds"):
        seeds = ", ".join(str(s) for s in info["seeds"])
        return f"seeds {seeds} (each run sets train.seed and probe.seed to its seed)"
    for axes in info.get("blocks", []):
        for axis in axes:
            for i, key in enumerate(axis["keys"]):
                if key in SEED_COLUMNS:
                    values = ", ".join(str(v[i]) for v in axis["values"])
                    return f"seeds {values} (a {key} axis of the grid)"
    return "one seed per point (the config's train.seed)"


# --------------------------------------------------------------------------- writing


def _axis_cell(value: Any, present: bool) -> str:
    if not present:
        return "–"  # the axis is not part of this point's grid (a union of grids)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _status_cell(summary: Mapping | None) -> str:
    if not summary:
        return "not in results.jsonl"
    words = {STATUS_WORDS.get(s, str(s)): c for s, c in summary["counts"].items()}
    if summary["n"] == 1:
        return next(iter(words))
    return ", ".join(f"{w} ×{c}" for w, c in words.items())


def _acc_z_cell(point: PointSummary) -> str:
    acc = point.metrics.get("probe.acc_z")
    text = format_metric(acc, point.n_seeds)
    ci = point.metrics.get("probe.acc_z_ci")
    if acc and acc["n"] == 1 and point.n_seeds == 1 and ci and ci["n"] == 1:
        value = ci["values"][0]
        if isinstance(value, list) and len(value) == 2 and None not in value:
            text += f" (test inputs [{value[0]:.3f}, {value[1]:.3f}])"
    return text


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def points_table(info: Mapping, rows: Sequence[Mapping]) -> tuple[str, list[PointSummary]]:
    """The Markdown table of one sweep: one row per grid point, its seeds pooled."""
    points = aggregate_rows(rows)
    axes = [k for k in _axis_columns(info, rows) if k not in SEED_COLUMNS]
    overrides = {p["name"]: p.get("overrides", {}) for p in info.get("points", [])}
    metrics = columns_for(str(info.get("name")))
    header = [*axes, "status", "seeds", *(h for _, h in metrics)]
    lines = [_md_row(header), "|" + "---|" * len(header)]
    for p in points:
        given = overrides.get(p.runs[0])
        cells = [_axis_cell(p.axes.get(k), given is None or k in given) for k in axes]
        cells += [_status_cell(p.metrics.get("status")), str(p.n_seeds)]
        for metric, _ in metrics:
            if metric == "probe.acc_z":
                cells.append(_acc_z_cell(p))
            else:
                cells.append(format_metric(p.metrics.get(metric), p.n_seeds))
        lines.append(_md_row(cells))
    return "\n".join(lines), points


def copy_figures(sweep_dir: Path, name: str, figures_dir: Path) -> list[Path]:
    """Copy SWEEP/*.png into `figures_dir` as NAME.png (the figure named after the sweep) or
    NAME_<figure>.png, each through a temporary file; the copies, in name order."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for png in sorted(Path(sweep_dir).glob("*.png")):
        dest = figures_dir / (f"{name}.png" if png.stem == name else f"{name}_{png.stem}.png")
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.copyfile(png, tmp)
        os.replace(tmp, dest)
        copies.append(dest)
    return copies


def sweep_markdown(
    sweep_dir: str | Path,
    *,
    figures_dir: str | Path | None = None,
    link_from: str | Path = ".",
    heading: str = "###",
) -> str:
    """The Markdown of one sweep directory: heading, command, seeds, table, failures, figures."""
    sweep_dir = Path(sweep_dir)
    info, rows = read_sweep(sweep_dir)
    name = str(info.get("name") or sweep_dir.name)
    table, points = points_table(info, rows)
    runs = sum(p.n_seeds for p in points)
    statuses: dict[str, int] = {}
    for p in points:
        for status, count in (p.metrics.get("status") or {"counts": {}})["counts"].items():
            word = STATUS_WORDS.get(status, str(status))
            statuses[word] = statuses.get(word, 0) + count
    title = f"{heading} `{name}`" + (f": {info['description']}" if info.get("description") else "")
    out = [
        title,
        "",
        f"`{sweep_command(info, sweep_dir)}`; {seeds_line(info)}; {len(points)} grid points, "
        f"{runs} runs: " + ", ".join(f"{c} {s}" for s, c in statuses.items()) + ".",
        "",
        table,
    ]
    errors = [r for r in rows if r.get("metric") == "error"]
    if errors:
        out += ["", "Failed runs:", ""]
        out += [f"- `{r['point']}`: {str(r.get('value')).strip()}" for r in errors]
    paper = sweep_dir / "appendix_d.json"
    if paper.is_file():
        from probekit.sweeps.appendix_d import format_table

        out += ["", f"Identification error beside the paper's Appendix D (`{paper.name}`):", ""]
        out.append(format_table(json.loads(paper.read_text()).get("table", [])))
    if figures_dir is not None:
        for png in copy_figures(sweep_dir, name, Path(figures_dir)):
            link = Path(os.path.relpath(png, Path(link_from))).as_posix()
            out += ["", f"![{name}: {png.stem}]({link})"]
    return "\n".join(out) + "\n"


def results_markdown(
    sweep_dirs: Sequence[str | Path],
    *,
    figures_dir: str | Path | None = None,
    link_from: str | Path = ".",
    generated_by: str | None = None,
) -> str:
    """The Markdown of several sweeps: where it came from, the legend, then each sweep."""
    if not sweep_dirs:
        raise ValueError("No sweep directory given.")
    parts = [f"<!-- generated by {generated_by}; edit the sweeps, not this text -->"]
    parts = (parts if generated_by else []) + [LEGEND]
    for sweep_dir in sweep_dirs:
        text = sweep_markdown(sweep_dir, figures_dir=figures_dir, link_from=link_from)
        parts.append(text.rstrip("\n"))
    return "\n\n".join(parts) + "\n"


def replace_between_markers(path: str | Path, text: str) -> Path:
    """Replace what lies between BEGIN and END in `path` with `text`, atomically."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    old = path.read_text()
    start, stop = old.find(BEGIN), old.find(END)
    if start < 0 or stop < 0 or stop < start:
        raise ValueError(
            f"{path} has no {BEGIN} ... {END} markers (begin before end); add them on lines of "
            "their own where the tables go."
        )
    if old.count(BEGIN) > 1 or old.count(END) > 1:
        raise ValueError(f"{path} has more than one {BEGIN} or {END} marker; keep one pair.")
    new = old[: start + len(BEGIN)] + "\n" + text.strip("\n") + "\n" + old[stop:]
    atomic_write_text(path, new)
    return path
