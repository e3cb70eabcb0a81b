"""The identifiability ladder (docs/theory.md §6): known answers for every rung.

z and any signed permutation of z reach all three rungs; a random rotation reaches the
orthogonal and linear rungs but not the signed permutation; a dense, ill-conditioned
invertible linear map reaches linear only; Gaussian noise reaches none.
"""

import numpy as np
import pytest

from probekit.probing.metrics import (
    RUNG_THRESHOLD,
    identifiability_ladder,
    identification_error,
    ladder_rung,
    procrustes_map,
)
from probekit.probing.probes import fit_linear_probes
from synthetic.bits import cube

D = 8


@pytest.fixture(scope="module")
def cube_split():
    rng = np.random.default_rng(0)
    z = cube(D).astype(np.float64)
    order = rng.permutation(len(z))
    return z, order[:180], order[180:]


def _ladder(rep, z, train, test):
    res = fit_linear_probes([rep], z, train, test, Cs=(0.1, 1.0, 10.0), cv=3, seed=0)
    acc = float(res.scores[0].mean())
    return identifiability_ladder(rep[train], z[train], rep[test], z[test], acc)


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_z_and_signed_permutations_reach_every_rung(cube_split):
    z, train, test = cube_split
    rng = np.random.default_rng(1)
    perm = np.eye(D)[rng.permutation(D)] * rng.choice([-1.0, 1.0], D)
    for rep in (z, z @ perm * 2.5 + 0.3):
        out = _ladder(rep, z, train, test)
        assert out["rung"] == "signed_permutation"
        assert out["mcc_units"] > 0.99 and out["procrustes_corr"] > 0.99
        assert out["linear_acc"] == 1.0


def test_a_random_rotation_is_orthogonal_not_a_permutation(cube_split):
    z, train, test = cube_split
    rep = z @ _orthogonal(np.random.default_rng(2), D)
    out = _ladder(rep, z, train, test)
    assert out["rung"] == "orthogonal"
    assert out["mcc_units"] < RUNG_THRESHOLD < out["procrustes_corr"]


def test_a_dense_ill_conditioned_map_is_linear_only(cube_split):
    z, train, test = cube_split
    rng = np.random.default_rng(3)
    a = _orthogonal(rng, D) @ np.diag(np.geomspace(1.0, 0.05, D)) @ _orthogonal(rng, D)
    out = _ladder(z @ a, z, train, test)
    assert out["rung"] == "linear"
    assert out["procrustes_corr"] < RUNG_THRESHOLD <= out["linear_acc"]


def test_gaussian_noise_reaches_no_rung(cube_split):
    z, train, test = cube_split
    rep = np.random.default_rng(4).normal(size=(len(z), D))
    out = _ladder(rep, z, train, test)
    assert out["rung"] == "none"
    assert out["mcc_units"] < 0.3 and out["linear_acc"] < 0.7


def test_units_mcc_is_not_fooled_by_a_linear_mixture(cube_split):
    # The probe-output quantity scored MCC 1 on any invertible mixture; the units do not.
    z, train, test = cube_split
    rng = np.random.default_rng(5)
    rep = z @ rng.normal(size=(D, D))
    assert identification_error(rep[test], z[test], match_on=(rep[train], z[train]))["mcc"] < 0.8


def test_matching_on_train_rows_scores_held_out_rows():
    # A unit that matches z_0 on the fit rows but is anti-correlated on the scored rows
    # counts against the score: matching is not redone on the rows it is scored on.
    rng = np.random.default_rng(6)
    z_fit = rng.choice([-1.0, 1.0], size=(200, 1))
    z_eval = rng.choice([-1.0, 1.0], size=(200, 1))
    out = identification_error(-z_eval, z_eval, match_on=(z_fit, z_fit))
    assert out["mcc"] == pytest.approx(-1.0) and out["identification_error"] == pytest.approx(4.0)
    assert identification_error(-z_eval, z_eval)["mcc"] == pytest.approx(1.0)


def test_procrustes_map_is_orthogonal_for_wide_and_narrow_sites():
    rng = np.random.default_rng(7)
    z = rng.choice([-1.0, 1.0], size=(300, 4))
    wide = procrustes_map(np.hstack([z, rng.normal(size=(300, 6))]), z)
    assert wide.shape == (10, 4) and np.allclose(wide.T @ wide, np.eye(4))
    narrow = procrustes_map(z[:, :2], z)
    assert narrow.shape == (2, 4) and np.allclose(narrow @ narrow.T, np.eye(2))


def test_a_rung_needs_every_less_restrictive_rung():
    assert ladder_rung(0.95, 0.95, 0.95) == "signed_permutation"
    assert ladder_rung(0.95, 0.5, 0.95) == "linear"  # a permutation score alone is not enough
    assert ladder_rung(0.95, 0.95, 0.5) == "none"
    assert ladder_rung(None, 0.95, 0.95) == "orthogonal"
