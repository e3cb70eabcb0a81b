"""Markdown results tables from sweep directories: every cell read from the sweeps' files.

    python scripts/results_tables.py runs/sweeps/alt_basis runs/sweeps/mild_bias
    python scripts/results_tables.py runs/sweeps/* --figures docs/figures --readme README.md
    python scripts/results_tables.py runs/sweeps/ssl --out results.md

Per sweep: the command that produced it, its seeds, one row per grid point (seeds pooled:
mean [lo, hi], Student's t 95 % over seeds; categories counted), every point whatever its
status, the errors of failed runs. `--figures DIR` copies each sweep's figures into DIR and
links them; `--readme FILE` replaces the text between `<!-- results:begin -->` and
`<!-- results:end -->` in FILE. The logic lives in `probekit.sweeps.tables`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from probekit.sweeps.tables import replace_between_markers, results_markdown


def main(argv: list[str] | None = None) -> int:
    """Write the tables to stdout, --out or between the markers of --readme."""
    parser = argparse.ArgumentParser(
        prog="scripts/results_tables.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sweep_dirs", nargs="+", help="directories written by `probekit sweep`")
    parser.add_argument("--figures", help="copy each sweep's figures (*.png) here and link them")
    parser.add_argument(
        "--readme", help="replace the text between the results markers of this file"
    )
    parser.add_argument("--out", help="write the Markdown to this file (default: stdout)")
    args = parser.parse_args(argv)
    target = args.readme or args.out
    link_from = Path(target).parent if target else Path.cwd()
    given = ["python", "scripts/results_tables.py", *(argv if argv is not None else sys.argv[1:])]
    try:
        text = results_markdown(
            args.sweep_dirs,
            figures_dir=args.figures,
            link_from=link_from,
            generated_by=shlex.join(given),
        )
        if args.readme:
            replace_between_markers(args.readme, text)
            print(f"wrote the tables of {len(args.sweep_dirs)} sweep(s) into {args.readme}")
        if args.out:
            Path(args.out).write_text(text)
            print(f"wrote {args.out}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not target:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
