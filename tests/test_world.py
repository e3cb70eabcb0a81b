import json

import numpy as np
import pytest

from synthetic.bits import to_index
from synthetic.observation import OBSERVATION_MAPS, ObservationMap
from synthetic.registry import UnknownNameError
from synthetic.world import World, WorldSpec

MAPS = ["identity", "signed_permutation", "gf2_linear", "random_bijection", "reversible_circuit"]


if "test_collapse" not in OBSERVATION_MAPS:

    @OBSERVATION_MAPS.register("test_collapse")
    class _Collapse(ObservationMap):
        """Not injective: sets bit 0 to +1."""

        name = "test_collapse"

        def _encode(self, z):
            x = z.copy()
            x[:, 0] = 1
            return x

        def _decode(self, x):
            return x.copy()

    @OBSERVATION_MAPS.register("test_bad_decode")
    class _BadDecode(ObservationMap):
        """Injective encode, wrong decode."""

        name = "test_bad_decode"

        def _encode(self, z):
            return -z

        def _decode(self, x):
            return x.copy()


def test_spec_json_roundtrip():
    spec = WorldSpec(
        d=4,
        m=6,
        observation="reversible_circuit",
        observation_params={"depth": 7},
        latent_bias=[0.2, 0.5, 0.5, 0.9],
        redundancy="and",
        seed=3,
    )
    assert spec.latent_bias == (0.2, 0.5, 0.5, 0.9)
    back = WorldSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d": 0}, "WorldSpec.d must be a positive integer"),
        ({"d": 2.5}, "WorldSpec.d"),
        ({"d": 4, "m": 3}, "WorldSpec.m must be an integer ≥ d=4"),
        ({"seed": -1}, "seed"),
        ({"d": 3, "latent_bias": [0.5, 0.5]}, "latent_bias must list .* d=3"),
        ({"d": 2, "latent_bias": [0.5, 1.0]}, r"latent_bias\[1\] = 1.0 must lie strictly"),
        ({"d": 2, "latent_bias": [0.0, 0.5]}, r"latent_bias\[0\]"),
        ({"d": 21, "observation": "random_bijection"}, "reversible_circuit"),
        ({"observation": "nope"}, "Unknown observation map 'nope'"),
        ({"redundancy": "xor3"}, "Unknown redundancy 'xor3'. Available: and, copy, parity"),
        ({"d": 1, "m": 2, "redundancy": "parity"}, "redundancy='copy'"),
        ({"observation_params": {"depth": 3}}, "Unknown parameter 'depth'"),
    ],
)
def test_invalid_specs_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WorldSpec(**kwargs)


def test_unknown_map_error_is_key_error_too():
    with pytest.raises(UnknownNameError):
        WorldSpec(observation="nope")


@pytest.mark.parametrize("obs", MAPS)
def test_encode_decode_sample_cube(obs):
    world = World(WorldSpec(d=6, m=9, observation=obs, seed=1))
    z, x = world.sample(50, np.random.default_rng(0))
    assert z.shape == (50, 6) and x.shape == (50, 9)
    assert z.dtype == x.dtype == np.int8
    assert np.array_equal(world.decode(x), z)
    assert np.array_equal(world.encode(z), x)
    zc, xc = world.cube(), world.cube_x()
    assert zc.shape == (64, 6) and np.unique(to_index(xc[:, :6])).size == 64


def test_redundant_bits_are_functions_of_first_d():
    for rule, fn in (
        ("parity", lambda a, b: a * b),
        ("and", lambda a, b: np.where((a == -1) & (b == -1), -1, 1)),
        ("copy", lambda a, b: a),
    ):
        world = World(WorldSpec(d=5, m=8, observation="gf2_linear", redundancy=rule, seed=2))
        x = world.cube_x()
        for j, src in enumerate(world.redundant_sources):
            a = x[:, src[0]]
            b = x[:, src[-1]]
            assert np.array_equal(x[:, 5 + j], fn(a, b))
            if rule != "copy":
                assert src[0] != src[1]


def test_same_spec_same_bytes_and_seed_matters():
    spec = WorldSpec(d=12, m=14, observation="random_bijection", seed=5)
    a = World(spec).sample(200, np.random.default_rng(9))
    b = World(spec).sample(200, np.random.default_rng(9))
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    c = World(spec.replace(seed=6)).sample(200, np.random.default_rng(9))
    assert np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_latent_bias_shifts_marginals():
    world = World(WorldSpec(d=3, observation="identity", latent_bias=[0.9, 0.5, 0.1]))
    z, _ = world.sample(20000, np.random.default_rng(0))
    p_plus = (z == 1).mean(axis=0)
    assert np.allclose(p_plus, [0.9, 0.5, 0.1], atol=0.02)
    probs = world.cube_probabilities()
    assert np.isclose(probs.sum(), 1.0)
    assert np.isclose(probs[0], 0.9 * 0.5 * 0.1)  # index 0 is z = (+1, +1, +1)


def test_non_invertible_maps_are_rejected():
    with pytest.raises(ValueError, match="'test_collapse' is not invertible.*not injective"):
        World(WorldSpec(d=4, observation="test_collapse"))
    with pytest.raises(ValueError, match=r"'test_bad_decode' is not invertible: decode\(encode"):
        World(WorldSpec(d=4, observation="test_bad_decode"))
    # Beyond 16 bits the check runs on a sample and still catches a wrong decode.
    with pytest.raises(ValueError, match="sampled point"):
        World(WorldSpec(d=30, observation="test_bad_decode"))


def test_large_world_samples_without_cube():
    world = World(WorldSpec(d=40, m=48, observation="reversible_circuit", seed=0))
    z, x = world.sample(100, np.random.default_rng(0))
    assert np.array_equal(world.decode(x), z)
    with pytest.raises(ValueError, match="World.sample"):
        world.cube()


def test_decode_checks_shape():
    world = World(WorldSpec(d=3, m=4, observation="identity"))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        world.decode(np.ones((2, 3), dtype=np.int8))
