"""Controls: splits by distinct input, random recodings, alternative bases, control tasks by type."""

import numpy as np
import pytest

from probekit.probing.controls import (
    control_task_labels,
    distinct_rows,
    draw_recoding,
    random_recoding,
    split_by_distinct_inputs,
)
from synthetic.bits import cube, to_index


def _with_duplicates(rng, n_distinct=40, copies=3, m=7):
    x = cube(m)[rng.choice(2**m, size=n_distinct, replace=False)]
    return x[rng.permutation(np.repeat(np.arange(n_distinct), copies))]


def test_split_never_shares_an_input_and_covers_every_row():
    rng = np.random.default_rng(0)
    x = _with_duplicates(rng)
    train, test = split_by_distinct_inputs(x, 0.25, np.random.default_rng(1))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(x)))
    assert not set(map(bytes, x[train])) & set(map(bytes, x[test]))
    assert len({bytes(r) for r in x[test]}) == 10  # 25% of 40 distinct inputs
    again = split_by_distinct_inputs(x, 0.25, np.random.default_rng(1))
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])


def test_split_keeps_both_sides_non_empty_and_rejects_bad_fractions():
    x = np.array([[1, 1], [1, 1], [-1, 1]])
    train, test = split_by_distinct_inputs(x, 0.01, np.random.default_rng(0))
    assert len(train) and len(test)
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_distinct_inputs(x, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="single distinct row"):
        split_by_distinct_inputs(np.ones((5, 2)), 0.3, np.random.default_rng(0))


@pytest.mark.parametrize("d", [1, 6])
def test_recoding_is_a_bijection_of_the_cube(d):
    z = cube(d)
    t = random_recoding(z, np.random.default_rng(d))
    assert t.dtype == np.int8 and set(np.unique(t)) <= {-1, 1}
    assert np.array_equal(np.sort(to_index(t)), np.arange(2**d))


def test_recoding_is_a_function_of_z_and_not_the_identity():
    rng = np.random.default_rng(3)
    z = cube(8)[rng.integers(0, 256, size=500)]
    t = random_recoding(z, np.random.default_rng(4))
    _, ids = distinct_rows(z)
    for g in np.unique(ids):
        assert len(np.unique(t[ids == g], axis=0)) == 1
    assert (t != z).any(axis=1).mean() > 0.9


def test_recoding_of_wide_latents_uses_a_reversible_circuit():
    rng = np.random.default_rng(5)
    z = np.where(rng.random((300, 24)) < 0.5, 1, -1).astype(np.int8)
    T = draw_recoding(24, np.random.default_rng(6))
    t = T(z)
    assert t.shape == z.shape and len(np.unique(t, axis=0)) == len(np.unique(z, axis=0))
    assert np.array_equal(T(z[:10]), t[:10])  # same T, same answer on a sub-batch


def test_control_labels_are_fixed_per_input_and_balanced():
    rng = np.random.default_rng(7)
    x = _with_duplicates(rng, n_distinct=41, copies=4)
    y = control_task_labels(x, 5, np.random.default_rng(8))
    assert y.shape == (len(x), 5) and y.dtype == np.int8
    _, ids = distinct_rows(x)
    per_input = np.zeros((41, 5))
    for g in range(41):
        rows = y[ids == g]
        assert (rows == rows[0]).all()
        per_input[g] = rows[0]
    assert np.all(np.abs(per_input.sum(axis=0)) <= 1)  # 20 or 21 of each sign per target
    assert len({tuple(c) for c in per_input.T}) == 5  # targets differ from each other
    with pytest.raises(ValueError, match="n_targets"):
        control_task_labels(x, 0, rng)


# --------------------------------------------------------------- controls that can fail


def _linear_acc(rep, y, train, test):
    from probekit.probing.probes import fit_linear_probes

    res = fit_linear_probes([rep], y, train, test, Cs=(0.1, 1.0, 10.0), cv=3, seed=0)
    return res.scores[0]


def test_alt_basis_is_a_sparse_invertible_recoding_of_z():
    from probekit.probing.controls import alt_basis, alt_basis_recoding

    z = cube(8)
    a = alt_basis_recoding(8, np.random.default_rng(0), weight=2)
    # Rows of even weight only would be singular over GF(2) (all-ones is in their kernel),
    # so one row carries one latent more.
    assert a.shape == (8, 8) and set(a.sum(axis=1)) <= {2, 3} and (a.sum(axis=1) == 2).sum() >= 7
    t = alt_basis(z, a)
    assert np.array_equal(np.sort(to_index(t)), np.arange(256))  # a bijection of the cube
    for i, row in enumerate(a):
        assert np.array_equal(t[:, i], np.prod(z[:, np.flatnonzero(row)], axis=1))


