"""Speed of `synthetic.fourier.fwht` against the transforms a user would otherwise reach for.

Baselines, all measured in this process on the same float64 data:
- a plain numpy butterfly (n passes of `a[..., 0, :] ± a[..., 1, :]` over a reshaped view),
  the textbook O(n 2^n) transform written in numpy;
- pip-installable Walsh-Hadamard packages, when installed: `pyfwht` (C, with an OpenMP
  backend) and `hadamard-transform` (torch); each is checked against `fwht` first;
- at n = 24, the time of one copy of the 2^24 float64 vector (`np.copyto`), so the
  transform's time reads as "this many copies of its input", a unit that does not
  depend on the machine.

Run: python benchmarks/bench_fourier.py [--n-small 12] [--n-large 24] [--repeat 5]
Ratios are baseline time / fwht time (above 1: fwht is faster).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from synthetic.fourier import fwht


def numpy_butterfly(a: np.ndarray) -> np.ndarray:
    """The textbook transform in numpy: one vectorised butterfly pass per bit."""
    out = np.array(a, dtype=np.float64, copy=True)
    length = out.shape[-1]
    lead = out.shape[:-1]
    h = 1
    while h < length:
        view = out.reshape(*lead, length // (2 * h), 2, h)
        top = view[..., 0, :].copy()
        view[..., 0, :] += view[..., 1, :]
        view[..., 1, :] = top - view[..., 1, :]
        h *= 2
    return out


def packages(threads: int = 1) -> dict[str, callable]:
    """Installed Walsh-Hadamard packages, as functions of a float64 array (unnormalised)."""
    found = {}
    try:
        import pyfwht

        backend = "openmp" if pyfwht.has_openmp() else "cpu"
        found[f"pyfwht ({backend})"] = lambda a: pyfwht.fwht(a, backend=backend)
    except ImportError:
        pass
    try:
        import torch
        from hadamard_transform import hadamard_transform

        torch.set_num_threads(threads)

        def torch_hadamard(a):
            # The package's transform is orthonormal: undo its 1/sqrt(2^n) to compare.
            t = torch.from_numpy(a)
            return (hadamard_transform(t) * np.sqrt(a.shape[-1])).numpy()

        found["hadamard-transform (torch)"] = torch_hadamard
    except ImportError:
        pass
    return found


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
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads, every side")
    args = parser.parse_args(argv)
    # One thread budget for every transform (numpy's BLAS in fwht's block product,
    # pyfwht's OpenMP backend, torch's pool), so the ratios compare algorithms.
    with threadpool_limits(limits=args.threads):
        return _main(args)


def _main(args) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    others = {"numpy butterfly": numpy_butterfly, **packages(args.threads)}
    cases = [
        (f"n={args.n_small}, one function", rng.standard_normal(1 << args.n_small)),
        (f"n={args.n_small}, 64 functions", rng.standard_normal((64, 1 << args.n_small))),
        (f"n={args.n_large}, one function", rng.standard_normal(1 << args.n_large)),
    ]
    rows = []
    print(f"threads: {args.threads} for every transform (BLAS, OpenMP and torch pools)")
    print("ratio = baseline time / fwht time (above 1: fwht is faster)")
    print(f"{'case':<28}{'transform':<30}{'time (s)':>12}{'ratio':>9}")
    for case, data in cases:
        reference = fwht(data)
        repeat = args.repeat if data.size < 1 << 20 else max(1, args.repeat // 2)
        t_ours = best_time(lambda d=data: fwht(d), repeat)
        print(f"{case:<28}{'fwht':<30}{t_ours:>12.6f}{'':>9}")
        rows.append((f"{case}: fwht", t_ours, 1.0))
        for name, fn in others.items():
            if not np.allclose(fn(data), reference, rtol=1e-9, atol=1e-6 * np.sqrt(data.shape[-1])):
                raise AssertionError(f"{name} disagrees with fwht on {case}")
            t = best_time(lambda d=data, f=fn: f(d), repeat)
            print(f"{'':<28}{name:<30}{t:>12.6f}{t / t_ours:>8.2f}x")
            rows.append((f"{case}: {name}", t, t / t_ours))
        if data.size >= 1 << 20:
            target = np.empty_like(data)
            t_copy = best_time(lambda d=data, t=target: np.copyto(t, d), repeat)
            print(
                f"{'':<28}{'one copy of the input':<30}{t_copy:>12.6f}"
                f"   fwht = {t_ours / t_copy:.1f} copies"
            )
            rows.append((f"{case}: copies", t_copy, t_ours / t_copy))
    return rows


if __name__ == "__main__":
    main()
