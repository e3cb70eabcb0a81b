"""Causal accuracy by layer beside probe accuracy, over seeds: train, then `probekit intervene`.

    python scripts/causal_study.py configs/default.yaml configs/gpt2.yaml --seeds 0 1 2 \
        --out runs/causal_study --markdown runs/causal_study/causal_study.md \
        --figure docs/figures/causal_vs_probe.png --readme README.md

Each (config, seed) trains into OUT/<config>/seed<N> (train.seed and probe.seed set to the
seed; a finished run is reused), is intervened on (`probekit.probing.causal`, written to
RUN/intervene; reused when there) and timed. The Markdown table gives, per config, position,
scope and site, the trained model's probe accuracy on z, the counterfactual accuracy of
steering, interchange and the random-direction control, the no-change baseline, the share
of answers that flip as they should, and LEACE's erasure on the tasks that depend on z_i:
with several seeds the mean and Student's t 95 % interval over seeds, with one seed the
95 % interval over test inputs. Sites where the probe decodes z but the model does not use
it (`probekit.probing.causal_summary`'s cut-offs) are listed below the table.

`--figure` draws, per config and scope, probe accuracy on z and the share of answers that
flip as they should under steering, interchange and the random direction, by layer (mean
and interval over seeds). `--readme` writes the tables and the figure between the
`<!-- causal:begin -->` and `<!-- causal:end -->` markers of that file, replacing what was
there, so the README's causal results always come from runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from probekit.config import load_experiment
from probekit.probing.causal import intervene_checkpoint
from probekit.probing.intervals import seed_interval
from probekit.training.loop import train
from probekit.training.run_dir import atomic_write_text

COLUMNS = [
    ("probe z", "acc_z"),
    ("steer", "steer_cf_acc"),
    ("interchange", "interchange_cf_acc"),
    ("random dir.", "random_direction_cf_acc"),
    ("no change", "none_cf_acc"),
    ("flips: steer", "steer_flip"),
    ("flips: interchange", "interchange_flip"),
    ("flips: random", "random_direction_flip"),
    ("erase: dep. before", "erase_acc_dep_before"),
    ("erase: dep. after", "erase_acc_dep"),
    ("reachable w/o z_i", "erase_reachable_dep"),
    ("erase: other tasks after", "erase_acc_indep"),
]
CI_KEYS = {"acc_z": "acc_z_ci", "steer_cf_acc": "steer_cf_acc_ci"}
CI_KEYS |= {k: f"{k}_ci" for k in ("interchange_cf_acc", "random_direction_cf_acc")}
CI_KEYS["erase_acc_dep"] = "erase_acc_dep_ci"


def run_point(config: str, seed: int, out: Path, steps: int | None) -> dict:
    """Train (unless done) and intervene (unless done) one seed; the summary and the timings."""
    name = Path(config).stem
    run_dir = out / name / f"seed{seed}"
    overrides = [f"train.seed={seed}", f"probe.seed={seed}"]
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    timing = {}
    if not (run_dir / "final" / "config.json").exists():
        start = time.perf_counter()
        train(load_experiment(config, overrides), run_dir, progress=False)
        timing["train_s"] = time.perf_counter() - start
    summary_path = run_dir / "intervene" / "summary.json"
    if not summary_path.exists():
        start = time.perf_counter()
        intervene_checkpoint(run_dir, out=run_dir / "intervene", progress=False)
        timing["intervene_s"] = time.perf_counter() - start
    times = run_dir / "intervene" / "timing.json"
    if timing:
        old = json.loads(times.read_text()) if times.exists() else {}
        atomic_write_text(times, json.dumps({**old, **timing}))
    timing = json.loads(times.read_text()) if times.exists() else {}
    return {"summary": json.loads(summary_path.read_text()), "timing": timing}


def _cell(entries: list[dict], key: str) -> str:
    values = [e.get(key) for e in entries if e.get(key) is not None]
    if not values:
        return "–"
    if len(entries) == 1:
        ci = entries[0].get(CI_KEYS.get(key, ""))
        return f"{values[0]:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    s = seed_interval(values)
    return f"{s['mean']:.3f} [{s['lo']:.2f}, {s['hi']:.2f}]"


def _view(summary: dict, position: str, scope: str) -> dict:
    from probekit.probing.causal_summary import headline_row

    sites = summary["models"]["trained"].get(position, {}).get(scope, {})
    return {site: headline_row(e) for site, e in sites.items()}


def table(config: str, points: list[dict]) -> list[str]:
    """The Markdown lines for one config: a table per position and scope, then flagged sites."""
    first = points[0]["summary"]
    lines = [f"### `{config}`", ""]
    seeds = len(points)
    train_s = [p["timing"].get("train_s") for p in points if p["timing"].get("train_s")]
    iv_s = [p["timing"].get("intervene_s") for p in points if p["timing"].get("intervene_s")]
    lines.append(
        f"{seeds} seed(s); training {sum(train_s) / max(len(train_s), 1) / 60:.1f} min and "
        f"`probekit intervene` {sum(iv_s) / max(len(iv_s), 1) / 60:.1f} min per seed "
        "(mean over the seeds timed in this invocation; 2-core CPU, one thread)."
    )
    for position in first["positions"]:
        for scope in first["scopes"]:
            views = [_view(p["summary"], position, scope) for p in points]
            lines += ["", f"Position `{position}`, `{scope}` inputs:", ""]
            lines.append("| site | " + " | ".join(c for c, _ in COLUMNS) + " |")
            lines.append("|---" * (len(COLUMNS) + 1) + "|")
            for site in views[0]:
                entries = [v[site] for v in views if site in v]
                cells = [_cell(entries, key) for _, key in COLUMNS]
                lines.append(f"| {site} | " + " | ".join(cells) + " |")
    flagged = [
        f"seed {i}: {f['site']} ({f['position']}, {f['scope']}), probe z {f['acc_z']:.2f}, "
        f"flips steer {f['steer_flip']:.2f} / interchange {f['interchange_flip']:.2f}"
        for i, p in enumerate(points)
        for f in p["summary"].get("decodable_not_used", [])
    ]
    lines += ["", "Decodable but not used: " + ("; ".join(flagged) if flagged else "none.")]
    return lines


FIGURE_SERIES = [
    ("probe accuracy on z", "acc_z", "-"),
    ("flips: steer", "steer_flip", "-"),
    ("flips: interchange", "interchange_flip", "--"),
    ("flips: random direction", "random_direction_flip", ":"),
]


def figure(studies: list[tuple[str, list[dict]]], path: Path) -> None:
    """Probe accuracy and causal flips by layer, one panel per (config, scope), first position."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scopes = studies[0][1][0]["summary"]["scopes"]
    fig, axes = plt.subplots(
        len(studies), len(scopes), figsize=(5.2 * len(scopes), 3.4 * len(studies)), squeeze=False
    )
    for row, (config, points) in enumerate(studies):
        position = points[0]["summary"]["positions"][0]
        for col, scope in enumerate(scopes):
            ax = axes[row][col]
            views = [_view(p["summary"], position, scope) for p in points]
            sites = list(views[0])
            for label, key, style in FIGURE_SERIES:
                stats = [
                    seed_interval([v[s][key] for v in views if v.get(s, {}).get(key) is not None])
                    for s in sites
                ]
                mean = [st["mean"] for st in stats]
                # One seed has no interval over seeds: no error bar then.
                lo = [0.0 if st["lo"] is None else st["mean"] - st["lo"] for st in stats]
                hi = [0.0 if st["hi"] is None else st["hi"] - st["mean"] for st in stats]
                ax.errorbar(sites, mean, yerr=[lo, hi], ls=style, marker="o", ms=3, label=label)
            ax.axhline(0.5, color="grey", lw=0.6)
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(f"{Path(config).stem}: {scope} inputs ({len(points)} seeds)", fontsize=9)
            ax.tick_params(labelsize=8)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Probe accuracy on z against the causal effect of editing along the probe")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


