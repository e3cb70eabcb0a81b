"""What a task set's tasks are (task_report), the redraw of single-latent tasks, and bases T(z)."""

import json

import numpy as np
import pytest

import synthetic.task_checks as task_checks
from synthetic.bits import cube, to_index
from synthetic.config import apply_overrides, from_dict, load_yaml
from synthetic.recodings import (
    apply_recoding,
    recoding_inverse,
    sparse_parity_recoding,
)
from synthetic.task_families import TASK_FAMILIES
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec

BASIS = {"kind": "sparse_parity", "weight": 2, "seed": 1}


@pytest.fixture(scope="module")
def default_world():
    return World(WorldSpec.from_dict(load_yaml("configs/default.yaml")["world"]))


@pytest.fixture(scope="module")
def default_spec():
    return TaskSpec.from_dict(load_yaml("configs/default.yaml")["tasks"])


def first_draw(spec, d):
    """The family's first draw, as from_spec made it before single latents were redrawn."""
    block = TASK_FAMILIES.get(spec.family).draw(
        spec.n, spec.k, d, dict(spec.params), np.random.default_rng(spec.seed)
    )
    return TaskSet(d, spec.target, [block])


# ---------------------------------------------------------------- the report, known answers


def test_hand_built_single_latent_and_degrees():
    polys = [
        {(3,): -2.0, (0, 1): 0.5},  # sign(-2 z3 + 0.5 z0 z1) = -z3
        {(0, 1): 1.0},  # z0 z1: degree 2
        {(2,): 1.0, (4,): 1.0, (0, 4): 1.0},  # degree 2 after the sign, not a latent
        {(1,): 0.3},  # +z1
    ]
    tasks = TaskSet.from_polynomials(polys, d=5, target="sign")
    rep = tasks.task_report()
    assert [r["task"] for r in rep] == [0, 1, 2, 3]
    assert (rep[0]["single_latent"], rep[0]["sign"], rep[0]["degree_z"]) == (3, -1, 1)
    assert (rep[1]["single_latent"], rep[1]["sign"], rep[1]["degree_z"]) == (None, None, 2)
    assert rep[2]["single_latent"] is None and rep[2]["degree_z"] == 2
    assert (rep[3]["single_latent"], rep[3]["sign"]) == (1, 1)
    assert all(r["below_k"] is False and r["checked"] for r in rep)  # no spec, no k
    assert tasks.latents_equal_to_tasks() == [1, 3]
    assert tasks.basis_recoding() is None
    # Truth tables: -z3 given as a table is flagged the same way.
    z = cube(5).astype(float)
    table = TaskSet.from_truth_tables(np.stack([-z[:, 3], z[:, 0] * z[:, 1]]), target="sign")
    rep = table.task_report()
    assert (rep[0]["single_latent"], rep[0]["sign"]) == (3, -1)
    assert rep[1]["degree_z"] == 2 and rep[1]["single_latent"] is None


def test_real_tasks_are_single_latents_only_when_equal():
    tasks = TaskSet.from_polynomials([{(2,): -1.0}, {(2,): -0.5}], d=4, target="real")
    rep = tasks.task_report()
    assert (rep[0]["single_latent"], rep[0]["sign"]) == (2, -1)
    assert rep[1]["single_latent"] is None and rep[1]["degree_z"] == 1


def test_large_d_checks_on_the_support():
    polys = [{(25,): -1.0, (3, 7): 0.3}, {(0, 1): 1.0}]
    rep = TaskSet.from_polynomials(polys, d=30).task_report()
    assert (rep[0]["single_latent"], rep[0]["sign"], rep[0]["degree_z"]) == (25, -1, 1)
    assert rep[1]["degree_z"] == 2 and rep[1]["single_latent"] is None
    assert all(r["checked"] for r in rep)
    # 21 latents: too many to enumerate; a real polynomial still has a known degree.
    wide = {(i,): 1.0 for i in range(21)}
    real = TaskSet.from_polynomials([wide], d=30, target="real").task_report()[0]
    assert real["checked"] is False and real["degree_z"] == 1 and real["single_latent"] is None
    sign = TaskSet.from_polynomials([wide], d=30, target="sign").task_report()[0]
    assert sign["checked"] is False and sign["degree_z"] is None


