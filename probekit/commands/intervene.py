"""`probekit intervene`: does the model use what the probe finds? Causal tests per site and latent.

probekit intervene runs/x                     # writes runs/x/intervene
probekit intervene runs/x --out OUT --sites embed,layer.3 --positions readout
probekit intervene runs/x --json              # the per-site headline numbers as one JSON line
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _floats(value: str) -> list[float]:
    try:
        return [float(v) for v in _csv(value)]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {value!r}"
        ) from err


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated latents, got {value!r}"
        ) from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit intervene`."""
    parser.add_argument("checkpoint", help="run directory, its final/ directory, or a Hub repo id")
    parser.add_argument(
        "--out", help="output directory (default: RUN/intervene for a run directory)"
    )
    parser.add_argument(
        "--sites", type=_csv, help="comma-separated sites, e.g. embed,layer.3 (default: all)"
    )
    parser.add_argument(
        "--positions",
        type=_csv,
        help="transformers: comma-separated subset of readout,x (the read-out token SEP / CLS, "
        "or every x token; default: both)",
    )
    parser.add_argument(
        "--scales",
        type=_floats,
        default=None,
        help="steering scales in typical probe margins (default: 0.5,1,2,4; chosen on "
        "validation inputs)",
    )
    parser.add_argument("--latents", type=_ints, help="comma-separated latents (default: all)")
    parser.add_argument(
        "--max-inputs",
        type=int,
        default=256,
        help="at most this many validation and test inputs per scope (default: 256)",
    )
    parser.add_argument(
        "--no-random-init", action="store_true", help="skip the untrained-copy control"
    )
    parser.add_argument("--seed", type=int, help="split seed (default: the spec's probe seed)")
    parser.add_argument("--revision", help="Hub revision when CHECKPOINT is a repo id")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--json", action="store_true", help='print {"out": ..., "sites": ...} as one JSON line'
    )


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def format_summary(summary: dict, out: Path) -> str:
    """The headline view (trained model, first position, headline scope) as a table."""
    from probekit.report.render import text_table

    head = summary["headline"]
    rows = [
        [
            site,
            _num(e["acc_z"]),
            _num(e["task_acc"]),
            _num(e["steer_cf_acc"]),
            _num(e["interchange_cf_acc"]),
            _num(e["random_direction_cf_acc"]),
            _num(e["none_cf_acc"]),
            f"{_num(e['erase_acc_dep_before'])} -> {_num(e['erase_acc_dep'])} "
            f"({_num(e['erase_reachable_dep'])})",
        ]
        for site, e in summary["sites"].items()
    ]
    header = ["site", "probe z", "task acc", "steer", "interchange", "random dir", "no change"]
    header.append("erase: dep. tasks (reachable)")
    lines = [
        f"intervened on {summary.get('checkpoint', '?')}: position {head['position']}, "
        f"{head['scope']} inputs; counterfactual accuracy over (input, latent, task) pairs",
        text_table(header, rows),
    ]
    flagged = summary.get("decodable_not_used") or []
    for f in flagged:
        lines.append(
            f"decodable but not used: {f['site']} ({f['position']}, {f['scope']}): probe z "
            f"{f['acc_z']:.2f}, answers that flip as they should: steer {_num(f['steer_flip'])}, "
            f"interchange {_num(f['interchange_flip'])}"
        )
    lines.append(f"wrote {out}: results.jsonl, summary.json, causal_vs_probe.png")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the interventions and print the per-site table (or one JSON line)."""
    from probekit.probing.causal import intervene_checkpoint
    from probekit.probing.interventions import DEFAULT_SCALES

    out = args.out
    if out is None:
        path = Path(args.checkpoint)
        if not (path / "final").is_dir():
            raise ValueError("Give --out DIR (where results.jsonl, summary.json and the plot go).")
        out = path / "intervene"
    if args.max_inputs < 2:
        raise ValueError(f"--max-inputs must be at least 2, got {args.max_inputs}.")
    report = intervene_checkpoint(
        args.checkpoint,
        out=out,
        sites=args.sites,
        positions=args.positions,
        scales=args.scales or DEFAULT_SCALES,
        latents=args.latents,
        seed=args.seed,
        max_inputs=args.max_inputs,
        controls=() if args.no_random_init else ("random_init",),
        revision=args.revision,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps({"out": str(report.out), "sites": report.summary["sites"]}))
    else:
        print(format_summary(report.summary, report.out))
    return 0
