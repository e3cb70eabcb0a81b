import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.bits import character, cube, mask_of
from synthetic.fourier import (
    coefficients,
    conditional_degree,
    degree,
    from_coefficients,
    fwht,
    ifwht,
    level_weights,
    map_tables,
    polynomials_of,
    vector_degree,
)
from synthetic.task_degrees import degree_in_x, fourier_report, inverse_tables
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


def naive_transform(f):
    n = int(np.log2(f.shape[-1]))
    c = cube(n).astype(np.float64)
    h = np.array(
        [
            [np.prod(c[x, [i for i in range(n) if m >> i & 1]]) for x in range(1 << n)]
            for m in range(1 << n)
        ]
    )
    return f @ h.T


def test_max_of_two_bits():
    z = cube(2)
    f = np.maximum(z[:, 0], z[:, 1]).astype(float)
    # max(x1,x2) = 1/2 + x1/2 + x2/2 - x1 x2 / 2; masks 0, {0}, {1}, {0,1}.
    assert np.allclose(coefficients(f), [0.5, 0.5, 0.5, -0.5])
    assert degree(f) == 2
    assert np.allclose(level_weights(f), [0.25, 0.5, 0.25])


@pytest.mark.parametrize("subset", [(), (0,), (1, 3), (0, 2, 4), (0, 1, 2, 3, 4)])
def test_parity_degree_and_single_coefficient(subset):
    f = character(cube(5), subset).astype(float)
    c = coefficients(f)
    expected = np.zeros(32)
    expected[mask_of(subset)] = 1.0
    assert np.allclose(c, expected)
    assert degree(f) == len(subset)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 7), st.integers(0, 2**31))
def test_transform_properties(n, seed):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((3, 1 << n))
    h = fwht(f)
    assert np.allclose(h, naive_transform(f))
    assert np.allclose(ifwht(h), f)
    assert np.allclose(from_coefficients(coefficients(f)), f)
    # Parseval: Σ f̂(S)² = E[f²].
    assert np.allclose(level_weights(f).sum(-1), (f**2).mean(-1))
    assert np.allclose((coefficients(f) ** 2).sum(-1), (f**2).mean(-1))


def test_fwht_axis_and_input_untouched():
    f = np.random.default_rng(0).standard_normal((8, 4))
    before = f.copy()
    assert np.allclose(fwht(f, axis=0), fwht(f.T).T)
    assert np.array_equal(f, before)
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(np.ones(6))


def test_batched_degree_and_vector_degree():
    z = cube(4)
    tables = np.stack([character(z, s) for s in [(0,), (1, 2), (0, 1, 3)]]).astype(float)
    assert degree(tables).tolist() == [1, 2, 3]
    assert vector_degree(tables) == {"sum": 6, "max": 3}
    assert degree(np.zeros(8)) == 0


def test_polynomials_of_recovers_polynomial():
    poly = {(0,): 0.5, (1, 2): -1.25, (): 0.1}
    tasks = TaskSet.from_polynomials([poly], d=3, target="real")
    (back,) = polynomials_of(tasks.truth_tables())
    assert back.keys() == poly.keys()
    assert all(np.isclose(back[s], c) for s, c in poly.items())


def test_gf2_inverse_degrees_match_matrix_rows():
    world = World(WorldSpec(d=7, observation="gf2_linear", seed=4))
    degs = degree(inverse_tables(world))
    assert degs.tolist() == world.psi.inverse_matrix.sum(axis=1).tolist()


def _tasks(world, k=2):
    return TaskSet.from_spec(TaskSpec(family="parity", n=10, k=k, seed=1), world)


def test_degree_in_x_unchanged_by_degree_one_maps_raised_by_bijection():
    for obs in ("identity", "signed_permutation"):
        world = World(WorldSpec(d=8, observation=obs, seed=2))
        assert degree_in_x(_tasks(world), world) == [2] * 10
    world = World(WorldSpec(d=8, observation="random_bijection", seed=2))
    degs = degree_in_x(_tasks(world), world)
    assert min(degs) > 2  # a random bijection makes parities dense in x


