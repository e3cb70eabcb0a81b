"""Batched linear probes vs a loop of scikit-learn LogisticRegressionCV fits.

Same activations, same train/test split, same CV folds and the same C grid for both.
The activations imitate a trained network: layer l holds a random linear mix of z
whose strength grows with depth, plus non-linear junk (tanh of random pairwise
products z_i z_j), plus noise. Targets: the d latents, d recoding targets T(z) and d control tasks.

Two sizes:
- `small` (default): 5 layers x 30 targets over the 1024 inputs of a d = 10 cube, F = 128;
  scikit-learn fits every probe.
- `realistic`: 12 layers x 60 targets x 12 000 inputs (sampled from a d = 20 cube) x 256
  features. A loop of scikit-learn fits over all 720 probes would take hours, so it fits a
  seeded random subset (`--sklearn-probes`) and its time is extrapolated to all of them
  (said in the output); accuracies are compared on that subset. It also measures the
  batched fit's peak memory (resident set, in a child process per N) for several N.

    python benchmarks/bench_probes.py [--size small|realistic] [--layers 5] [--d 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV
from threadpoolctl import threadpool_limits

from probekit.probing.controls import control_task_labels, random_recoding, split_by_distinct_inputs
from probekit.probing.probes import fit_linear_probes
from probekit.probing.solvers import DEFAULT_CS, fold_masks
from synthetic.bits import cube

SIZES = {
    "small": {"layers": 5, "d": 10, "n": None, "features": 128},
    "realistic": {"layers": 12, "d": 20, "n": 12000, "features": 256},
}


def make_activations(n_layers: int, z: np.ndarray, n_features: int, rng: np.random.Generator):
    """(L, N, F) float32 activations of the inputs z, and (N, 3d) targets: z, T(z), control."""
    d = z.shape[1]
    zf = z.astype(np.float32)
    recoded = random_recoding(z, rng).astype(np.float32)
    control = control_task_labels(z, d, rng).astype(np.float32)
    acts = np.empty((n_layers, len(z), n_features), dtype=np.float32)
    for layer in range(n_layers):
        signal = (layer + 1) / n_layers  # later layers hold z more cleanly
        mix = zf @ rng.normal(size=(d, n_features)).astype(np.float32) / np.sqrt(d)
        pairs = rng.integers(0, d, size=(2 * d, 2))
        weights = rng.normal(size=(2 * d, n_features)).astype(np.float32)
        junk = np.tanh(zf[:, pairs[:, 0]] * zf[:, pairs[:, 1]] @ weights)
        noise = rng.normal(size=(len(z), n_features)).astype(np.float32)
        acts[layer] = signal * mix + junk + (1.5 - signal) * noise
    return acts, np.concatenate([zf, recoded, control], axis=1)


def latents(d: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """The whole cube (n None) or n distinct inputs drawn from it."""
    if n is None:
        return cube(d)
    index = rng.choice(2**d, size=n, replace=False)
    bits = (index[:, None] >> np.arange(d)) & 1
    return (1 - 2 * bits).astype(np.int8)


def sklearn_probes(acts, targets, train, test, folds, Cs, pairs):
    """The slow path: one LogisticRegressionCV per (layer, target) in `pairs`, same folds and grid."""
    splits = [(np.flatnonzero(~f), np.flatnonzero(f)) for f in folds]
    scores = np.full((acts.shape[0], targets.shape[1]), np.nan)
    for layer in sorted({p[0] for p in pairs}):
        a = acts[layer].astype(np.float64)
        mean, std = a[train].mean(0), a[train].std(0)
        std[std < 1e-12] = 1.0
        Xtr, Xte = (a[train] - mean) / std, (a[test] - mean) / std
        for t in (t for at, t in pairs if at == layer):
            model = LogisticRegressionCV(Cs=list(Cs), cv=splits, scoring="accuracy")
            model.fit(Xtr, targets[train, t])
            scores[layer, t] = (model.predict(Xte) == targets[test, t]).mean()
    return scores


def setup(layers: int, d: int, n: int | None, features: int, seed: int):
    rng = np.random.default_rng(seed)
    z = latents(d, n, rng)
    acts, targets = make_activations(layers, z, features, rng)
    train, test = split_by_distinct_inputs(targets[:, :d], 0.3, rng)
    return acts, targets, train, test


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: on Linux that keeps the
    parent's peak across fork and exec, so a child started by a big process reports it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(layers: int, d: int, n: int, features: int, cv: int, seed: int) -> None:
    """Print, as JSON, the batched fit's peak resident memory above what was there before it."""
    acts, targets, train, test = setup(layers, d, n, features, seed)
    # A tiny fit first: torch's first calls map its kernels' libraries (hundreds of MiB of
    # resident memory that do not depend on N and are not the fit's).
    fit_linear_probes(acts[:1], targets, train[:200], test[:50], cv=cv, seed=seed)
    before = rss_bytes()
    fit_linear_probes(acts, targets, train, test, cv=cv, seed=seed)
    peak = peak_rss_bytes()
    print(json.dumps({"n": n, "acts_bytes": acts.nbytes, "fit_peak_bytes": max(0, peak - before)}))


