import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.bits import (
    character,
    cube,
    from_bool,
    from_index,
    mask_degrees,
    mask_of,
    popcount,
    subset_of,
    to_bool,
    to_index,
)
from synthetic.registry import Registry, UnknownNameError


def test_index_convention():
    # +1 -> bit 0, -1 -> bit 1, bit 0 least significant.
    assert to_index(np.array([1, 1, 1], dtype=np.int8)) == 0
    assert to_index(np.array([-1, 1, 1], dtype=np.int8)) == 1
    assert to_index(np.array([1, -1, 1], dtype=np.int8)) == 2
    assert to_index(np.array([-1, -1, -1], dtype=np.int8)) == 7


def test_cube_is_index_order():
    c = cube(3)
    assert c.shape == (8, 3) and c.dtype == np.int8
    assert to_index(c).tolist() == list(range(8))
    assert c[5].tolist() == [-1, 1, -1]


def test_cube_refuses_large_d():
    with pytest.raises(ValueError, match="d ≤ 24"):
        cube(25)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31))
def test_index_roundtrip(d, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 1 << d, size=20)
    z = from_index(idx, d)
    assert np.array_equal(to_index(z), idx)
    assert np.array_equal(from_bool(to_bool(z)), z)


def test_masks_and_popcount():
    assert mask_of([0, 2]) == 5
    assert subset_of(5) == (0, 2)
    assert subset_of(0) == ()
    assert popcount(np.array([0, 1, 3, 7, 8])).tolist() == [0, 1, 2, 3, 1]
    assert mask_degrees(2).tolist() == [0, 1, 1, 2]


def test_character():
    z = np.array([[1, -1, -1], [-1, -1, 1]], dtype=np.int8)
    assert character(z, [1, 2]).tolist() == [1, -1]
    assert character(z, []).tolist() == [1, 1]


def test_from_index_rejects_out_of_range():
    with pytest.raises(ValueError, match="Indices"):
        from_index(8, 3)


def test_registry_lookup_and_error():
    reg = Registry("widget")

    @reg.register("b")
    def b():
        return 2

    reg.register("a")(lambda: 1)
    assert reg.names() == ["a", "b"]
    assert reg.get("b")() == 2
    with pytest.raises(UnknownNameError) as err:
        reg.get("x")
    assert str(err.value) == "Unknown widget 'x'. Available: a, b"
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 3)
