import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.bits import cube, to_index
from synthetic.fourier import degree, map_tables
from synthetic.observation import (
    OBSERVATION_MAPS,
    build_observation,
    check_observation,
    gf2_inverse,
    gf2_rank,
)

MAPS = ["identity", "signed_permutation", "gf2_linear", "random_bijection", "reversible_circuit"]


def test_registry_lists_all_maps():
    assert set(MAPS) <= set(OBSERVATION_MAPS.names())


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(MAPS), st.integers(1, 9), st.integers(0, 2**31))
def test_every_map_is_a_bijection_of_the_cube(name, d, seed):
    psi = build_observation(name, d, np.random.default_rng(seed))
    z = cube(d)
    x = psi.encode(z)
    assert x.dtype == np.int8 and x.shape == z.shape
    assert np.unique(to_index(x)).size == 1 << d  # injective, hence bijective
    assert np.array_equal(psi.decode(x), z)
    assert np.array_equal(psi.encode(psi.decode(z)), z)


def test_identity_and_signed_permutation_are_degree_one():
    for name in ("identity", "signed_permutation"):
        psi = build_observation(name, 5, np.random.default_rng(1))
        assert np.all(degree(map_tables(psi.encode, 5)) == 1)


def test_signed_permutation_is_a_signed_permutation():
    psi = build_observation("signed_permutation", 6, np.random.default_rng(3))
    z = cube(6)
    x = psi.encode(z)
    for i in range(6):
        assert np.array_equal(x[:, i], psi.signs[i] * z[:, psi.perm[i]])


def test_gf2_linear_bits_are_parities_of_matrix_rows():
    psi = build_observation("gf2_linear", 6, np.random.default_rng(7))
    a, ainv = psi.matrix, psi.inverse_matrix
    assert np.array_equal((a.astype(int) @ ainv) % 2, np.eye(6, dtype=int))
    z = cube(6)
    x = psi.encode(z)
    for i in range(6):
        expected = np.prod(z[:, a[i] == 1], axis=1)
        assert np.array_equal(x[:, i], expected)
    # Coordinate i of ψ⁻¹ is the character of row i of A⁻¹: degree = row weight.
    inv_deg = degree(map_tables(psi.decode, 6))
    assert inv_deg.tolist() == ainv.sum(axis=1).tolist()


def test_gf2_helpers():
    a = np.array([[1, 1], [0, 1]], dtype=np.uint8)
    assert gf2_rank(a) == 2
    assert np.array_equal(gf2_inverse(a), a)  # this matrix is its own inverse mod 2
    with pytest.raises(ValueError, match="singular"):
        gf2_inverse(np.array([[1, 1], [1, 1]], dtype=np.uint8))
    assert gf2_rank(np.array([[1, 1], [1, 1]])) == 1


def test_reversible_circuit_depth_controls_nonlinearity():
    d = 8
    shallow = build_observation("reversible_circuit", d, np.random.default_rng(0), {"depth": 0})
    assert np.array_equal(shallow.encode(cube(d)), cube(d))
    linear = build_observation(
        "reversible_circuit", d, np.random.default_rng(0), {"depth": 40, "gates": ["not", "cnot"]}
    )
    # NOT/CNOT circuits are affine over GF(2): every coordinate is ±χ_S.
    tables = map_tables(linear.encode, d)
    from synthetic.fourier import coefficients

    c = coefficients(tables)
    assert np.all(np.sum(np.abs(c) > 1e-9, axis=1) == 1)
    deep = build_observation("reversible_circuit", d, np.random.default_rng(0), {"depth": 200})
    assert degree(map_tables(deep.encode, d)).max() > 1


def test_reversible_circuit_works_at_large_d():
    psi = build_observation("reversible_circuit", 64, np.random.default_rng(0), {"depth": 100})
    z = np.where(np.random.default_rng(1).random((500, 64)) < 0.5, 1, -1).astype(np.int8)
    assert np.array_equal(psi.decode(psi.encode(z)), z)


def test_bad_params_are_rejected():
    with pytest.raises(ValueError, match="reversible_circuit"):
        check_observation("random_bijection", 21)
    with pytest.raises(ValueError, match="Unknown parameter 'dept'.*Known parameters: depth"):
        check_observation("reversible_circuit", 5, {"dept": 3})
    with pytest.raises(ValueError, match="depth"):
        check_observation("reversible_circuit", 5, {"depth": -1})
    with pytest.raises(ValueError, match="Unknown gate 'swap'"):
        check_observation("reversible_circuit", 5, {"gates": ["swap"]})
    with pytest.raises(ValueError, match="fits in d=2"):
        check_observation("reversible_circuit", 2, {"gates": ["toffoli"]})
    with pytest.raises(ValueError, match="density"):
        check_observation("gf2_linear", 5, {"density": 1.5})
    with pytest.raises(ValueError, match="Unknown observation map 'nope'. Available: "):
        check_observation("nope", 5)


def test_wrong_shape_input():
    psi = build_observation("identity", 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        psi.encode(np.ones((2, 4), dtype=np.int8))
