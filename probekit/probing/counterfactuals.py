"""The world's exact counterfactuals, and how an intervened model is scored against them.

A synthetic world knows what should happen when latent z_i changes: every task t goes to
g_t(z with z_i flipped), in closed form. An intervention that really changes what the
model holds of z_i should move its outputs there; one that does not, leaves them.

- `counterfactual(tasks, z, i)`: the targets before and after the flip, and which
  (input, task) pairs flip;
- `task_influence(tasks, d, i)`: the share of the cube on which flipping z_i changes each
  task (0: the task does not depend on z_i), exact on the cube for small d;
- `reachable_without(target, cf_target)`: the accuracy a predictor that does not know
  z_i can reach on each task, in expectation over z_i given the other latents: 1 where
  the task is the same for both values of z_i, 1/2 where it differs (the best guess is
  right for one of the two). Over the whole cube it is 1 − influence / 2;
- `counterfactual_scores`: counterfactual accuracy, the share of (input, task) pairs
  whose output equals the counterfactual target, over all pairs, over the pairs that
  should flip and over those that should stay, each with a 95 % interval;
- `erasure_scores`: accuracy on the true targets of the tasks that depend on z_i and of
  those that do not, before and after an erasure, beside what is reachable without z_i.

Intervals resample inputs (percentile bootstrap): the pairs of one input share its
intervention, so they are not independent draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats

from probekit.probing.intervals import CONFIDENCE, wilson_interval

MAX_EXACT_D = 16  # task influence over the whole cube up to this d, sampled beyond
N_RESAMPLES = 1000


def world_and_tasks(spec: Mapping):
    """(World, TaskSet) rebuilt from a checkpoint's `probekit_spec.json`, as the probe does."""
    from synthetic.tasks import TaskSet, TaskSpec
    from synthetic.world import World, WorldSpec

    exp = spec.get("experiment") if isinstance(spec, Mapping) else None
    if not exp:
        raise ValueError(
            "The checkpoint has no probekit_spec.json with an 'experiment' section, so its "
            "world's counterfactuals cannot be computed; intervene on a checkpoint written by "
            "`probekit train`."
        )
    world = World(WorldSpec.from_dict(exp["world"]))
    if spec.get("tasks_polynomials"):  # the explicit tasks survive changes to task sampling
        return world, TaskSet.from_dict(spec["tasks_polynomials"])
    return world, TaskSet.from_spec(TaskSpec.from_dict(exp["tasks"]), world)


def flip_latent(z: np.ndarray, i: int) -> np.ndarray:
    """A copy of z (N, d) ±1 with column i negated."""
    out = np.array(z, copy=True)
    out[:, i] = -out[:, i]
    return out