def test_below_k_and_report_matches_truth_tables(default_world):
    from synthetic.fourier import degree

    spec = TaskSpec(family="walsh", n=32, k=3, seed=5, allow_single_latent=True)
    tasks = TaskSet.from_spec(spec, default_world)
    rep = tasks.task_report()
    degs = degree(tasks.truth_tables()).tolist()
    assert [r["degree_z"] for r in rep] == degs
    assert [r["below_k"] for r in rep] == [g < 3 for g in degs]
    assert any(r["below_k"] for r in rep)


# ---------------------------------------------------------------- redrawing single latents


def test_default_world_has_no_single_latent_tasks(default_world, default_spec):
    assert default_spec.allow_single_latent is False and default_spec.basis is None
    tasks = TaskSet.from_spec(default_spec, default_world)
    assert tasks.n == default_spec.n == 64
    assert tasks.latents_equal_to_tasks() == []
    assert not any(r["single_latent"] is not None for r in tasks.task_report())


def test_allow_single_latent_gives_back_the_first_draw(default_world, default_spec):
    old = TaskSet.from_spec(
        TaskSpec(**{**default_spec.to_dict(), "allow_single_latent": True}), default_world
    )
    before = first_draw(default_spec, default_world.d).truth_tables()
    assert np.array_equal(old.truth_tables(), before)
    # Measured on this world before the change: 8 of 64 tasks, 7 of the 10 latents.
    rep = old.task_report()
    assert sum(r["single_latent"] is not None for r in rep) == 8
    assert old.latents_equal_to_tasks() == [1, 3, 4, 5, 6, 8, 9]
    # Redrawing replaces exactly those tasks and keeps every other one as drawn.
    new = TaskSet.from_spec(default_spec, default_world).truth_tables()
    flagged = np.array([r["single_latent"] is not None for r in rep])
    assert np.array_equal(new[~flagged], before[~flagged])
    assert not np.array_equal(new[flagged], before[flagged])


@pytest.mark.parametrize(
    "family, params",
    [("walsh", {}), ("degree_weighted", {"rho": 0.3}), ("mixture", {"epsilon": 0.5})],
)
def test_redrawing_is_deterministic(default_world, family, params):
    spec = TaskSpec(family=family, n=48, k=2, seed=3, params=params)
    a, b = TaskSet.from_spec(spec, default_world), TaskSet.from_spec(spec, default_world)
    assert a.to_dict() == b.to_dict() and a.n == 48
    assert a.latents_equal_to_tasks() == []
    other = TaskSet.from_spec(
        TaskSpec(family=family, n=48, k=2, seed=4, params=params), default_world
    )
    assert other.to_dict() != a.to_dict()


def test_mixture_redraws_only_its_walsh_tasks(default_world):
    params = {"epsilon": 0.5, "first": "walsh", "second": "parity"}
    spec = TaskSpec(family="mixture", n=40, k=2, seed=0, params=params)
    tasks = TaskSet.from_spec(spec, default_world)
    kept = TaskSet.from_spec(
        TaskSpec(**{**spec.to_dict(), "allow_single_latent": True}), default_world
    )
    assert kept.latents_equal_to_tasks() != [] and tasks.latents_equal_to_tasks() == []
    assert np.array_equal(tasks.order, kept.order)  # which task comes from which family
    assert tasks.blocks[1].polys == kept.blocks[1].polys  # the parity block is untouched


