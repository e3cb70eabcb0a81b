"""`probekit sweep`: a grid of training + probing runs from a sweep file, resumably.

probekit sweep --config configs/sweeps/appendix_d.yaml                 # run / continue
probekit sweep --config configs/sweeps/appendix_d.yaml --dry-run       # list points
probekit sweep --config configs/sweeps/appendix_d.yaml --only tasks.k=2,tasks.n=64
probekit sweep --config configs/sweeps/appendix_d.yaml --print-commands  # for a scheduler
probekit sweep --config configs/sweeps/appendix_d.yaml --only seed=1     # one seed of each point
probekit sweep --config configs/sweeps/appendix_d.yaml --launcher submitit  # a SLURM job array
probekit sweep --config configs/sweeps/appendix_d.yaml --collect         # the table, run nothing

A sweep file with `seeds: [0, 1, 2]` runs every grid point once per seed; each (point, seed)
is a point of its own for --dry-run and --print-commands, and the table printed at the end
pools the seeds of each grid point (mean [lo, hi], Student's t 95 % over seeds).

`--launcher submitit` submits the points that are neither done nor queued as one job array
(SLURM when `sbatch` is there, else local processes; `--cluster`, `--submitit KEY=VALUE`)
and returns; submitting again submits only what is missing or unfinished, `--wait` waits
for the jobs, and every call writes the same results.jsonl and table as a local sweep
(`probekit.sweeps.cluster`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml


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
    parser.add_argument(
        "--launcher",
        choices=("local", "submitit"),
        default="local",
        help="local: run the points here, one after another; submitit: one job per point "
        "(a SLURM job array), pre-empted jobs requeued from their last checkpoint",
    )
    parser.add_argument(
        "--cluster",
        default="auto",
        help="with --launcher submitit: auto (SLURM if sbatch is on PATH, else local "
        "processes), slurm, local or debug (in this process)",
    )
    parser.add_argument(
        "--submitit",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a submitit executor parameter (repeatable), e.g. timeout_min=60, "
        "gpus_per_node=1, slurm_partition=gpu, slurm_array_parallelism=32",
    )
    parser.add_argument(
        "--wait", action="store_true", help="with --launcher submitit: wait for the jobs"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="rebuild results.jsonl and print the table from the sweep directory; run nothing",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the sweep, then list, print or run its points."""
    import dataclasses

    from probekit.sweeps.results import summary_table
    from probekit.sweeps.runner import collect_results, describe, launch_commands, run_sweep
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
    if args.collect:
        return _report(collect_results(spec, out, figure=not args.no_figure), out, {})
    if args.launcher == "submitit":
        return _submit(args, spec, out)
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


def _submit(args: argparse.Namespace, spec, out: Path) -> int:
    """`--launcher submitit`: submit what is missing, optionally wait, write the table."""
    from probekit.sweeps.cluster import make_executor, submit_sweep, wait_for
    from probekit.sweeps.runner import collect_results
    from probekit.sweeps.spec import SweepError, parse_only

    parameters = {}
    for item in args.submitit:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SweepError(f"--submitit {item!r} must look like KEY=VALUE, e.g. timeout_min=60.")
        parameters[key.strip()] = yaml.safe_load(value)
    executor = make_executor(out, args.cluster, parameters)
    submission = submit_sweep(spec, out, executor, only=parse_only(args.only))
    print(
        json.dumps(
            {
                "cluster": submission.cluster,
                "submitted": submission.submitted,
                "skipped": submission.skipped,
                "logs": str(out / "submitit"),
            }
        )
    )
    wait = args.wait or submission.cluster == "debug"  # debug jobs run when waited for
    errors = wait_for(submission.jobs) if wait else {}
    result = collect_results(spec, out, figure=not args.no_figure)
    return _report(result, out, errors) if wait else _print_table(result)


def _print_table(result) -> int:
    from probekit.sweeps.results import summary_table

    print(summary_table(result.rows))
    return 0


def _report(result, out: Path, failed: dict) -> int:
    """The table, the Appendix-D numbers when drawn, and a JSON summary line (every point;
    `failed`: the jobs that did not finish, by job id)."""
    _print_table(result)
    if result.appendix_d:
        from probekit.sweeps.appendix_d import format_table

        print(format_table(result.appendix_d["table"]))
    summary = {
        "out": str(out),
        "points": len(result.statuses),
        "done": sum(s == "done" for s in result.statuses.values()),
        "failed": failed,
        "results": str(out / "results.jsonl"),
        "figure": str(result.figure) if result.figure else None,
    }
    print(json.dumps(summary))
    return 1 if failed else 0