def test_alt_basis_control_flags_a_model_that_learned_another_basis():
    # A representation holding T(z) instead of z: the alternative-basis control decodes
    # perfectly while z falls to the level a product of two latents allows. Holding z, the
    # control stays low. So the control can come out either way.
    from probekit.probing.controls import alt_basis, alt_basis_recoding

    z = cube(8)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(z))
    train, test = order[:180], order[180:]
    t = alt_basis(z, alt_basis_recoding(8, rng, weight=2)).astype(np.float64)
    holds_t = _linear_acc(t, np.hstack([z, t]).astype(np.float64), train, test)
    assert holds_t[8:].mean() == 1.0 and holds_t[:8].mean() < 0.8
    holds_z = _linear_acc(z.astype(np.float64), np.hstack([z, t]).astype(np.float64), train, test)
    assert holds_z[:8].mean() == 1.0 and holds_z[8:].mean() < 0.7


def test_type_control_task_measures_what_a_probe_can_memorise():
    # Hewitt & Liang: labels fixed per type, types recurring on both sides of the split. An
    # MLP probe on a representation that encodes the types one-hot reaches high control
    # accuracy; a linear probe on random features does not. The old control (a label per
    # distinct input, split by distinct input) is at chance for both: it cannot fail.
    from probekit.probing.controls import control_types
    from probekit.probing.estimators import MLPProbe

    x = cube(8)
    rng = np.random.default_rng(2)
    types = control_types(x, 4, rng)
    assert len(np.unique(types)) == 16
    labels = control_task_labels(types, 4, rng).astype(np.float64)
    train, test = split_by_distinct_inputs(x, 0.3, rng)
    assert set(types[test]) <= set(types[train])  # every test type was seen in training
    one_hot = np.eye(16)[types]
    mlp = MLPProbe(hidden=(32,), max_iter=300, random_state=0).fit(one_hot[train], labels[train])
    assert (mlp.predict(one_hot[test]) == labels[test]).mean() > 0.95
    noise = rng.normal(size=(len(x), 16))
    assert _linear_acc(noise, labels, train, test).mean() < 0.65
    per_input = control_task_labels(x, 4, rng).astype(np.float64)
    mlp = MLPProbe(hidden=(32,), max_iter=300, random_state=0).fit(one_hot[train], per_input[train])
    assert abs((mlp.predict(one_hot[test]) == per_input[test]).mean() - 0.5) < 0.1


def test_control_types_reject_more_bits_than_the_input_has():
    from probekit.probing.controls import control_types

    with pytest.raises(ValueError, match="control_type_bits"):
        control_types(cube(3), 4, np.random.default_rng(0))


def test_probe_splits_keep_model_training_fit_choice_and_reported_inputs_disjoint():
    from probekit.probing.controls import SPLITS, probe_splits
    from synthetic.holdout import heldout_mask

    z = cube(10)
    unseen = heldout_mask(z, 0.25, 3)  # the inputs the model never trained on
    splits = probe_splits(z, unseen, 0.3, np.random.default_rng(0))
    assert set(splits) == set(SPLITS)
    rows = [set(splits[s].tolist()) for s in SPLITS]
    assert sum(map(len, rows)) == len(z) and set().union(*rows) == set(range(len(z)))
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            assert not rows[i] & rows[j], (SPLITS[i], SPLITS[j])
    trained_on = set(np.flatnonzero(~unseen).tolist())
    # The reported and validation inputs of the unseen scope were never trained on.
    assert not trained_on & (rows[3] | rows[4])
    assert rows[0] <= trained_on  # probes fit on the model's training inputs only
    assert min(len(splits["val_unseen"]), len(splits["test_unseen"])) > 100
    again = probe_splits(z, unseen, 0.3, np.random.default_rng(0))
    assert all(np.array_equal(again[s], splits[s]) for s in SPLITS)  # from the seed
    # Nothing held out of training: the unseen scope is empty, the rest still disjoint.
    no_holdout = probe_splits(z, None, 0.3, np.random.default_rng(0))
    assert len(no_holdout["test_unseen"]) == 0 and len(no_holdout["test_seen"]) > 100