def test_k1_walsh_redraws_or_refuses(default_world):
    tasks = TaskSet.from_spec(TaskSpec(family="walsh", n=32, k=1), default_world)
    assert tasks.latents_equal_to_tasks() == [] and tasks.n == 32
    # One term of degree 1: every task is a single latent, so the spec refuses.
    with pytest.raises(ValueError, match="only single latents.*allow_single_latent=true"):
        TaskSpec(family="walsh", n=4, k=1, params={"n_terms": 1})
    mixed = {"epsilon": 0.2, "first": "walsh", "first_params": {"n_terms": 1}}
    with pytest.raises(ValueError, match="only single latents"):
        TaskSpec(family="mixture", n=4, k=1, params=mixed)
    with pytest.raises(ValueError, match="only single latents"):
        TaskSpec(family="walsh", n=4, k=1).validate_for(1)
    kept = TaskSet.from_spec(
        TaskSpec(family="walsh", n=4, k=1, params={"n_terms": 1}, allow_single_latent=True),
        default_world,
    )
    assert all(r["single_latent"] is not None for r in kept.task_report())


def test_parity_k1_is_kept_by_definition(default_world):
    tasks = TaskSet.from_spec(TaskSpec(family="parity", n=10, k=1), default_world)
    assert tasks.latents_equal_to_tasks() == list(range(10))


def test_redrawing_gives_up_with_a_clear_error(default_world, default_spec, monkeypatch):
    monkeypatch.setattr(task_checks, "MAX_REDRAW_ROUNDS", 0)
    with pytest.raises(ValueError, match="Could not draw 8 of the 64 tasks.*'walsh'"):
        TaskSet.from_spec(default_spec, default_world)


# ---------------------------------------------------------------- the spec


def test_spec_fields_roundtrip_and_old_specs_load():
    spec = TaskSpec(n=5, allow_single_latent=True, basis=dict(BASIS))
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    old = {"family": "walsh", "n": 64, "k": 2, "target": "sign", "seed": 0, "params": {}}
    loaded = TaskSpec.from_dict(old)
    assert loaded.allow_single_latent is False and loaded.basis is None
    data = apply_overrides(
        {"n": 4}, ["allow_single_latent=true", "basis={kind: sparse_parity, weight: 3}"]
    )
    spec = from_dict(TaskSpec, data)
    assert spec.allow_single_latent is True and spec.basis == {"kind": "sparse_parity", "weight": 3}


