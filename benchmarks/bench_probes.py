"""Batched linear probes vs a loop of scikit-learn LogisticRegressionCV fits.

Same activations, same train/test split, same CV folds and the same C grid for both.
The activations imitate a trained network: layer l holds a random linear mix of z
whose strength grows with depth, plus non-linear junk (tanh of random pairwise
products z_i z_j), plus noise. Targets: the d latents, d recoding targets T(z) and d control tasks.

    python benchmarks/bench_probes.py [--layers 5] [--d 10] [--features 128]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegressionCV

from probekit.probing.controls import control_task_labels, random_recoding, split_by_distinct_inputs
from probekit.probing.probes import fit_linear_probes
from probekit.probing.solvers import DEFAULT_CS, fold_masks
from synthetic.bits import cube


def make_activations(n_layers: int, d: int, n_features: int, rng: np.random.Generator):
    """(L, N, F) activations over all 2^d points, and (N, 3d) targets: z, T(z), control."""
    z = cube(d).astype(np.float64)
    recoded = random_recoding(z, rng).astype(np.float64)
    control = control_task_labels(z, d, rng).astype(np.float64)
    acts = []
    for layer in range(n_layers):
        signal = (layer + 1) / n_layers  # later layers hold z more cleanly
        mix = z @ rng.normal(size=(d, n_features)) / np.sqrt(d)
        pairs = rng.integers(0, d, size=(2 * d, 2))
        junk = np.tanh(z[:, pairs[:, 0]] * z[:, pairs[:, 1]] @ rng.normal(size=(2 * d, n_features)))
        noise = rng.normal(size=(len(z), n_features))
        acts.append(signal * mix + junk + (1.5 - signal) * noise)
    return np.stack(acts), np.concatenate([z, recoded, control], axis=1)


def sklearn_probes(acts, targets, train, test, folds, Cs):
    """The slow path: one LogisticRegressionCV per (layer, target), same folds and grid."""
    splits = [(np.flatnonzero(~f), np.flatnonzero(f)) for f in folds]
    scores = np.zeros((acts.shape[0], targets.shape[1]))
    for layer, a in enumerate(acts):
        mean, std = a[train].mean(0), a[train].std(0)
        std[std < 1e-12] = 1.0
        Xtr, Xte = (a[train] - mean) / std, (a[test] - mean) / std
        for t in range(targets.shape[1]):
            model = LogisticRegressionCV(Cs=list(Cs), cv=splits, scoring="accuracy")
            model.fit(Xtr, targets[train, t])
            scores[layer, t] = (model.predict(Xte) == targets[test, t]).mean()
    return scores


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run both paths once (after a small warm-up) and print a table of times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--d", type=int, default=10, help="latents; N = 2^d rows")
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    acts, targets = make_activations(args.layers, args.d, args.features, rng)
    train, test = split_by_distinct_inputs(targets[:, : args.d], 0.3, rng)
    Cs = DEFAULT_CS
    # The same folds fit_linear_probes draws internally from its seed.
    folds = fold_masks(len(train), args.cv, np.random.default_rng(args.seed))

    fit_linear_probes(acts[:1], targets, train[::7], test[::7], cv=2)  # warm-up
    start = time.perf_counter()
    res = fit_linear_probes(acts, targets, train, test, Cs=Cs, cv=args.cv, seed=args.seed)
    t_batched = time.perf_counter() - start

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter at the largest C
        start = time.perf_counter()
        ref = sklearn_probes(acts, targets, train, test, folds, Cs)
        t_sklearn = time.perf_counter() - start

    L, T = res.scores.shape
    out = {
        "sklearn_s": t_sklearn,
        "batched_s": t_batched,
        "speedup": t_sklearn / t_batched,
        "sklearn_acc": float(ref.mean()),
        "batched_acc": float(res.scores.mean()),
        "acc_diff": float(res.scores.mean() - ref.mean()),
        "max_abs_acc_diff": float(np.abs(res.scores - ref).max()),
    }
    print(
        f"{L} layers x {T} targets, N={acts.shape[1]} (train {len(train)}), "
        f"F={acts.shape[2]}, {len(Cs)} Cs, cv={args.cv}; torch threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} (1 min)"
    )
    print(f"{'path':<28}{'time (s)':>10}{'mean acc':>10}")
    print(f"{'sklearn LogisticRegressionCV':<28}{t_sklearn:>10.2f}{out['sklearn_acc']:>10.4f}")
    print(f"{'batched fit_linear_probes':<28}{t_batched:>10.2f}{out['batched_acc']:>10.4f}")
    print(
        f"speed-up {out['speedup']:.1f}x; mean accuracy difference {out['acc_diff']:+.4f} "
        f"(largest per-probe difference {out['max_abs_acc_diff']:.4f})"
    )
    d = args.d
    for name, cols in (
        ("z", slice(0, d)),
        ("T(z)", slice(d, 2 * d)),
        ("control", slice(2 * d, None)),
    ):
        print(
            f"  {name:<8} batched by layer {np.round(res.scores[:, cols].mean(1), 3)}  "
            f"sklearn {np.round(ref[:, cols].mean(1), 3)}"
        )
    return out


if __name__ == "__main__":
    main()
