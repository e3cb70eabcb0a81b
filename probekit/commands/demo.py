"""`probekit demo`: the whole pipeline in one command, resumable.

probekit demo                   # about 10 minutes on 2 CPU cores; writes demo/report/
probekit demo --quick --out /tmp/demo-quick    # a tiny world, seconds
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit demo`."""
    parser.add_argument("--out", default="demo", help="output directory (default: ./demo)")
    parser.add_argument("--quick", action="store_true", help="a tiny world that runs in seconds")
    parser.add_argument("--config", help="another experiment YAML to use as the preset")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "overrides", nargs="*", help="dotted overrides of the preset, e.g. train.steps=3000"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its verdict table and where the report is."""
    from probekit.demo import run_demo

    run_demo(
        args.out,
        quick=args.quick,
        config=args.config,
        overrides=args.overrides,
        progress=not args.no_progress,
        threads=None,  # set once for every command by `--threads` (probekit.cli)
    )
    return 0
