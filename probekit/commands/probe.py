"""`probekit probe`: probe a checkpoint layer by layer for the latents, with controls.

probekit probe runs/x --out runs/x/probe                     # regenerate from the spec
probekit probe runs/x/final --data data/default --out OUT    # a generated dataset
probekit probe user/model --out OUT                          # a Hub repo id
probekit probe MODEL_DIR --text-dataset DIR --text-column text --label-columns a,b --out OUT
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit probe`."""
    parser.add_argument("checkpoint", help="run directory, its final/ directory, or a Hub repo id")
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        help="a `probekit generate` directory (default: regenerate "
        "world, tasks and inputs from the checkpoint's probekit_spec.json)",
    )
    src.add_argument("--text-dataset", help="a labelled `datasets` dataset saved with save_to_disk")
    parser.add_argument("--text-column", default="text", help="text column of --text-dataset")
    parser.add_argument(
        "--label-columns",
        type=_csv,
        default=[],
        help="comma-separated label columns of --text-dataset",
    )
    parser.add_argument(
        "--control-type-column",
        help="column of --text-dataset whose values are the control task's types, e.g. a "
        "subject noun (default: each text's first token)",
    )
    parser.add_argument("--split", help="dataset split (default: probe/test/validation/train)")
    parser.add_argument("--out", help="output directory (default: RUN/probe for a run directory)")
    parser.add_argument(
        "--sites", type=_csv, help="comma-separated sites, e.g. embed,layer.4 (default: all)"
    )
    parser.add_argument(
        "--position",
        help="auto | sep | last_x | mean_x | cls | index:K (default: auto, where the model "
        "reads its answers: CLS for BERT-style encoders, SEP for decoders)",
    )
    parser.add_argument("--probes", type=_csv, help="comma-separated: linear,mlp (default: linear)")
    parser.add_argument(
        "--controls",
        type=_csv,
        help="comma-separated subset of random_init,input,alt_basis,control_task",
    )
    parser.add_argument("--seed", type=int, help="split / control seed (default: the spec's)")
    parser.add_argument("--revision", help="Hub revision when CHECKPOINT is a repo id")
    parser.add_argument("--cache-dir", help="activation cache (default: OUT/cache)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _default_out(checkpoint: str) -> Path | None:
    path = Path(checkpoint)
    return path / "probe" if (path / "final").is_dir() else None


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print the best-layer summary as one JSON line."""
    from probekit.probing.pipeline import probe_checkpoint

    out = args.out or _default_out(args.checkpoint)
    if out is None:
        print(
            "error: give --out DIR (where results.jsonl, summary.json and plots go).",
            file=sys.stderr,
        )
        return 2
    try:
        report = probe_checkpoint(
            args.checkpoint,
            data=args.data,
            text_dataset=args.text_dataset,
            text_column=args.text_column,
            label_columns=args.label_columns,
            control_type_column=args.control_type_column,
            split=args.split,
            out=out,
            sites=args.sites,
            position=args.position,
            probes=args.probes,
            seed=args.seed,
            controls=args.controls,
            cache_dir=args.cache_dir,
            revision=args.revision,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"out": str(report.out), "best_layer": report.summary["best_layer"]}, default=str
        )
    )
    return 0
