"""Training batches addressed by (step, micro-step, process): exact resume for free.

Every batch is a pure function of the seed and its coordinates, so a run resumed at
step s draws exactly the batches the uninterrupted run would have drawn, without
replaying a data iterator. Two sources share that interface: a fresh stream of
examples generated from the world spec, and the train split of a dataset written by
`probekit generate` (shuffled once per epoch by a seeded permutation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.dataset import DataSpec, encode_examples
from synthetic.tasks import TaskSet
from synthetic.world import World

# Domain tags keep the random streams of different purposes independent.
_STREAM, _EPOCH, _EVAL = 1, 2, 3


@dataclass
class StreamSource:
    """An endless stream of fresh examples drawn from the world (same seed, same stream)."""

    world: World
    tasks: TaskSet
    data: DataSpec
    seed: int

    def batch(self, step: int, micro: int, process: int, size: int) -> dict[str, np.ndarray]:
        """The examples of one micro-batch of one process."""
        rng = np.random.default_rng([self.seed, _STREAM, step, micro, process])
        z, _ = self.world.sample(size, rng)
        return encode_examples(self.world, self.tasks, z, self.data, rng)


@dataclass
class DatasetSource:
    """The train split of a generated dataset, reshuffled every epoch by a seeded permutation."""

    columns: dict[str, np.ndarray]
    seed: int

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values())))

    def batch(
        self,
        step: int,
        micro: int,
        process: int,
        size: int,
        *,
        micro_steps: int = 1,
        processes: int = 1,
    ) -> dict[str, np.ndarray]:
        """The examples of one micro-batch of one process (epochs wrap around)."""
        start = ((step * micro_steps + micro) * processes + process) * size
        positions = np.arange(start, start + size)
        epochs, offsets = np.divmod(positions, self.n_rows)
        index = np.empty(size, dtype=np.int64)
        for epoch in np.unique(epochs):
            perm = np.random.default_rng([self.seed, _EPOCH, int(epoch)]).permutation(self.n_rows)
            mask = epochs == epoch
            index[mask] = perm[offsets[mask]]
        return {name: col[index] for name, col in self.columns.items()}


def eval_examples(
    world: World, tasks: TaskSet, data: DataSpec, n: int, seed: int
) -> dict[str, np.ndarray]:
    """A fixed evaluation set drawn from the world (independent of the training stream)."""
    rng = np.random.default_rng([seed, _EVAL])
    z, _ = world.sample(n, rng)
    return encode_examples(world, tasks, z, data, rng)
