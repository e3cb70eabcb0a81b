"""Appendix D of Zhang, Chen & Chen (ICML 2025): identification error vs iterations, per task
degree k and number of tasks n, drawn from a sweep's run directories beside the paper's values.

    python -m probekit.sweeps.appendix_d runs/sweeps/appendix_d     # redraw from a finished sweep

What is plotted is each run's logged `identification_error` (`probekit.training.recovery`):
docs/theory.md §6 (standardised units, matched one-to-one to the latents, signs fixed; in
[0, 4], 2 for no correlation, MCC = 1 − error/2) of the model's representation layer of d units, the theory's
Φ: X → Z — the preset (configs/sweeps/appendix_d.yaml) sets `model.representation_dim` to
`world.d`, and the units are matched on training inputs and scored on held-out ones. A run
without that layer logs the error of its recovery probe's outputs instead. The paper's
error is an unpublished MSE that starts near 0.22, so only the trends (error falls as n
grows) are comparable, not values.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from probekit.probing.intervals import seed_interval
from probekit.theory.paper import PAPER_FINAL, PAPER_START, PAPER_STEPS
from probekit.training.run_dir import atomic_write_text

SCALE_NOTE = (
    "Ours: identification error (docs/theory.md §6) of the d units of the representation layer "
    "(model.representation_dim = d; standardised, Hungarian-matched on training inputs, scored "
    "held out; 2 is no correlation). Paper: an MSE of unpublished definition starting near 0.22 (right "
    "axis, hollow markers). Compare trends in n, not values. With several seeds: their mean, "
    "shaded by Student's t 95 % interval."
)


@dataclass
class Curve:
    """Identification error against step for one (k, n), averaged over `n_runs` runs (seeds);
    `lo`/`hi` bound Student's t 95 % interval of the mean over them (None with one run)."""

    steps: np.ndarray
    values: np.ndarray
    n_runs: int
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    @property
    def final(self) -> float:
        """The last value of the curve."""
        return float(self.values[-1])


def _run_kn(run_dir: Path) -> tuple[int, int]:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    tasks = cfg.get("tasks") or {}
    if "k" not in tasks or "n" not in tasks:
        raise ValueError(f"{run_dir}/config.yaml has no tasks.k and tasks.n.")
    return int(tasks["k"]), int(tasks["n"])


def _read_curve(run_dir: Path, metric: str) -> dict[int, float]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if row.get(metric) is not None:
            out[int(row["step"])] = float(row[metric])
    return out


def extract_curves(
    run_dirs: Iterable[str | Path], metric: str = "identification_error"
) -> dict[int, dict[int, Curve]]:
    """{k: {n: Curve}} from run directories (config.yaml + metrics.jsonl); runs sharing (k, n),
    e.g. seeds, are averaged on the steps they all logged, with Student's t 95 % interval of
    the mean at every step. Runs without metrics are skipped."""
    grouped: dict[tuple[int, int], list[dict[int, float]]] = {}
    for run_dir in map(Path, run_dirs):
        if not (run_dir / "config.yaml").is_file() or not (run_dir / "metrics.jsonl").is_file():
            continue
        curve = _read_curve(run_dir, metric)
        if curve:
            grouped.setdefault(_run_kn(run_dir), []).append(curve)
    out: dict[int, dict[int, Curve]] = {}
    for (k, n), curves in sorted(grouped.items()):
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        if not steps:
            continue
        per_step = [seed_interval([c[s] for c in curves]) for s in steps]
        values = np.array([i["mean"] for i in per_step])
        lo = hi = None
        if len(curves) > 1:
            lo = np.array([i["lo"] for i in per_step])
            hi = np.array([i["hi"] for i in per_step])
        out.setdefault(k, {})[n] = Curve(np.array(steps), values, len(curves), lo, hi)
    return out


def final_table(curves: Mapping[int, Mapping[int, Curve]]) -> list[dict]:
    """One row per (k, n): our first and final error, the paper's final value, and steps."""
    rows = []
    for k in sorted(curves):
        for n in sorted(curves[k]):
            c = curves[k][n]
            rows.append(
                {
                    "k": k,
                    "n": n,
                    "ours_start": float(c.values[0]),
                    "ours_final": c.final,
                    "ours_final_lo": None if c.lo is None else float(c.lo[-1]),
                    "ours_final_hi": None if c.hi is None else float(c.hi[-1]),
                    "paper_final": PAPER_FINAL.get(k, {}).get(n),
                    "final_step": int(c.steps[-1]),
                    "n_runs": c.n_runs,
                }
            )
    return rows


def trends(curves: Mapping[int, Mapping[int, Curve]]) -> dict[int, dict]:
    """Per k: whether the final error falls from the fewest to the most tasks, ours and the
    paper's, and the Spearman rank correlation of our finals with the paper's across n."""
    from scipy.stats import spearmanr

    out = {}
    for k, by_n in curves.items():
        ns = sorted(by_n)
        ours = [by_n[n].final for n in ns]
        paper_ns = [n for n in ns if n in PAPER_FINAL.get(k, {})]
        entry = {"n": ns, "ours_falls_with_n": bool(len(ns) > 1 and ours[-1] < ours[0])}
        if len(paper_ns) > 1:
            paper = [PAPER_FINAL[k][n] for n in paper_ns]
            entry["paper_falls_with_n"] = bool(paper[-1] < paper[0])
            if len(paper_ns) > 2:
                rho = spearmanr([by_n[n].final for n in paper_ns], paper).statistic
                entry["spearman_with_paper"] = None if np.isnan(rho) else float(rho)
        out[k] = entry
    return out