def memory_by_n(layers, d, features, cv, seed, ns) -> list[dict]:
    """The batched fit's peak memory for each N, each in a fresh process (ru_maxrss only grows)."""
    rows = []
    for n in ns:
        cmd = [
            sys.executable,
            __file__,
            "--memory-child",
            str(n),
            "--layers",
            str(layers),
            "--d",
            str(d),
            "--features",
            str(features),
            "--cv",
            str(cv),
            "--seed",
            str(seed),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both paths (after a small warm-up) and print a table of times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--layers", type=int)
    parser.add_argument("--d", type=int, help="latents (targets: 3d)")
    parser.add_argument("--n", type=int, help="inputs (default: the whole cube for small)")
    parser.add_argument("--features", type=int)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sklearn-probes",
        type=int,
        default=24,
        help="realistic size: scikit-learn fits this many random probes",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # The same thread budget on both sides: torch's pool for the batched fit, and the
    # BLAS/OpenMP pools numpy and scikit-learn use (left alone, they take every core,
    # which on a busy machine slows the scikit-learn side and flatters the ratio).
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        return _main(args)


def _main(args) -> dict[str, float]:
    size = {
        k: getattr(args, k) if getattr(args, k) is not None else v
        for k, v in SIZES[args.size].items()
    }
    if args.memory_child:
        memory_child(
            size["layers"], size["d"], args.memory_child, size["features"], args.cv, args.seed
        )
        return {}
    d = size["d"]
    acts, targets, train, test = setup(size["layers"], d, size["n"], size["features"], args.seed)
    Cs = DEFAULT_CS
    # The same folds fit_linear_probes draws internally from its seed.
    folds = fold_masks(len(train), args.cv, np.random.default_rng(args.seed))
    L, T = acts.shape[0], targets.shape[1]
    if args.size == "small":  # every probe on both sides
        pairs = [(layer, t) for layer in range(L) for t in range(T)]
    else:
        k = min(args.sklearn_probes, L * T)
        chosen = np.random.default_rng(args.seed + 1).choice(L * T, size=k, replace=False)
        pairs = [(int(i) // T, int(i) % T) for i in np.sort(chosen)]

    fit_linear_probes(acts[:1], targets, train[::7], test[::7], cv=2)  # warm-up
    start = time.perf_counter()
    res = fit_linear_probes(acts, targets, train, test, Cs=Cs, cv=args.cv, seed=args.seed)
    t_batched = time.perf_counter() - start

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter at the largest C
        start = time.perf_counter()
        ref = sklearn_probes(acts, targets, train, test, folds, Cs, pairs)
        t_subset = time.perf_counter() - start
    t_sklearn = t_subset * (L * T) / len(pairs)  # extrapolated when only a subset was fitted
    rows, cols = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    ours, theirs = res.scores[rows, cols], ref[rows, cols]
    out = {
        "sklearn_s": t_sklearn,
        "batched_s": t_batched,
        "speedup": t_sklearn / t_batched,
        "sklearn_acc": float(theirs.mean()),
        "batched_acc": float(ours.mean()),
        "acc_diff": float(ours.mean() - theirs.mean()),
        "max_abs_acc_diff": float(np.abs(ours - theirs).max()),
    }
    print(
        f"{args.size}: {L} layers x {T} targets, N={acts.shape[1]} (train {len(train)}), "
        f"F={acts.shape[2]}, {len(Cs)} Cs, cv={args.cv}; torch and BLAS threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} (1 min)"
    )
    extrapolated = len(pairs) < L * T
    note = (
        f" (extrapolated from {len(pairs)} random probes: {t_subset:.1f} s)" if extrapolated else ""
    )
    print(f"{'path':<28}{'time (s)':>10}{'mean acc':>10}")
    print(
        f"{'sklearn LogisticRegressionCV':<28}{t_sklearn:>10.2f}{out['sklearn_acc']:>10.4f}{note}"
    )
    print(f"{'batched fit_linear_probes':<28}{t_batched:>10.2f}{out['batched_acc']:>10.4f}")
    print(
        f"speed-up {out['speedup']:.1f}x; mean accuracy difference {out['acc_diff']:+.4f} "
        f"(largest per-probe difference {out['max_abs_acc_diff']:.4f}"
        f"{', on the probes both fitted' if extrapolated else ''})"
    )
    if not extrapolated:
        for name, sl in (
            ("z", slice(0, d)),
            ("T(z)", slice(d, 2 * d)),
            ("control", slice(2 * d, None)),
        ):
            print(
                f"  {name:<8} batched by layer {np.round(res.scores[:, sl].mean(1), 3)}  "
                f"sklearn {np.round(ref[:, sl].mean(1), 3)}"
            )
    if args.size == "realistic":
        n0 = acts.shape[1]
        # Layers are fitted one after another, so the fit's working memory is that of one
        # layer: 2 layers measure it at a sixth of the time of 12.
        mem = memory_by_n(2, d, acts.shape[2], args.cv, args.seed, [n0 // 4, n0 // 2, n0])
        print("batched fit (2 layers), peak resident memory above the activations loaded:")
        for row in mem:
            print(
                f"  N={row['n']:>6}: {row['fit_peak_bytes'] / 2**20:8.1f} MiB "
                f"(activations {row['acts_bytes'] / 2**20:.1f} MiB)"
            )
        growth = np.polyfit([r["n"] for r in mem], [r["fit_peak_bytes"] for r in mem], 1)[0]
        print(f"  grows by about {growth * 1000 / 2**20:.1f} MiB per 1000 inputs")
        out["fit_peak_mib"] = mem[-1]["fit_peak_bytes"] / 2**20
    return out


if __name__ == "__main__":
    main()