def counterfactual(tasks, z: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(target g(z), counterfactual target g(z with z_i flipped)), each (N, n_tasks) ±1."""
    z = np.asarray(z)
    return np.asarray(tasks.evaluate(z)), np.asarray(tasks.evaluate(flip_latent(z, i)))


def task_influence(tasks, d: int, i: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """(n_tasks,) share of inputs on which flipping z_i changes each task: exact on the cube
    for d ≤ MAX_EXACT_D, else over 2^MAX_EXACT_D uniform draws of `rng`."""
    from synthetic.bits import cube

    if d <= MAX_EXACT_D:
        z = cube(d)
    else:
        rng = np.random.default_rng(0) if rng is None else rng
        z = np.where(rng.random((2**MAX_EXACT_D, d)) < 0.5, -1, 1).astype(np.int8)
    target, cf = counterfactual(tasks, z, i)
    return (target != cf).mean(axis=0)


def reachable_without(target: np.ndarray, cf_target: np.ndarray) -> np.ndarray:
    """(n_tasks,) accuracy reachable without z_i on these inputs: 1 where g(z) = g(z ⊕ e_i), ½ elsewhere."""
    return np.where(np.asarray(target) == np.asarray(cf_target), 1.0, 0.5).mean(axis=0)


def signs(logits: np.ndarray) -> np.ndarray:
    """±1 answers of task heads: logit ≥ 0 is +1, as the models are scored in training."""
    return np.where(np.asarray(logits) >= 0, 1.0, -1.0)


def _ratio(hits, counts, axis=-1):
    return hits.sum(axis=axis) / np.maximum(counts.sum(axis=axis), 1)


def pooled_interval(
    hits: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> list[float] | None:
    """95 % interval of sum(hits) / sum(counts), resampling inputs (rows); None without pairs."""
    hits, counts = np.asarray(hits, np.float64), np.asarray(counts, np.float64)
    total = counts.sum()
    if total == 0:
        return None
    keep = counts > 0
    per = hits[keep] / counts[keep]
    if keep.sum() < 2 or np.ptp(per) == 0:  # every input alike: the pooled Wilson interval
        lo, hi = wilson_interval(hits.sum(), total)
        return [float(lo), float(hi)]
    res = stats.bootstrap(
        (hits[keep], counts[keep]),
        _ratio,
        paired=True,
        vectorized=True,
        confidence_level=CONFIDENCE,
        n_resamples=N_RESAMPLES,
        method="percentile",
        rng=rng,
    )
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def _share(right: np.ndarray, mask: np.ndarray, rng) -> tuple[float | None, list | None, int]:
    counts = mask.sum(axis=1)
    n = int(counts.sum())
    if n == 0:
        return None, None, 0
    hits = (right & mask).sum(axis=1)
    return float(hits.sum() / n), pooled_interval(hits, counts, rng), n


def counterfactual_scores(
    answers: np.ndarray, target: np.ndarray, cf_target: np.ndarray, rng: np.random.Generator
) -> dict:
    """Counterfactual accuracy of ±1 `answers` (N, T): all pairs, pairs that flip, pairs that stay."""
    answers, target, cf_target = (np.asarray(a) for a in (answers, target, cf_target))
    right = answers == cf_target
    flips = target != cf_target
    out: dict = {}
    for name, mask in (("", np.ones_like(flips)), ("_flip", flips), ("_stay", ~flips)):
        value, ci, n = _share(right, mask, rng)
        out[f"cf_acc{name}"], out[f"cf_acc{name}_ci"], out[f"n_pairs{name}"] = value, ci, n
    return out


def erasure_scores(
    before: np.ndarray,
    after: np.ndarray,
    target: np.ndarray,
    cf_target: np.ndarray,
    depends: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """Accuracy on the true targets of the tasks that depend on z_i (`depends`, (T,) bool) and
    of the others, before and after an erasure; what is reachable without z_i; the effect.

    `erase_effect` = (before − after) / (before − reachable) on the dependent tasks: 1 when
    the erasure takes them down to what is reachable without z_i, 0 when it changes nothing.
    """
    before, after, target = np.asarray(before), np.asarray(after), np.asarray(target)
    depends = np.asarray(depends, dtype=bool)
    reach = reachable_without(target, cf_target)
    out: dict = {"n_dep_tasks": int(depends.sum()), "n_indep_tasks": int((~depends).sum())}
    for name, cols in (("dep", depends), ("indep", ~depends)):
        mask = np.broadcast_to(cols[None, :], target.shape)
        for when, answers in (("before", before), ("after", after)):
            value, ci, _ = _share(answers == target, mask, rng)
            key = f"acc_{name}" if when == "after" else f"acc_{name}_before"
            out[key], out[f"{key}_ci"] = value, ci
        out[f"reachable_{name}"] = float(reach[cols].mean()) if cols.any() else None
    gap = None
    if out["acc_dep"] is not None and out["reachable_dep"] is not None:
        gap = out["acc_dep_before"] - out["reachable_dep"]
    # Below a gap of 0.02 the model does not know more than what is reachable without z_i.
    out["erase_effect"] = (
        None if gap is None or gap < 0.02 else (out["acc_dep_before"] - out["acc_dep"]) / gap
    )
    return out
