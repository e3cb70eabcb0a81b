"""`probekit report`: an HTML page and a Markdown file for a run, a sweep or a directory of runs.

probekit report runs/x                  # writes runs/x/report/report.html and report.md
probekit report sweeps/appendix_d --out reports/appendix_d
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit report`."""
    parser.add_argument("path", help="a run directory, a sweep directory or a directory of runs")
    parser.add_argument("--out", help="output directory (default: PATH/report)")


def run(args: argparse.Namespace) -> int:
    """Write the report and print where it is, as one JSON line."""
    from probekit.report.document import write_report

    try:
        paths = write_report(args.path, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"html": str(paths.html), "markdown": str(paths.markdown)}))
    return 0
