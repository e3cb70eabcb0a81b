"""Intervals: coverage of simulated probes with a known accuracy, and the seed interval."""

import numpy as np
import pytest
from scipy import stats

from probekit.probing.intervals import (
    latents_above_controls,
    mean_accuracy_interval,
    seed_interval,
    wilson_interval,
)


def test_wilson_matches_scipy():
    for k, n in ((0, 20), (7, 20), (19, 20), (150, 300)):
        lo, hi = wilson_interval(k, n)
        ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert (float(lo), float(hi)) == pytest.approx((ref.low, ref.high), abs=1e-9)


@pytest.mark.parametrize("p, n", [(0.5, 50), (0.8, 100), (0.95, 200)])
def test_wilson_covers_a_known_accuracy_about_95_percent_of_the_time(p, n):
    # Simulated probes with true accuracy p, each scored on n test inputs.
    rng = np.random.default_rng(0)
    k = rng.binomial(n, p, size=4000)
    lo, hi = wilson_interval(k, np.full_like(k, n))
    coverage = np.mean((lo <= p) & (p <= hi))
    assert 0.93 <= coverage <= 0.975


def test_mean_accuracy_interval_covers_the_mean_over_targets():
    # Ten targets of known accuracies scored on the same 120 inputs, 200 simulated probes.
    rng = np.random.default_rng(1)
    acc = np.linspace(0.6, 0.95, 10)
    hits = 0
    for _ in range(200):
        correct = rng.random((120, 10)) < acc
        lo, hi = mean_accuracy_interval(correct, rng, n_resamples=400)
        hits += lo <= acc.mean() <= hi
    assert 0.9 <= hits / 200 <= 0.99


def test_seed_interval_is_students_t_and_needs_two_seeds():
    out = seed_interval([0.8, 0.9, 1.0])
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert out["mean"] == pytest.approx(0.9) and out["hi"] - out["mean"] == pytest.approx(half)
    assert seed_interval([0.7]) == {"mean": 0.7, "lo": None, "hi": None, "n": 1}
    assert seed_interval([None, None])["n"] == 0


def test_a_latent_counts_only_when_its_interval_clears_every_control():
    lo = np.array([0.9, 0.6, 0.55])
    controls_hi = np.array([[0.7, 0.7, 0.5], [0.6, 0.5, 0.6]])  # random init, raw input
    assert latents_above_controls(lo, controls_hi).tolist() == [True, False, False]


def test_latent_states_recovered_absent_and_undetermined():
    from probekit.probing.probe_sweep import SweepResult
    from probekit.probing.summary import _latent_states

    rng = np.random.default_rng(0)

    def coin(n, p):
        return rng.random((n, 1)) < p

    def sweep(n):
        trained = np.hstack([np.ones((n, 1), bool), coin(n, 0.5), coin(n, 0.68)])
        control = np.tile((np.arange(n) % 2 == 0)[:, None], (1, 3))  # exactly 0.5
        correct = {
            ("trained", "layer.1", "linear", "z", "test_unseen"): trained,
            ("random_init", "layer.1", "linear", "z", "test_unseen"): control,
        }
        return SweepResult([], {}, correct, {"fit": np.arange(1), "test_unseen": np.arange(n)})

    # 400 inputs: z_0 clears the control, z_1 is ruled out, z_2 (0.68) clears it too.
    recovered, absent = _latent_states(sweep(400), "linear", "layer.1", "z", "test_unseen")
    assert recovered == [0, 2] and absent == [1]
    # 20 inputs: a coin's interval is too wide to rule anything out.
    recovered, absent = _latent_states(sweep(20), "linear", "layer.1", "z", "test_unseen")
    assert 0 in recovered and absent == []