def plot_appendix_d(curves: Mapping[int, Mapping[int, Curve]], path: str | Path) -> Path:
    """One panel per k, one curve per n (the mean over seeds, shaded: its 95 % interval), with
    the paper's final values at the right edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("No identification-error curves to draw (no metrics.jsonl found).")
    ks = sorted(curves)
    all_n = sorted(
        {n for k in ks for n in curves[k]} | {n for k in ks for n in PAPER_FINAL.get(k, {})}
    )
    colours = {n: plt.cm.viridis(i / max(len(all_n) - 1, 1)) for i, n in enumerate(all_n)}
    fig, axes = plt.subplots(1, len(ks), figsize=(4.6 * len(ks), 4.6), squeeze=False)
    for ax, k in zip(axes[0], ks, strict=True):
        right = ax.twinx()
        for n in sorted(curves[k]):
            c = curves[k][n]
            label = f"n = {n}" + (f" ({c.n_runs} seeds)" if c.n_runs > 1 else "")
            ax.plot(c.steps, c.values, color=colours[n], marker="o", ms=2.5, label=label)
            if c.lo is not None:
                ax.fill_between(c.steps, c.lo, c.hi, color=colours[n], alpha=0.2, lw=0)
        for n, value in sorted(PAPER_FINAL.get(k, {}).items()):
            right.plot(
                1.0,
                value,
                "o",
                mfc="none",
                mec=colours[n],
                ms=8,
                mew=1.8,
                transform=right.get_yaxis_transform(),
                clip_on=False,
            )
        right.set_ylim(0, 0.3)
        right.set_ylabel("paper's final value (their MSE)", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_title(f"task degree k = {k}")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        table = [
            [f"{n}", f"{curves[k][n].final:.3f}", _fmt(PAPER_FINAL.get(k, {}).get(n))]
            for n in sorted(curves[k])
        ]
        ax.table(
            cellText=table,
            colLabels=["n", "ours", "paper"],
            loc="bottom",
            bbox=[0.15, -0.55, 0.7, 0.33],
        )
    axes[0][0].set_ylabel("identification error (ours, docs/theory.md §6)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Identification error vs iterations (Appendix D of Zhang et al., 2025)")
    fig.text(0.5, 0.01, SCALE_NOTE, ha="center", fontsize=8, wrap=True)
    fig.subplots_adjust(bottom=0.36, top=0.86, wspace=0.45)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _sweep_runs(sweep_dir: Path) -> list[Path]:
    info = sweep_dir / "sweep.json"
    if info.is_file():
        return [sweep_dir / p["dir"] for p in json.loads(info.read_text()).get("points", [])]
    return sorted(p for p in sweep_dir.iterdir() if (p / "metrics.jsonl").is_file())


def write_appendix_d(sweep_dir: str | Path, run_dirs: Iterable[str | Path] | None = None) -> dict:
    """Draw SWEEP/appendix_d.png and write SWEEP/appendix_d.json (our finals beside the paper's)."""
    sweep_dir = Path(sweep_dir)
    runs = list(run_dirs) if run_dirs is not None else _sweep_runs(sweep_dir)
    # On inputs the model trained on (held out from the probe) when the runs logged it: with
    # inputs held out of training behind a random bijection, the never-seen curve is at
    # 2 (no correlation) by construction.
    seen = extract_curves(runs, metric="identification_error_seen")
    curves = seen or extract_curves(runs)
    png = plot_appendix_d(curves, sweep_dir / "appendix_d.png")
    report = {
        "png": png,
        "table": final_table(curves),
        "trends": trends(curves),
        "paper": {"final": PAPER_FINAL, "start": PAPER_START, "steps": PAPER_STEPS},
        "note": SCALE_NOTE,
        "inputs": "training inputs held out from the probe" if seen else "as logged",
    }
    atomic_write_text(sweep_dir / "appendix_d.json", json.dumps(report, indent=2, default=str))
    return report


def format_table(rows: Iterable[Mapping]) -> str:
    """A Markdown table of `final_table` rows."""
    lines = [
        "| k | n | runs | ours start | ours final | paper final |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        final = f"{r['ours_final']:.3f}"
        if r.get("ours_final_lo") is not None:
            final += f" [{r['ours_final_lo']:.3f}, {r['ours_final_hi']:.3f}]"
        lines.append(
            f"| {r['k']} | {r['n']} | {r.get('n_runs', 1)} | {r['ours_start']:.3f} | {final} | "
            f"{_fmt(r['paper_final'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Redraw the figure of a sweep directory and print the table."""
    parser = argparse.ArgumentParser(
        prog="probekit.sweeps.appendix_d", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sweep_dir", help="a `probekit sweep` output directory")
    args = parser.parse_args(argv)
    try:
        report = write_appendix_d(args.sweep_dir)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_table(report["table"]))
    print(f"figure: {report['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
