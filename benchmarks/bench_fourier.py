"""Speed of the fast Walsh–Hadamard transform against a naive O(4^n) transform.

Run: python benchmarks/bench_fourier.py
Prints one table; ratios are against the naive baseline measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from synthetic.bits import mask_degrees
from synthetic.fourier import fwht


def hadamard(n: int) -> np.ndarray:
    """Dense 2^n x 2^n matrix H[S, x] = (-1)^{|S ∩ x|} (the naive transform)."""
    idx = np.arange(1 << n, dtype=np.int64)
    return np.where(mask_degrees(n)[idx[:, None] & idx[None, :]] % 2 == 0, 1.0, -1.0)


def best_time(fn, repeat: int) -> float:
    """Fastest of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    """Time the transforms and print a (name, time, ratio) table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-small", type=int, default=12)
    parser.add_argument("--n-large", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    n = args.n_small
    f = rng.standard_normal(1 << n)
    t_build = best_time(lambda: hadamard(n), 1)
    h = hadamard(n)
    assert np.allclose(h @ f, fwht(f)), "FWHT disagrees with the dense transform"
    t_dense = best_time(lambda: h @ f, args.repeat)
    t_fast = best_time(lambda: fwht(f), args.repeat)
    batch = rng.standard_normal((64, 1 << n))
    t_dense_b = best_time(lambda: batch @ h.T, args.repeat)
    t_fast_b = best_time(lambda: fwht(batch), args.repeat)

    big = rng.standard_normal(1 << args.n_large)
    t_big = best_time(lambda: fwht(big), max(1, args.repeat // 2))

    rows = [
        (f"naive: dense H @ f, n={n}, H prebuilt", t_dense, 1.0),
        (
            f"naive: dense, n={n}, incl. building H",
            t_dense + t_build,
            t_dense / (t_dense + t_build),
        ),
        (f"fwht, n={n}", t_fast, t_dense / t_fast),
        (f"naive: 64 functions, n={n}, H prebuilt", t_dense_b, 1.0),
        (f"fwht: 64 functions, n={n}", t_fast_b, t_dense_b / t_fast_b),
        (
            f"fwht, n={args.n_large} (no naive: H would need 2^{2 * args.n_large} entries)",
            t_big,
            float("nan"),
        ),
    ]
    print("ratio = time of the naive baseline above it (H prebuilt) / time of this row")
    print(f"{'benchmark':<66} {'time (s)':>10} {'ratio':>9}")
    for name, t, ratio in rows:
        r = "-" if np.isnan(ratio) else f"{ratio:.3g}x"
        print(f"{name:<66} {t:>10.6f} {r:>9}")
    return rows


if __name__ == "__main__":
    main()
