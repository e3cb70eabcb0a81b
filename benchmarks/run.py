"""Run the benchmarks: every `benchmarks/bench_*.py`, or the ones named.

    python benchmarks/run.py                 # all, with their default sizes
    python benchmarks/run.py generate        # bench_generate.py only
    python benchmarks/run.py fourier -- --repeat 3   # arguments after -- go to each main()

Each module exposes `main(argv)`; each prints its own table with ratios against a
baseline measured in the same process.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    """Benchmark name (file name without `bench_` and `.py`) -> path."""
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def load(path: Path):
    """Import a benchmark file as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"probekit_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "main", None)):
        raise AttributeError(f"{path.name} has no main(argv) function.")
    return module


def main(argv: list[str] | None = None) -> int:
    """Run the named (default: all) benchmarks; return 1 if any failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    found = available()
    parser = argparse.ArgumentParser(description="Run probekit benchmarks.")
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default all): {', '.join(found)}"
    )
    args = parser.parse_args(argv)
    names = [n.removeprefix("bench_").removesuffix(".py") for n in args.names] or list(found)
    unknown = [n for n in names if n not in found]
    if unknown:
        parser.error(f"Unknown benchmark {unknown[0]!r}. Available: {', '.join(found)}")
    failed = []
    for name in names:
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        try:
            load(found[name]).main(extra)
        except Exception:  # report and go on: one broken benchmark should not hide the rest
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
