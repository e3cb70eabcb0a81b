"""Causal accuracy by layer beside probe accuracy, over seeds: train, then `probekit intervene`.

    python scripts/causal_study.py configs/default.yaml configs/gpt2.yaml --seeds 0 1 2 \
        --out runs/causal_study --markdown runs/causal_study/causal_study.md

Each (config, seed) trains into OUT/<config>/seed<N> (train.seed and probe.seed set to the
seed; a finished run is reused), is intervened on (`probekit.probing.causal`, written to
RUN/intervene; reused when there) and timed. The Markdown table gives, per config, position,
scope and site, the trained model's probe accuracy on z, the counterfactual accuracy of
steering, interchange and the random-direction control, the no-change baseline, the share
of answers that flip as they should, and LEACE's erasure on the tasks that depend on z_i:
with several seeds the mean and Student's t 95 % interval over seeds, with one seed the
95 % interval over test inputs. Sites where the probe decodes z but the model does not use
it (`probekit.probing.causal_summary`'s cut-offs) are listed below the table.
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
        times.write_text(json.dumps({**old, **timing}))
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


def main(argv: list[str] | None = None) -> int:
    """Train and intervene every config × seed, then write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="+", help="experiment YAML files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("runs/causal_study"))
    parser.add_argument("--markdown", type=Path, help="default: OUT/causal_study.md")
    parser.add_argument("--steps", type=int, help="override train.steps (a quick look)")
    args = parser.parse_args(argv)
    lines = ["## Causal accuracy by layer (`scripts/causal_study.py`)", ""]
    for config in args.configs:
        points = [run_point(config, seed, args.out, args.steps) for seed in args.seeds]
        lines += table(config, points) + [""]
    md = args.markdown or args.out / "causal_study.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(lines))
    print(f"wrote {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
