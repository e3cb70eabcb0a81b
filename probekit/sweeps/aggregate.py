"""Several seeds per sweep point: results rows grouped by grid point, pooled over seeds.

One concept: the step from `results.jsonl` (one row per point × seed × metric) to one
entry per grid point. `aggregate_rows` groups the rows on every column except the seed
columns (`seed`, and `train.seed` / `probe.seed` where a sweep varies them as an axis),
the run's own `point` name and `metric`/`value`. Per metric, `summarize_values` turns
the values of the seeds into the mean with Student's t 95 % interval
(`probekit.probing.intervals.seed_interval`) when they are numbers, and into the count
of each value otherwise (`verdict`, `verdict.agrees`, `probe.rung`, `status`, ...).
`format_metric` writes either as a table cell: `0.912 [0.871, 0.953]`,
`recovered ×2, partial ×1`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from probekit.probing.intervals import seed_interval

SEED_COLUMNS = ("seed", "train.seed", "probe.seed")  # what differs between seeds of a point
ROW_COLUMNS = ("sweep", "point", "metric", "value")  # what is not an axis of the grid
WORDS = {True: "yes", False: "no", None: "n/a"}
_SEED_SUFFIX = re.compile(r"__seed-\d+$")


@dataclass
class PointSummary:
    """One grid point of a sweep with its seeds pooled."""

    sweep: str | None
    name: str  # the grid point's name: the runs' names without `__seed-<s>`
    axes: dict[str, Any]  # the grid's columns (seed columns excluded) -> value
    runs: list[str] = field(default_factory=list)  # the runs pooled (point names), in order
    seeds: list[Any] = field(default_factory=list)  # each run's seed (None when not recorded)
    metrics: dict[str, dict] = field(default_factory=dict)  # metric -> summarize_values(...)

    @property
    def n_seeds(self) -> int:
        """How many runs (seeds) the point pools."""
        return len(self.runs)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def summarize_values(values: Sequence[Any]) -> dict:
    """The values one metric took over the seeds of a point, pooled.

    Numbers (None ignored): `{"kind": "numeric", "mean", "lo", "hi", "n", "values"}`, the
    mean with Student's t 95 % interval over the seeds (`lo`/`hi` None with one seed).
    Text, booleans and None: `{"kind": "categorical", "counts": {value: count}, "n",
    "values"}`, the most frequent first (ties in order of first appearance). Anything
    else (lists, such as an interval): `{"kind": "other", "n", "values"}`."""
    values = list(values)
    present = [v for v in values if v is not None]
    if present and all(_is_number(v) for v in present):
        return {"kind": "numeric", **seed_interval(present), "values": values}
    if all(v is None or isinstance(v, (str, bool)) for v in values):
        counts: dict[Any, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        order = sorted(counts, key=lambda v: -counts[v])  # stable: first seen wins ties
        return {
            "kind": "categorical",
            "counts": {v: counts[v] for v in order},
            "n": len(values),
            "values": values,
        }
    return {"kind": "other", "n": len(values), "values": values}


def grid_name(point: str) -> str:
    """A run's grid point: `tasks.n=4__seed-1` -> `tasks.n=4`; a `train.seed=`/`probe.seed=`
    part of the name (a seed given as a grid axis) is dropped too."""
    name = _SEED_SUFFIX.sub("", point)
    parts = [p for p in name.split("__") if not p.startswith(("train.seed=", "probe.seed="))]
    return "__".join(parts) or "base"


def run_seed(row: Mapping[str, Any]) -> Any:
    """The seed of the run a row belongs to: its `seed` column, else a seed axis column."""
    for column in SEED_COLUMNS:
        if column in row:
            return row[column]
    return None


def aggregate_rows(rows: Iterable[Mapping[str, Any]]) -> list[PointSummary]:
    """Rows of results.jsonl grouped by grid point (every column except the seed columns,
    the run name and metric/value), in order of first appearance; per metric the values of
    the point's runs pooled by `summarize_values` (a run without the metric adds nothing)."""
    groups: dict[tuple, PointSummary] = {}
    per_run: dict[tuple, dict[str, dict[str, Any]]] = {}
    for row in rows:
        axes = {k: v for k, v in row.items() if k not in ROW_COLUMNS + SEED_COLUMNS}
        key = (
            row.get("sweep"),
            tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in axes.items())),
        )
        run = str(row.get("point"))
        if key not in groups:
            groups[key] = PointSummary(row.get("sweep"), grid_name(run), axes)
            per_run[key] = {}
        if run not in per_run[key]:
            per_run[key][run] = {}
            groups[key].runs.append(run)
            groups[key].seeds.append(run_seed(row))
        per_run[key][run][row["metric"]] = row.get("value")
    for key, group in groups.items():
        runs = per_run[key]
        metrics = list(dict.fromkeys(m for values in runs.values() for m in values))
        for metric in metrics:
            values = [runs[r][metric] for r in group.runs if metric in runs[r]]
            group.metrics[metric] = summarize_values(values)
    return list(groups.values())


def _num(x: float, integral: bool, digits: int) -> str:
    if integral and float(x).is_integer():
        return str(int(x))
    return f"{x:.{digits}f}"


def format_metric(summary: Mapping | None, n_runs: int | None = None, digits: int = 3) -> str:
    """A table cell: `mean [lo, hi]` (one seed: the value), `value ×count, ...` (one run: the
    value), "" when nothing was measured; `(k of n seeds)` when only k of `n_runs` runs have
    the metric."""
    if not summary or summary.get("n", 0) == 0:
        return ""
    if summary["kind"] == "numeric":
        integral = all(isinstance(v, int) for v in summary["values"] if v is not None)
        text = _num(summary["mean"], integral, digits)
        if summary["lo"] is not None:
            lo, hi = (_num(summary[k], integral, digits) for k in ("lo", "hi"))
            text += f" [{lo}, {hi}]"
    elif summary["kind"] == "categorical":
        counts = summary["counts"]
        if summary["n"] == 1:
            text = word(next(iter(counts)))
        else:
            text = ", ".join(f"{word(v)} ×{c}" for v, c in counts.items())
    else:
        text = "; ".join(json.dumps(v, default=str) for v in summary["values"])
    if n_runs and summary["n"] < n_runs:
        text += f" ({summary['n']} of {n_runs} seeds)"
    return text


def word(value: Any) -> str:
    """A categorical value as written in a table: booleans as yes/no, None as n/a."""
    if isinstance(value, bool) or value is None:
        return WORDS[value]
    return str(value)