def test_degree_in_x_of_gf2_world_is_parity_of_inverse_rows():
    world = World(WorldSpec(d=6, observation="gf2_linear", seed=3))
    tasks = _tasks(world, k=2)
    ainv = world.psi.inverse_matrix
    # χ_S(z) with z = A⁻¹x over GF(2) is χ_T(x) with T = XOR of rows of A⁻¹ in S.
    expected = []
    for (s,) in (p.keys() for p in tasks.polynomials):
        row = np.bitwise_xor.reduce(ainv[list(s)], axis=0)
        expected.append(int(row.sum()))
    assert degree_in_x(tasks, world) == expected


def test_conditional_degree_known_answers():
    z = cube(3)
    h = (z[:, 0] * z[:, 1] * z[:, 2]).astype(float)  # degree 3
    ident = z.T.astype(float)
    assert conditional_degree(h, ident) == 0
    # Φ = (x0 x1, x1, x2) is a bijection; h = Φ_0 Φ_2: g has degree 2, saving 1.
    phi = np.stack([z[:, 0] * z[:, 1], z[:, 1], z[:, 2]]).astype(float)
    assert conditional_degree(h, phi) == 1
    # Φ = (x0 x1 x2, x1, x2): h = Φ_0, saving 2.
    phi = np.stack([z[:, 0] * z[:, 1] * z[:, 2], z[:, 1], z[:, 2]]).astype(float)
    assert conditional_degree(h, phi) == 2
    # Injective, not surjective: Φ = (x0 x1 x2, x0, x1, x2) -> lowest-degree g = Φ_0.
    phi4 = np.concatenate([phi[:1], z.T.astype(float)])
    assert conditional_degree(h, phi4) == 2
    with pytest.raises(ValueError, match="not injective"):
        conditional_degree(h, np.stack([z[:, 0], z[:, 0], z[:, 1]]).astype(float))


def test_fourier_report_is_json_and_consistent():
    world = World(WorldSpec(d=6, m=8, observation="random_bijection", seed=0))
    tasks = TaskSet.from_spec(TaskSpec(family="walsh", n=5, k=2, target="real", seed=0), world)
    rep = json.loads(json.dumps(fourier_report(world, tasks)))
    assert rep["d_squared"] == 36 and rep["n_tasks"] == 5
    assert [t["degree_z"] for t in rep["tasks"]] == [2] * 5
    assert rep["total_saving"] == rep["sum_degree_x"] - rep["sum_degree_z"]
    for t in rep["tasks"]:
        assert np.isclose(sum(t["level_weights_z"]), sum(t["level_weights_x"]))
    assert rep["hierarchical_cost"] == rep["psi_inverse_degree"]["sum"] + rep["sum_degree_z"]
    ident = World(WorldSpec(d=6, observation="identity"))
    rep = fourier_report(ident, TaskSet.from_spec(TaskSpec(family="parity", n=3, k=2), ident))
    assert rep["total_saving"] == 0 and rep["psi_inverse_degree"] == {"sum": 6, "max": 1}


def test_report_refuses_large_d():
    world = World(WorldSpec(d=21, observation="identity"))
    tasks = TaskSet.from_spec(TaskSpec(family="parity", n=2, k=2), world)
    with pytest.raises(ValueError, match="d ≤ 20"):
        fourier_report(world, tasks)


def test_map_tables_of_identity():
    assert np.array_equal(map_tables(lambda z: z, 3), cube(3).T.astype(float))


