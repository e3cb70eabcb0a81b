"""`probekit train`: pretrain a model on proxy tasks (also `python -m probekit.train`).

accelerate launch -m probekit.train --config configs/default.yaml --run-dir runs/x
python -m probekit.train --config configs/default.yaml train.steps=500
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from probekit.config import load_experiment
from probekit.training.loop import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options shared by `python -m probekit.train` and `probekit train`."""
    parser.add_argument("--config", help="experiment YAML (default: built-in defaults)")
    parser.add_argument("--run-dir", help="where to write the run (default: runs/<config name>)")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="ignore checkpoints in the run directory and start over",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a finished run in --run-dir"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tag the run in its experiment trackers (repeatable; `probekit sweep` sets "
        "sweep=, point= and the point's parameters)",
    )
    parser.add_argument(
        "--log-batches",
        metavar="DIR",
        help="write, per process, a digest of every training example and its global index "
        "to DIR/process-<rank>.jsonl (to check that process counts train on the same data)",
    )
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=3e-4")


def predict_first(cfg, run_dir: str | Path, *, overwrite: bool = False) -> None:
    """Write RUN/prediction.json before training, never rewriting it.

    A verdict then always compares with what was predicted before the model was trained.
    `--overwrite` replaces the run, its prediction included. `train` calls it (on the main
    process) once every check has passed, so a refused run writes nothing.
    """
    from probekit.theory.predictions import PREDICTION_FILE, write_prediction

    if overwrite:
        (Path(run_dir) / PREDICTION_FILE).unlink(missing_ok=True)
    write_prediction(run_dir, cfg)


def parse_tags(items: list[str]) -> dict[str, object]:
    """`--tag key=value` items as {key: YAML-parsed value}."""
    import yaml

    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--tag {item!r} must look like key=value, e.g. --tag tasks.n=64.")
        tags[key.strip()] = yaml.safe_load(value) if value else ""
    return tags


def run(args: argparse.Namespace) -> int:
    """Run training from parsed arguments."""
    cfg = load_experiment(args.config, args.overrides)
    run_dir = args.run_dir or str(
        Path("runs") / (Path(args.config).stem if args.config else "default")
    )
    result = train(
        cfg,
        run_dir,
        resume=not args.no_resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        before_write=lambda: predict_first(cfg, run_dir, overwrite=args.overwrite),
        tags=parse_tags(args.tag),
        batch_log=args.log_batches,
    )
    summary = {
        k: round(v, 4) if isinstance(v, float) and math.isfinite(v) else v
        for k, v in result.metrics.items()
    }
    from accelerate import PartialState

    if PartialState().is_main_process:  # one summary, not one per process
        print(
            json.dumps({"run_dir": str(result.run_dir), "final": str(result.final_dir), **summary})
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m probekit.train` / `accelerate launch -m probekit.train`.

    The same as `probekit train ARGS`, errors included (one `error:` line, `--debug`).
    """
    from probekit.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
