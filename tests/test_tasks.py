import json

import numpy as np
import pytest

from synthetic.bits import character, cube
from synthetic.fourier import degree
from synthetic.registry import UnknownNameError
from synthetic.task_families import TASK_FAMILIES
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


@pytest.fixture(scope="module")
def world():
    return World(WorldSpec(d=6, observation="random_bijection", seed=0))


def roundtrip(tasks):
    return TaskSet.from_dict(json.loads(json.dumps(tasks.to_dict())))


def test_families_registered():
    assert TASK_FAMILIES.names() == sorted(
        ["walsh", "parity", "uniform", "mixture", "degree_weighted", "cross_view"]
    )


def test_walsh_has_degree_exactly_k_and_unit_variance(world):
    for k in (1, 2, 3):
        spec = TaskSpec(family="walsh", n=8, k=k, target="real", seed=k, params={"n_terms": 5})
        tasks = TaskSet.from_spec(spec, world)
        tt = tasks.truth_tables()
        assert degree(tt).tolist() == [k] * 8
        assert np.allclose((tt**2).mean(axis=1), 1.0)  # unit variance, no constant
        assert np.allclose(tt.mean(axis=1), 0.0)
        for p in tasks.polynomials:
            assert max(len(s) for s in p) == k and all(len(s) >= 1 for s in p)


def test_parity_tasks_are_characters(world):
    tasks = TaskSet.from_spec(TaskSpec(family="parity", n=15, k=2, seed=0), world)
    subsets = [next(iter(p)) for p in tasks.polynomials]
    assert len(set(subsets)) == 15  # all C(6,2) = 15 pairs, distinct
    z = cube(6)
    vals = tasks.evaluate(z)
    for j, s in enumerate(subsets):
        assert np.array_equal(vals[:, j], character(z, s))


def test_evaluate_matches_polynomial_and_sign_ties():
    polys = [{(0,): 1.0, (1,): 1.0}, {(0, 2): -2.0, (): 0.5}]
    real = TaskSet.from_polynomials(polys, d=3, target="real")
    sign = TaskSet.from_polynomials(polys, d=3, target="sign")
    z = cube(3)
    expected = np.stack([z[:, 0] + z[:, 1], -2.0 * z[:, 0] * z[:, 2] + 0.5], axis=1).astype(
        np.float32
    )
    out = real.evaluate(z)
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    s = sign.evaluate(z)
    # z0 + z1 = 0 is a tie and must map to +1.
    assert np.array_equal(s[:, 0], np.where(expected[:, 0] >= 0, 1, -1))
    assert np.array_equal(s[:, 1], np.sign(expected[:, 1]))


def test_uniform_is_a_table_and_refuses_large_d(world):
    tasks = TaskSet.from_spec(TaskSpec(family="uniform", n=4, k=0, seed=0), world)
    tt = tasks.truth_tables()
    assert tt.shape == (4, 64) and set(np.unique(tt)) == {-1.0, 1.0}
    assert np.array_equal(roundtrip(tasks).truth_tables(), tt)
    big = World(WorldSpec(d=21, observation="identity"))
    with pytest.raises(ValueError, match="'uniform'.*d ≤ 20"):
        TaskSet.from_spec(TaskSpec(family="uniform", n=1, k=1), big)
    with pytest.raises(ValueError, match="d ≤ 20"):
        TaskSpec(family="uniform", n=1, k=1).validate_for(WorldSpec(d=21, observation="identity"))


def test_degree_weighted_prefers_low_degree(world):
    spec = TaskSpec(family="degree_weighted", n=200, k=3, target="real", params={"rho": 0.1})
    tasks = TaskSet.from_spec(spec, world)
    from synthetic.fourier import level_weights

    w = level_weights(tasks.truth_tables()).mean(axis=0)
    assert np.isclose(w.sum(), 1.0)
    assert w[0] < 1e-12 and w[1] > w[2] > w[3] > 0
    assert w[4:].max() < 1e-12


def test_cross_view_bits_are_another_map(world):
    spec = TaskSpec(family="cross_view", n=4, k=1, params={"observation": "gf2_linear"})
    tasks = TaskSet.from_spec(spec, world)
    view = tasks.blocks[0].psi2
    z = cube(6)
    assert np.array_equal(tasks.evaluate(z), view.encode(z)[:, :4])
    assert degree(tasks.truth_tables()).tolist() == view.matrix[:4].sum(axis=1).tolist()
    assert np.array_equal(roundtrip(tasks).evaluate(z), tasks.evaluate(z))
    with pytest.raises(ValueError, match="n ≤ d"):
        TaskSet.from_spec(TaskSpec(family="cross_view", n=7, k=1), world)


