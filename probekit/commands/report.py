"""`probekit report`: an HTML page and a Markdown file for a run, a sweep or a directory of runs.

probekit report runs/x                  # writes runs/x/report/report.html and report.md
probekit report sweeps/appendix_d --out reports/appendix_d
probekit report runs/x --json           # where the files are, as one JSON line
"""

from __future__ import annotations

import argparse
import json

# The verdict table's columns printed on the terminal (the report has them all).
COLUMNS = (
    "run",
    "predicted",
    "task acc.",
    "probe z [95% CI]",
    "latents recovered",
    "outcome",
    "agrees",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit report`."""
    parser.add_argument("path", help="a run directory, a sweep directory or a directory of runs")
    parser.add_argument("--out", help="output directory (default: PATH/report)")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"html": ..., "markdown": ...} as one JSON line instead of the table',
    )


def format_result(paths) -> str:
    """The report's title, its verdict table (main columns) and where the files are."""
    from probekit.report.render import text_table

    lines = [paths.title]
    table = paths.verdicts
    if table is not None and table.rows:
        keep = [table.header.index(c) for c in COLUMNS if c in table.header]
        lines += [
            "",
            text_table([table.header[i] for i in keep], [[r[i] for i in keep] for r in table.rows]),
            "",
        ]
    lines += [f"report: {paths.html}", f"        {paths.markdown}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Write the report and print its verdicts and where it is (or one JSON line)."""
    from probekit.report.document import write_report

    paths = write_report(args.path, args.out)
    if args.json:
        print(json.dumps({"html": str(paths.html), "markdown": str(paths.markdown)}))
    else:
        print(format_result(paths))
    return 0
