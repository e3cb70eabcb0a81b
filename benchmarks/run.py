"""Run the benchmarks: every entry of SUITE, or the ones named, then one summary of ratios.

    python benchmarks/run.py                 # all: train, probes (both sizes), fourier, generate, threads
    python benchmarks/run.py generate        # bench_generate.py only
    python benchmarks/run.py fourier -- --repeat 3   # arguments after -- go to each main()

Each module exposes `main(argv)`; each prints its own table with ratios against a
baseline measured in the same process. The summary at the end repeats the headline ratio
of each, with the machine's load average, since every ratio depends on it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


# name -> (benchmark file, its arguments). The probe benchmark runs at both sizes.
SUITE: dict[str, tuple[str, list[str]]] = {
    "train": ("bench_train.py", []),
    "probes": ("bench_probes.py", []),
    "probes-realistic": ("bench_probes.py", ["--size", "realistic"]),
    "fourier": ("bench_fourier.py", []),
    "generate": ("bench_generate.py", []),
    "threads": ("bench_threads.py", []),
}


def available() -> dict[str, Path]:
    """Benchmark name -> path: the SUITE's entries, then any other `bench_*.py`."""
    found = {name: HERE / file for name, (file, _) in SUITE.items()}
    listed = {file for file, _ in SUITE.values()}
    for path in sorted(HERE.glob("bench_*.py")):
        if path.name not in listed:
            found[path.stem.removeprefix("bench_")] = path
    return found


def headline(name: str, result) -> str:
    """The ratio a benchmark is about, as one line (empty when it returns nothing known)."""
    if name == "train" and isinstance(result, dict):
        return (
            f"probekit / transformers.Trainer {result['speedup_vs_trainer']:.2f}x, "
            f"{result['probekit_peak_fraction']:.0%} of fp32 matmul peak"
        )
    if name.startswith("probes") and isinstance(result, dict):
        return (
            f"batched probes / LogisticRegressionCV {result['speedup']:.1f}x, "
            f"accuracy difference {result['acc_diff']:+.4f}"
        )
    if name == "fourier" and isinstance(result, list):
        return "; ".join(f"{row[0]} {row[2]:.2f}" for row in result if row[2] != 1.0)
    if name == "generate" and isinstance(result, list):
        loops = [r for r in result if r["method"] == "python loop"]
        return "; ".join(
            f"{r['format']}: vectorised {r['speedup']:.0f}x a Python loop" for r in loops
        )
    if name == "threads" and isinstance(result, dict):
        return "; ".join(f"{k}: {v:.2f}x slower with all cores" for k, v in result.items())
    return ""


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
    failed, summary = [], []
    for name in names:
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        try:
            result = load(found[name]).main(SUITE.get(name, (None, []))[1] + extra)
            summary.append((name, headline(name, result)))
        except Exception:  # report and go on: one broken benchmark should not hide the rest
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
    print(f"== summary (load average {os.getloadavg()[0]:.1f}, 1 min) ==")
    for name, line in summary:
        print(f"{name:<18}{line}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
