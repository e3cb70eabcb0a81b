"""Sequence formats: known token layouts, correct answers, seeded streams, held-out latents."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from synthetic.bits import cube
from synthetic.data_spec import DataSpec
from synthetic.sequences import (
    IGNORE_INDEX,
    encode_arrays,
    encode_examples,
    example_stream,
    heldout_mask,
    layout_for,
    sequence_positions,
)
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import TokenLayout
from synthetic.world import World, WorldSpec


@pytest.fixture(scope="module")
def world_tasks():
    world = World(WorldSpec(d=5, m=7, observation="random_bijection", seed=1))
    return world, TaskSet.from_spec(TaskSpec(family="walsh", n=6, k=2, seed=2), world)


def _bits_from_ids(ids: np.ndarray, layout: TokenLayout) -> np.ndarray:
    """Invert the x-token arithmetic: ids (N, G) -> x (N, m) ±1."""
    b = layout.bits_per_token
    v = ids - layout.x_offset - np.arange(layout.n_groups) * (1 << b)
    bits = (v[:, :, None] >> np.arange(b)) & 1
    return (1 - 2 * bits.reshape(len(ids), -1))[:, : layout.m]


@pytest.mark.parametrize("fmt", ["multitask", "qa", "encoder"])
@pytest.mark.parametrize("bits_per_token", [1, 3])
def test_token_formats_round_trip(world_tasks, fmt, bits_per_token):
    world, tasks = world_tasks
    spec = DataSpec(format=fmt, bits_per_token=bits_per_token, queries_per_sequence=3)
    z = cube(world.d)
    out = encode_examples(world, tasks, z, spec, np.random.default_rng(0))
    layout = layout_for(world, tasks, spec)
    pos = sequence_positions(fmt, layout, 3)
    ids = out["input_ids"]
    assert ids.shape == (len(z), pos["length"])
    assert np.all(ids[:, pos["sep"]] == layout.sep_id)
    assert pos["last_x"] == pos["x_stop"] - 1
    x_back = _bits_from_ids(ids[:, pos["x_start"] : pos["x_stop"]], layout)
    np.testing.assert_array_equal(x_back, out["x"])
    np.testing.assert_array_equal(world.decode(out["x"]), z)
    np.testing.assert_array_equal(out["z"], z)
    np.testing.assert_array_equal(out["targets"], tasks.evaluate(z))
    assert out["x"].dtype == np.int8 and out["z"].dtype == np.int8


def test_multitask_layout(world_tasks):
    world, tasks = world_tasks
    out = encode_examples(world, tasks, cube(world.d), DataSpec(), np.random.default_rng(0))
    layout = layout_for(world, tasks, DataSpec())
    assert set(out) == {"input_ids", "targets", "x", "z"}
    assert np.all(out["input_ids"][:, 0] == layout.bos_id)
    assert out["input_ids"].shape[1] == world.m + 2


def test_qa_answers_and_labels(world_tasks):
    world, tasks = world_tasks
    q = 3
    spec = DataSpec(format="qa", queries_per_sequence=q)
    z = world.sample(3000, np.random.default_rng(5))[0]
    out = encode_examples(world, tasks, z, spec, np.random.default_rng(0))
    layout = layout_for(world, tasks, spec)
    pos = sequence_positions("qa", layout, q)
    ids, labels, qt = out["input_ids"], out["labels"], out["query_tasks"]
    # distinct tasks per sequence, asked with their task tokens
    assert all(len(set(row)) == q for row in qt.tolist())
    np.testing.assert_array_equal(ids[:, pos["query_positions"]], layout.task_offset + qt)
    expected = np.where(np.take_along_axis(out["targets"], qt, 1) > 0, layout.yes_id, layout.no_id)
    np.testing.assert_array_equal(ids[:, pos["answer_positions"]], expected)
    # loss only on the answers
    np.testing.assert_array_equal(labels[:, pos["answer_positions"]], expected)
    other = np.ones(ids.shape[1], dtype=bool)
    other[pos["answer_positions"]] = False
    assert np.all(labels[:, other] == IGNORE_INDEX)
    assert np.all(ids[:, pos["eos"]] == layout.eos_id)
    # each task is asked about equally often (expected 3000 * 3 / 6 = 1500 each)
    counts = np.bincount(qt.ravel(), minlength=tasks.n)
    assert counts.min() > 1350 and counts.max() < 1650
    # and in every slot of the sequence
    first = np.bincount(qt[:, 0], minlength=tasks.n)
    assert first.min() > 400 and first.max() < 600


def test_encoder_mask_label(world_tasks):
    world, tasks = world_tasks
    spec = DataSpec(format="encoder")
    out = encode_examples(world, tasks, cube(world.d), spec, np.random.default_rng(1))
    layout = layout_for(world, tasks, spec)
    pos = sequence_positions("encoder", layout)
    ids, labels, task = out["input_ids"], out["labels"], out["query_task"]
    assert np.all(ids[:, pos["cls"]] == layout.cls_id)
    assert np.all(ids[:, pos["mask"]] == layout.mask_id)
    np.testing.assert_array_equal(ids[:, pos["query"]], layout.task_offset + task)
    answer = out["targets"][np.arange(len(task)), task]
    np.testing.assert_array_equal(labels[:, pos["mask"]], np.where(answer > 0, 7, 8))
    assert (labels != IGNORE_INDEX).sum() == len(ids)
    assert len(np.unique(task)) == tasks.n


def test_array_format(world_tasks):
    world, tasks = world_tasks
    out = encode_examples(world, tasks, cube(world.d), DataSpec(format="array"), None)
    assert out["inputs"].dtype == np.float32
    np.testing.assert_array_equal(out["inputs"], out["x"])
    assert "input_ids" not in out


def test_answer_formats_refuse_real_targets():
    layout = TokenLayout(3, 2)
    x = np.ones((4, 3), dtype=np.int8)
    real = np.full((4, 2), 0.5, dtype=np.float32)
    for fmt in ("qa", "encoder"):
        with pytest.raises(ValueError, match="sign targets"):
            encode_arrays(fmt, x, real, layout, 1, np.random.default_rng(0))
    assert encode_arrays("multitask", x, real, layout, 1, None)["targets"][0, 0] == 0.5


def test_too_many_queries():
    layout = TokenLayout(3, 2)
    x, t = np.ones((4, 3), dtype=np.int8), np.ones((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="queries_per_sequence"):
        encode_arrays("qa", x, t, layout, 3, np.random.default_rng(0))


def test_stream_is_seeded(world_tasks):
    world, tasks = world_tasks
    spec = DataSpec(format="qa", queries_per_sequence=2)
    a = list(itertools.islice(example_stream(world, tasks, spec, 16, seed=3), 3))
    b = list(itertools.islice(example_stream(world, tasks, spec, 16, seed=3), 3))
    c = list(itertools.islice(example_stream(world, tasks, spec, 16, seed=4), 3))
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert not np.array_equal(a[0]["input_ids"], c[0]["input_ids"])
    assert not np.array_equal(a[0]["input_ids"], a[1]["input_ids"])  # fresh batches


def test_stream_skips_heldout(world_tasks):
    world, tasks = world_tasks
    spec = DataSpec(holdout_fraction=0.3, seed=7)
    held = heldout_mask(cube(world.d), 0.3, 7)
    assert 0 < held.sum() < len(held)
    for batch in itertools.islice(example_stream(world, tasks, spec, 64, seed=0), 5):
        assert not heldout_mask(batch["z"], 0.3, 7).any()


def test_heldout_mask_fraction_and_seed():
    z = cube(12)
    m1 = heldout_mask(z, 0.2, 0)
    assert abs(m1.mean() - 0.2) < 0.02
    assert not np.array_equal(m1, heldout_mask(z, 0.2, 1))
    np.testing.assert_array_equal(m1, heldout_mask(z[::-1], 0.2, 0)[::-1])  # a function of z only
    assert not heldout_mask(z, 0.0, 0).any()
    # nested in the fraction: a larger fraction holds out a superset
    assert np.all(heldout_mask(z, 0.4, 0)[m1])


def test_task_targets_table_matches_evaluate():
    from synthetic.sequences import task_targets

    world = World(WorldSpec(d=6, seed=0))
    tasks = TaskSet.from_spec(TaskSpec(family="walsh", n=5, k=3, target="real", seed=4), world)
    z_small = world.sample(3, np.random.default_rng(0))[0]  # too few rows to build the table
    np.testing.assert_array_equal(task_targets(tasks, z_small), tasks.evaluate(z_small))
    z = world.sample(500, np.random.default_rng(1))[0]  # builds and uses the table
    np.testing.assert_array_equal(task_targets(tasks, z), tasks.evaluate(z))
    np.testing.assert_array_equal(task_targets(tasks, z_small), tasks.evaluate(z_small))
    assert len(np.unique(task_targets(tasks, z))) > 2  # real values, not signs
