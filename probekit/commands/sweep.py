"""`probekit sweep`: a grid of training + probing runs from a sweep file, resumably.

probekit sweep --config configs/sweeps/appendix_d.yaml                 # run / continue
probekit sweep --config configs/sweeps/appendix_d.yaml --dry-run       # list points
probekit sweep --config configs/sweeps/appendix_d.yaml --only tasks.k=2,tasks.n=64
probekit sweep --config configs/sweeps/appendix_d.yaml --print-commands  # for a scheduler
probekit sweep --config configs/sweeps/appendix_d.yaml --only seed=1     # one seed of each point

A sweep file with `seeds: [0, 1, 2]` runs every grid point once per seed; each (point, seed)
is a point of its own for --dry-run and --print-commands, and the table printed at the end
pools the seeds of each grid point (mean [lo, hi], Student's t 95 % over seeds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit sweep`."""
    parser.add_argument("--config", required=True, help="a sweep YAML (see configs/sweeps/)")
    parser.add_argument("--out", help="sweep directory (default: runs/sweeps/<sweep name>)")
    parser.add_argument(
        "--dry-run", action="store_true", help="validate every point and list them; run nothing"
    )
    parser.add_argument(
        "--only",
        help="run only points matching key=value[,key=value] on the sweep's axes (or seed=S)",
    )
    parser.add_argument(
        "--print-commands",
        action="store_true",
        help="print one `accelerate launch ... && probekit probe ...` line per point and seed; "
        "run nothing",
    )
    parser.add_argument("--no-probe", action="store_true", help="train only, skip probing")
    parser.add_argument(
        "--no-figure", action="store_true", help="do not draw the Appendix-D figure"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Validate the sweep, then list, print or run its points."""
    import dataclasses

    from probekit.sweeps.results import summary_table
    from probekit.sweeps.runner import describe, launch_commands, run_sweep
    from probekit.sweeps.spec import load_sweep, parse_only, select, validate

    spec = load_sweep(args.config)
    if args.no_probe:
        spec = dataclasses.replace(spec, probe=False)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    points = select(spec, parse_only(args.only))
    validate(spec, points)
    if args.print_commands:
        print("\n".join(launch_commands(spec, out, points)))
        return 0
    if args.dry_run:
        print(describe(spec, out, points))
        return 0
    start = time.time()
    result = run_sweep(
        spec,
        out,
        only=parse_only(args.only),
        progress=not args.no_progress,
        figure=not args.no_figure,
    )
    print(summary_table(result.rows))
    if result.appendix_d:
        from probekit.sweeps.appendix_d import format_table

        print(format_table(result.appendix_d["table"]))
    summary = {
        "out": str(out),
        "points": len(points),
        "ran": len(result.ran),
        "skipped": sum(s == "done" for s in result.statuses.values()),
        "failed": result.failures,
        "results": str(out / "results.jsonl"),
        "figure": str(result.figure) if result.figure else None,
        "seconds": round(time.time() - start, 1),
    }
    print(json.dumps(summary))
    return 1 if result.failures else 0
