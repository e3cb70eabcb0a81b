"""`probekit probe`: probe a checkpoint layer by layer for the latents, with controls.

probekit probe runs/x --out runs/x/probe                     # regenerate from the spec
probekit probe runs/x/final --data data/default --out OUT    # a generated dataset
probekit probe user/model --out OUT                          # a Hub repo id
probekit probe MODEL_DIR --text-dataset DIR --text-column text --label-columns a,b --out OUT
probekit probe runs/x --json                # the best layers as one JSON line, not a table
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"out": ..., "best_layer": ...} as one JSON line instead of the table',
    )


def _default_out(checkpoint: str) -> Path | None:
    path = Path(checkpoint)
    return path / "probe" if (path / "final").is_dir() else None


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def format_summary(summary: dict, out: Path) -> str:
    """Per probe, a table of the layers (the reported split) and the layer chosen on validation."""
    from probekit.report.render import text_table

    family = summary.get("primary_family", "z")
    key, models = f"acc_{family}", summary["models"]
    scope = summary.get("scope", "seen")
    where = "the model never trained on" if scope == "unseen" else "of the model's training"
    d = summary.get("inputs", {}).get("d")
    lines = [
        f"probed {summary.get('checkpoint', '?')} at position {summary.get('position', '?')}; "
        f"accuracy on {summary.get('n_test', '?')} test inputs {where}, held out from the probe"
    ]
    for probe, sites in models.get("trained", {}).items():
        best = summary["best_layer"].get(probe) or {}
        untrained = models.get("random_init", {}).get(probe, {})
        cols = [("T(z)", "acc_alt_basis"), ("control task", "acc_control_task")]
        cols = [(name, k) for name, k in cols if any(k in v for v in sites.values())]
        rows = [
            [
                ("* " if site == best.get("site") else "  ") + site,
                _num(v.get(key)),
                _num(untrained.get(site, {}).get(key)),
                *(_num(v.get(k)) for _, k in cols),
                _num(v.get("mcc_units")),
                str(v.get("rung", "–")),
            ]
            for site, v in sites.items()
        ]
        raw = models.get("input", {}).get(probe, {}).get("input", {}).get(key)
        if raw is not None:
            rows.append(["  raw input", _num(raw), "–", *("–" for _ in cols), "–", "–"])
        header = ["  layer", family, f"{family}, untrained", *(n for n, _ in cols), "MCC units"]
        header.append("rung")
        lines += ["", f"{probe} probe, held-out accuracy:", text_table(header, rows)]
        if best:
            ci = best.get(f"{key}_ci")
            recovered = best.get("latents_recovered")
            lines.append(
                f"* chosen on validation inputs: {best['site']}, {family} {_num(best.get(key))}"
                + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
                + ("" if recovered is None else f"; latents recovered: {recovered}")
                + ("" if recovered is None or d is None else f" of {d}")
            )
    lines += ["", f"wrote {out}: results.jsonl, summary.json, plots (--json: the best layers)"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print the per-layer table (or the best layers as one JSON line)."""
    from probekit.probing.pipeline import probe_checkpoint

    out = args.out or _default_out(args.checkpoint)
    if out is None:
        raise ValueError("Give --out DIR (where results.jsonl, summary.json and plots go).")
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
    if args.json:
        best = report.summary["best_layer"]
        print(json.dumps({"out": str(report.out), "best_layer": best}, default=str))
    else:
        print(format_summary(report.summary, report.out))
    return 0