@pytest.mark.parametrize(
    "data, match",
    [
        ({"allow_single_latent": "yes"}, "allow_single_latent"),
        ({"basis": {"kind": "nope"}}, "basis kind must be one of sparse_parity"),
        ({"basis": {"kind": "sparse_parity", "wieght": 2}}, "Unknown key 'wieght'"),
        ({"basis": {"kind": "sparse_parity", "weight": 0}}, "weight"),
        ({"basis": {"kind": "sparse_parity", "seed": -1}}, "seed"),
        ({"basis": "sparse_parity"}, "basis"),
        ({"allow_single_letent": True}, "Unknown key 'allow_single_letent'"),
    ],
)
def test_bad_spec_fields(data, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec.from_dict(data)


def test_basis_weight_must_fit_d():
    with pytest.raises(ValueError, match="weight < d"):
        TaskSpec(basis={"kind": "sparse_parity", "weight": 4}).validate_for(4)


# ---------------------------------------------------------------- recodings T(z)


@pytest.mark.parametrize("d, weight", [(1, 1), (3, 2), (4, 3), (6, 2), (10, 2), (10, 3), (9, 4)])
def test_sparse_parity_recoding_is_a_bijection_that_inverts(d, weight):
    a = sparse_parity_recoding(d, np.random.default_rng(d + weight), weight)
    assert a.shape == (d, d) and set(np.unique(a)) <= {0, 1}
    sizes = sorted(a.sum(axis=1).tolist())
    # Even-weight rows cannot span GF(2)^d: one row has weight + 1.
    assert sizes == [weight] * d if weight % 2 else [weight] * (d - 1) + [weight + 1]
    if weight >= 2:
        assert a.sum(axis=1).min() >= 2  # no row is a single bit: T is not z
    z = cube(d)
    t = apply_recoding(z, a)
    assert t.dtype == np.int8 and np.unique(to_index(t)).size == 1 << d  # a bijection
    inv = recoding_inverse(a)
    assert np.array_equal((inv.astype(int) @ a) % 2, np.eye(d, dtype=int))
    assert np.array_equal(apply_recoding(t, inv), z)
    for i in range(d):
        assert np.array_equal(t[:, i], np.prod(z[:, a[i] == 1], axis=1))
    same = sparse_parity_recoding(d, np.random.default_rng(d + weight), weight)
    assert np.array_equal(same, a)


def test_recoding_errors():
    with pytest.raises(ValueError, match="weight < d"):
        sparse_parity_recoding(3, np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match="not invertible"):
        recoding_inverse(np.array([[1, 1], [1, 1]]))


def test_tasks_in_a_basis_are_g_of_t(default_world):
    spec = TaskSpec(n=16, k=2, seed=0, basis=dict(BASIS))
    tasks = TaskSet.from_spec(spec, default_world)
    a = tasks.basis_recoding()
    assert np.array_equal(a, sparse_parity_recoding(10, np.random.default_rng(1), 2))
    g = TaskSet(10, "sign", tasks.blocks, tasks.order)  # the same tasks, on their input
    z = cube(10)
    assert np.array_equal(tasks.evaluate(z), g.evaluate(apply_recoding(z, a)))
    # Everything else follows from evaluating on T(z).
    back = TaskSet.from_dict(json.loads(json.dumps(tasks.to_dict())))
    assert np.array_equal(back.basis_recoding(), a)
    assert np.array_equal(back.truth_tables(), tasks.truth_tables())
    from synthetic.fourier import degree, from_coefficients

    rep = tasks.task_report()
    assert [r["degree_z"] for r in rep] == degree(tasks.truth_tables()).tolist()
    assert tasks.latents_equal_to_tasks() == [] and all(r["basis_coordinate"] is None for r in rep)
    # The polynomials are in z (expanded from the tables), not the stored ones in T(z).
    coefs = np.zeros((16, 1 << 10))
    for i, p in enumerate(tasks.polynomials):
        for s, c in p.items():
            coefs[i, sum(1 << j for j in s)] = c
    assert np.allclose(from_coefficients(coefs), tasks.truth_tables())


def test_basis_tasks_equal_to_a_coordinate_of_t_are_redrawn(default_world):
    kept = TaskSet.from_spec(TaskSpec(basis=dict(BASIS), allow_single_latent=True), default_world)
    rep = kept.task_report()
    hits = [r for r in rep if r["basis_coordinate"] is not None]
    assert hits  # sign(p(u)) = ±u_r for the same draws that gave ±z_j without a basis
    t = apply_recoding(cube(10), kept.basis_recoding())
    tables = kept.truth_tables()
    for r in hits:  # the task is ±T_r(z) on the whole cube
        agreement = tables[r["task"]] @ t[:, r["basis_coordinate"]] / t.shape[0]
        assert abs(agreement) == 1.0
    redrawn = TaskSet.from_spec(TaskSpec(basis=dict(BASIS)), default_world)
    assert redrawn.n == 64
    assert all(r["basis_coordinate"] is None for r in redrawn.task_report())


def test_every_family_says_what_a_task_is():
    for name in TASK_FAMILIES.names():
        family = TASK_FAMILIES.get(name)
        assert family.summary and family.__doc__
    assert "sign of a random degree-k" in TASK_FAMILIES.get("walsh").summary
    assert {n for n in TASK_FAMILIES.names() if TASK_FAMILIES.get(n).redraws_single_latent} == {
        "walsh",
        "degree_weighted",
    }