def test_mixture_keeps_order_and_epsilon_extremes(world):
    z = cube(6)
    params = {"epsilon": 0.5, "first": "parity", "second": "uniform"}
    tasks = TaskSet.from_spec(TaskSpec(family="mixture", n=40, k=2, params=params), world)
    degs = degree(tasks.truth_tables())
    is_parity = degs == 2
    assert 5 < is_parity.sum() < 35  # both components present
    back = roundtrip(tasks)
    assert np.array_equal(back.evaluate(z), tasks.evaluate(z))
    all_first = TaskSet.from_spec(
        TaskSpec(family="mixture", n=10, k=2, params={**params, "epsilon": 1.0}), world
    )
    assert degree(all_first.truth_tables()).tolist() == [2] * 10


def test_same_spec_same_tasks(world):
    spec = TaskSpec(family="walsh", n=6, k=2, seed=11)
    a = TaskSet.from_spec(spec, world).to_dict()
    b = TaskSet.from_spec(spec, world).to_dict()
    assert a == b
    c = TaskSet.from_spec(TaskSpec(family="walsh", n=6, k=2, seed=12), world).to_dict()
    assert a != c


def test_polynomial_interchange_roundtrip():
    polys = [{(2, 0): 1.5}, {(): -1.0, (1,): 2.0}]
    tasks = TaskSet.from_polynomials(polys, d=3, target="real")
    assert tasks.polynomials == [{(0, 2): 1.5}, {(): -1.0, (1,): 2.0}]
    back = roundtrip(tasks)
    assert back.polynomials == tasks.polynomials and back.target == "real"


def test_spec_roundtrip():
    spec = TaskSpec(family="mixture", n=5, k=2, params={"epsilon": 0.3, "first": "parity"})
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "TaskSpec.n must be a positive integer"),
        ({"k": -1}, "TaskSpec.k must be an integer ≥ 0"),
        ({"target": "bool"}, "TaskSpec.target must be one of sign, real"),
        ({"seed": -3}, "seed"),
        ({"family": "mixture", "params": {"epsilon": 1.5}}, "epsilon.*\\[0, 1\\]"),
        ({"family": "mixture", "params": {"epsilon": -0.1}}, "epsilon"),
        ({"family": "mixture", "params": {"first": "nope"}}, "Unknown task family 'nope'"),
        ({"family": "walsh", "params": {"n_term": 3}}, "Unknown parameter 'n_term'"),
        ({"family": "degree_weighted", "params": {"rho": 0}}, "rho"),
        ({"family": "cross_view", "params": {"observation": "nope"}}, "observation map 'nope'"),
    ],
)
def test_invalid_task_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec(**kwargs)


def test_unknown_family_error():
    with pytest.raises(UnknownNameError, match="Available: cross_view, degree_weighted"):
        TaskSpec(family="nope")


def test_k_larger_than_d_fails(world):
    with pytest.raises(ValueError, match="k=7 exceeds .* d=6"):
        TaskSet.from_spec(TaskSpec(family="parity", n=1, k=7), world)


@pytest.mark.parametrize("bad", [{(0, 3): 1.0}, {(-1,): 1.0}, {(0, 0): 1.0}, {(1,): "a"}])
def test_bad_polynomials(bad):
    with pytest.raises(ValueError, match="task 0"):
        TaskSet.from_polynomials([bad], d=3)


def test_from_dict_rejects_out_of_range_index():
    data = {
        "d": 3,
        "target": "sign",
        "blocks": [{"kind": "polynomial", "polynomials": [[[[5], 1.0]]]}],
    }
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        TaskSet.from_dict(data)


def test_evaluate_checks_shape():
    tasks = TaskSet.from_polynomials([{(0,): 1.0}], d=3)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        tasks.evaluate(np.ones((2, 2), dtype=np.int8))


def test_evaluate_in_chunks_matches_whole(monkeypatch, world):
    import synthetic.tasks as tasks_mod

    tasks = TaskSet.from_spec(TaskSpec(family="walsh", n=5, k=3, target="real"), world)
    z = cube(6)
    whole = tasks.evaluate(z)
    monkeypatch.setattr(tasks_mod, "EVAL_CHUNK_ELEMENTS", 7)  # forces many small chunks
    assert np.array_equal(tasks.evaluate(z), whole)