BEGIN, END = "<!-- causal:begin -->", "<!-- causal:end -->"


def write_readme(readme: Path, lines: list[str], figure_path: Path | None) -> None:
    """Replace the README's causal block with `lines` (and the figure), atomically."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme} has no {BEGIN} ... {END} block; add the two markers.")
    body = [
        line.replace("### `", "#### `", 1) if line.startswith("### `") else line
        for line in lines[2:]
    ]  # drop the document title: the README has its own
    if figure_path is not None:
        rel = figure_path.resolve().relative_to(readme.resolve().parent)
        body = [f"![Probe accuracy against causal flips by layer]({rel.as_posix()})", ""] + body
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    atomic_write_text(readme, head + BEGIN + "\n" + "\n".join(body).strip() + "\n" + END + tail)


def main(argv: list[str] | None = None) -> int:
    """Train and intervene every config × seed, then write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", help="experiment YAML files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("runs/causal_study"))
    parser.add_argument("--markdown", type=Path, help="default: OUT/causal_study.md")
    parser.add_argument("--steps", type=int, help="override train.steps (a quick look)")
    parser.add_argument("--figure", type=Path, help="write the by-layer figure here")
    parser.add_argument("--readme", type=Path, help="write tables and figure into this file")
    args = parser.parse_args(argv)
    lines = ["## Causal accuracy by layer (`scripts/causal_study.py`)", ""]
    studies = []
    for config in args.configs:
        points = [run_point(config, seed, args.out, args.steps) for seed in args.seeds]
        studies.append((config, points))
        lines += table(config, points) + [""]
    if args.figure:
        figure(studies, args.figure)
        print(f"wrote {args.figure}")
    if args.readme:
        write_readme(args.readme, lines, args.figure)
        print(f"wrote the causal block of {args.readme}")
    md = args.markdown or args.out / "causal_study.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(md, "\n".join(lines))
    print(f"wrote {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
