"""Training batches are pure functions of their coordinates; held-out latents never appear."""

from __future__ import annotations

import numpy as np

from probekit.training.batches import DatasetSource, StreamSource, eval_examples
from synthetic.data_spec import DataSpec
from synthetic.sequences import heldout_mask
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


def _world_and_tasks():
    world = World(WorldSpec(d=6, observation="random_bijection", seed=0))
    return world, TaskSet.from_spec(TaskSpec(family="walsh", n=4, k=2, seed=0), world)


def test_stream_batches_are_addressed_by_step_micro_and_process():
    world, tasks = _world_and_tasks()
    source = StreamSource(world, tasks, DataSpec(format="array"), seed=3)
    a = source.batch(5, 0, 0, 32)
    np.testing.assert_array_equal(a["z"], source.batch(5, 0, 0, 32)["z"])
    for other in (source.batch(6, 0, 0, 32), source.batch(5, 1, 0, 32), source.batch(5, 0, 1, 32)):
        assert not np.array_equal(a["z"], other["z"])
    np.testing.assert_array_equal(world.decode(a["x"]), a["z"])


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