def test_fwht_large_n_uses_chunked_path_correctly():
    # n = 18 exceeds the in-cache chunk size, so the chunked butterflies are exercised.
    n = 18
    z_idx = np.arange(1 << n, dtype=np.int64)
    subset = (0, 5, 17)
    # χ_S at index x is (-1)^{popcount(x & mask)}.
    bits = z_idx & mask_of(subset)
    parity = np.zeros_like(bits)
    while np.any(bits):
        parity ^= bits & 1
        bits >>= 1
    f = np.where(parity == 0, 1.0, -1.0)
    c = coefficients(f)
    assert np.isclose(c[mask_of(subset)], 1.0)
    assert np.isclose(np.abs(c).sum(), 1.0)
    g = np.random.default_rng(0).standard_normal(1 << n)
    assert np.allclose(ifwht(fwht(g)), g)


def test_fourier_report_flags_single_latent_and_below_k_tasks():
    from probekit.commands.fourier import format_report

    world = World(WorldSpec(d=10, observation="random_bijection", seed=0))
    spec = TaskSpec(family="walsh", n=64, k=2, seed=0, allow_single_latent=True)
    tasks = TaskSet.from_spec(spec, world)
    rep = json.loads(json.dumps(fourier_report(world, tasks)))
    assert rep["family"] == "walsh" and rep["k"] == 2 and "sign of a random" in rep["task_summary"]
    flagged = [t for t in rep["tasks"] if t["single_latent"] is not None]
    # The default world's first draw: 8 single-latent tasks covering 7 latents, each of
    # degree 1 < k, and no other task below k.
    assert len(flagged) == rep["n_single_latent"] == 8
    assert rep["latents_equal_to_tasks"] == [1, 3, 4, 5, 6, 8, 9]
    assert all(t["degree_z"] == 1 and t["below_k"] and t["sign"] in (1, -1) for t in flagged)
    assert rep["n_below_k"] == 8
    assert [t["degree_z"] for t in rep["tasks"]] == degree(tasks.truth_tables()).tolist()
    z = cube(10).astype(float)
    for t in flagged:
        g = tasks.truth_tables()[t["task"]]
        assert np.array_equal(g, t["sign"] * z[:, t["single_latent"]])
    text = format_report(rep)
    assert "single-latent tasks (=±z_j): 8 of 64 (latents 1, 3, 4, 5, 6, 8, 9)" in text
    assert "degree in z below k=2: 8 of 64" in text
    t = flagged[0]
    assert f"={'-' if t['sign'] < 0 else '+'}z{t['single_latent']},<k=2" in text
    # The default (redrawn) tasks: nothing to flag.
    rep = fourier_report(world, TaskSet.from_spec(TaskSpec(n=64, k=2, seed=0), world))
    assert rep["n_single_latent"] == 0 and rep["latents_equal_to_tasks"] == []
    assert "single-latent tasks (=±z_j): 0 of 64; degree in z below k=2: 0 of 64" in format_report(
        rep
    )


def test_fourier_report_of_a_hand_built_set_and_a_basis():
    world = World(WorldSpec(d=5, observation="identity"))
    tasks = TaskSet.from_polynomials([{(3,): -1.0, (0, 1): 0.4}, {(0, 1): 1.0}], d=5)
    rep = fourier_report(world, tasks)
    t0, t1 = rep["tasks"]
    assert (t0["degree_z"], t0["single_latent"], t0["sign"], t0["below_k"]) == (1, 3, -1, False)
    assert (t1["degree_z"], t1["single_latent"], t1["sign"]) == (2, None, None)
    assert rep["k"] is None and rep["task_summary"] is None and rep["basis"] is None
    basis = {"kind": "sparse_parity", "weight": 2, "seed": 1}
    spec = TaskSpec(n=8, k=2, basis=basis, allow_single_latent=True)
    rep = fourier_report(world, TaskSet.from_spec(spec, world))
    assert rep["basis"] == basis and "recoding T(z)" in rep["task_summary"]
    assert rep["n_basis_coordinate"] == sum(t["basis_coordinate"] is not None for t in rep["tasks"])
