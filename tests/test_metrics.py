"""Metrics with known answers: identity and signed permutations recover z, noise and recodings do not."""

import numpy as np
import pytest

from probekit.probing.controls import random_recoding, split_by_distinct_inputs
from probekit.probing.metrics import (
    accuracy,
    identification_error,
    matched_correlation,
    r2,
    selectivity,
)
from probekit.probing.probes import fit_linear_probes
from synthetic.bits import cube

D = 8
Z = cube(D).astype(np.float64)  # all 256 points of the 8-cube


def _probe_accuracy(rep, z, seed=0):
    train, test = split_by_distinct_inputs(z, 0.3, np.random.default_rng(seed))
    res = fit_linear_probes(rep[None], z, train, test, Cs=(0.1, 1.0, 10.0), cv=3, seed=seed)
    return res.scores[0].mean()


def _signed_permutation(rng):
    perm = rng.permutation(D)
    signs = rng.choice([-1.0, 1.0], size=D)
    return perm, signs


def test_identity_representation_scores_perfectly():
    assert _probe_accuracy(Z, Z) == 1.0
    out = identification_error(Z, Z)
    assert out["identification_error"] == pytest.approx(0.0, abs=1e-12)
    assert out["mcc"] == pytest.approx(1.0)


def test_signed_permutation_with_scales_and_offsets_is_recovered():
    rng = np.random.default_rng(0)
    perm, signs = _signed_permutation(rng)
    rep = Z[:, perm] * signs * rng.uniform(0.5, 3.0, size=D) + rng.normal(size=D)
    assert _probe_accuracy(rep, Z) == 1.0
    out = identification_error(rep, Z)
    assert out["identification_error"] == pytest.approx(0.0, abs=1e-12)
    assert out["mcc"] == pytest.approx(1.0)
    matrix, assignment, found = matched_correlation(rep, Z)
    inverse = np.argsort(perm)  # latent j sits in unit inverse[j]
    np.testing.assert_array_equal(assignment, inverse)
    np.testing.assert_array_equal(found, signs[inverse])
    np.testing.assert_allclose(matrix, np.eye(D), atol=1e-12)  # a permutation pattern


def test_random_gaussian_representation_is_at_chance():
    rep = np.random.default_rng(1).normal(size=(len(Z), 16))
    assert abs(_probe_accuracy(rep, Z) - 0.5) < 0.1
    assert identification_error(rep, Z)["mcc"] < 0.25


def test_random_bijection_of_the_cube_is_not_linearly_decodable():
    rep = random_recoding(Z, np.random.default_rng(2)).astype(np.float64)
    acc = _probe_accuracy(rep, Z)
    assert abs(acc - 0.5) < 0.1  # T(z) holds all of z, but not in a linear basis
    assert identification_error(rep, Z)["mcc"] < 0.4


def test_duplicated_latent_scores_low_mcc():
    rep = np.repeat(Z[:, :1], D, axis=1)  # every unit is z_1
    out = identification_error(rep, Z)
    assert out["mcc"] == pytest.approx(1.0 / D)  # only one latent can claim a unit
    assert out["identification_error"] == pytest.approx(2.0 - 2.0 / D)


def test_mcc_equals_one_minus_half_the_error():
    rng = np.random.default_rng(3)
    rep = Z @ rng.normal(size=(D, 12)) + rng.normal(size=(len(Z), 12))
    out = identification_error(rep, Z)
    assert 0.05 < out["mcc"] < 0.95
    assert out["mcc"] == pytest.approx(1.0 - out["identification_error"] / 2.0, abs=1e-12)


def test_more_units_than_latents_picks_the_best_ones():
    rng = np.random.default_rng(4)
    perm, signs = _signed_permutation(rng)
    noise = rng.normal(size=(len(Z), 20))
    rep = np.concatenate([noise[:, :10], Z[:, perm] * signs, noise[:, 10:]], axis=1)
    out = identification_error(rep, Z)
    assert out["mcc"] == pytest.approx(1.0)
    _, assignment, _ = matched_correlation(rep, Z)
    np.testing.assert_array_equal(assignment, 10 + np.argsort(perm))


def test_fewer_units_than_latents_counts_missing_latents_as_uncorrelated():
    out = identification_error(np.column_stack([Z[:, :4], np.ones(len(Z))]), Z)
    assert out["mcc"] == pytest.approx(0.5)  # 4 of 8 latents recovered, one constant unit
    assert out["identification_error"] == pytest.approx(1.0)


def test_accuracy_r2_and_selectivity_dicts():
    y = np.array([[1, -1], [1, 1], [-1, 1], [-1, -1]])
    pred = np.array([[1, -1], [1, -1], [-1, 1], [1, 1]])
    out = accuracy(y, pred)
    assert out == {"accuracy": 0.625, "accuracy_min": 0.5, "accuracy_0": 0.75, "accuracy_1": 0.5}
    real = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2(real, real)["r2"] == 1.0
    assert r2(real, np.full(4, 2.5))["r2"] == pytest.approx(0.0)
    assert selectivity([0.9, 0.8], [0.6, 0.5]) == pytest.approx(
        {"accuracy": 0.85, "control_accuracy": 0.55, "selectivity": 0.3}
    )
    with pytest.raises(ValueError, match="constant target"):
        r2(np.ones(4), real)
