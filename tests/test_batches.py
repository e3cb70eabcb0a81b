"""Training batches are pure functions of the step and the global example index: the same
on any number of processes; held-out latents never appear."""

from __future__ import annotations

import numpy as np
import pytest

from probekit.training.batches import (
    BatchLog,
    DatasetSource,
    StreamSource,
    eval_examples,
    share_start,
)
from synthetic.data_spec import DataSpec
from synthetic.dataset import encode_examples
from synthetic.sequences import heldout_mask, sample_latents
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


def _world_and_tasks():
    world = World(WorldSpec(d=6, observation="random_bijection", seed=0))
    return world, TaskSet.from_spec(TaskSpec(family="walsh", n=4, k=2, seed=0), world)


def test_stream_batches_are_addressed_by_step_and_global_index():
    world, tasks = _world_and_tasks()
    source = StreamSource(world, tasks, DataSpec(format="array"), seed=3)
    a = source.batch(5, 0, 0, 32)
    np.testing.assert_array_equal(a["z"], source.batch(5, 0, 0, 32)["z"])
    assert not np.array_equal(a["z"], source.batch(6, 0, 0, 32)["z"])
    assert not np.array_equal(
        a["z"], StreamSource(world, tasks, source.data, seed=4).batch(5, 0, 0, 32)["z"]
    )
    np.testing.assert_array_equal(world.decode(a["x"]), a["z"])
    with pytest.raises(ValueError, match="out of range"):
        source.batch(5, 1, 0, 32)  # one micro-step only


def test_single_process_stream_is_the_draw_it_always_was():
    # A one-process run without accumulation draws what runs made before the stream was
    # shared across processes drew: the generator seeded (seed, 1, step, 0, 0), whole batch.
    world, tasks = _world_and_tasks()
    data = DataSpec(format="array", holdout_fraction=0.25, seed=1)
    rng = np.random.default_rng([3, 1, 7, 0, 0])
    z = sample_latents(world, 16, rng, data)
    expected = encode_examples(world, tasks, z, data, rng)
    got = StreamSource(world, tasks, data, seed=3).batch(7, 0, 0, 16)
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("make", ["stream", "dataset"])
def test_every_process_count_and_accumulation_trains_on_the_same_global_batch(make, tmp_path):
    world, tasks = _world_and_tasks()
    if make == "stream":
        source = StreamSource(world, tasks, DataSpec(format="array"), seed=0)
    else:
        source = DatasetSource({"i": np.arange(40), "z": np.arange(80).reshape(40, 2)}, seed=0)
    batch = 24
    for step in (0, 1, 2):  # the dataset wraps its epoch of 40 rows during step 1
        one = source.batch(step, 0, 0, batch)
        for processes, micro_steps in [(2, 1), (3, 1), (1, 2), (2, 2), (4, 3)]:
            size = batch // (processes * micro_steps)
            log = BatchLog(tmp_path / f"{make}-{processes}-{micro_steps}", 0)
            shares = []
            for micro in range(micro_steps):
                for process in range(processes):
                    part = source.batch(
                        step, micro, process, size, micro_steps=micro_steps, processes=processes
                    )
                    log.write(step, share_start(micro, process, size, micro_steps, processes), part)
                    shares.append(part)
            for name in one:
                np.testing.assert_array_equal(np.concatenate([p[name] for p in shares]), one[name])
    # The digests of the batch log place each example by (step, global index).
    whole = BatchLog(tmp_path / f"{make}-whole", 0)
    for step in (0, 1, 2):
        whole.write(step, 0, source.batch(step, 0, 0, batch))
    reference = BatchLog.read(tmp_path / f"{make}-whole")
    assert len(reference) == 3 * batch and len(set(reference.values())) > batch
    assert BatchLog.read(tmp_path / f"{make}-4-3") == reference
    other = BatchLog(tmp_path / f"{make}-other", 0)
    for step in (0, 1, 2):
        other.write(step, 0, source.batch(step + 1, 0, 0, batch))
    assert BatchLog.read(tmp_path / f"{make}-other") != reference


def test_stream_and_eval_never_draw_held_out_latents():
    world, tasks = _world_and_tasks()
    data = DataSpec(format="array", holdout_fraction=0.25, seed=1)
    source = StreamSource(world, tasks, data, seed=0)
    drawn = np.concatenate([source.batch(step, 0, 0, 64)["z"] for step in range(20)])
    assert not heldout_mask(drawn, 0.25, 1).any()
    assert heldout_mask(world.cube(), 0.25, 1).any()  # there is something to avoid
    assert not heldout_mask(eval_examples(world, tasks, data, 256, 0)["z"], 0.25, 1).any()


def test_dataset_source_visits_every_row_once_per_epoch_across_processes():
    rows = np.arange(48)
    source = DatasetSource({"i": rows}, seed=0)
    seen = [
        source.batch(step, micro, process, 4, micro_steps=2, processes=3)["i"]
        for step in range(2)
        for micro in range(2)
        for process in range(3)
    ]
    epoch = np.concatenate(seen)
    assert sorted(epoch.tolist()) == rows.tolist()
    second = source.batch(2, 0, 0, 4, micro_steps=2, processes=3)["i"]
    assert not np.array_equal(second, seen[0])  # reshuffled for the next epoch
