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
from synthetic.sequences import sample_latents
from synthetic.tasks import TaskSet
from synthetic.world import World

# Domain tags keep the random streams of different purposes independent.
_STREAM, _EPOCH, _EVAL = 1, 2, 3


@dataclass
class StreamSource:
    """An endless stream of fresh examples drawn from the world (same seed, same stream).

    Latents the data spec holds out (`data.holdout_fraction`'s seeded hash of z, or outside
    `data.train_region`: `synthetic.holdout.heldout_mask`, the same rule as the `ood` split
    of a generated dataset) are never drawn.
    """

    world: World
    tasks: TaskSet
    data: DataSpec
    seed: int

    def batch(self, step: int, micro: int, process: int, size: int) -> dict[str, np.ndarray]:
        """The examples of one micro-batch of one process."""
        rng = np.random.default_rng([self.seed, _STREAM, step, micro, process])
        z = sample_latents(self.world, size, rng, self.data)
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
    world: World, tasks: TaskSet, data: DataSpec, n: int, seed: int, *, heldout: bool = False
) -> dict[str, np.ndarray]:
    """A fixed evaluation set drawn from the world (independent of the training stream).

    `heldout=True` draws from the inputs the data spec keeps out of training (hash or region).
    """
    rng = np.random.default_rng([seed, _EVAL, int(heldout)])
    z = sample_latents(world, n, rng, data, heldout=heldout)
    return encode_examples(world, tasks, z, data, rng)


def make_source(cfg, world: World, tasks: TaskSet) -> StreamSource | DatasetSource:
    """The training data of an experiment: a fresh stream, or `train.data_dir`'s train split."""
    if cfg.train.data_dir is None:
        return StreamSource(world, tasks, cfg.data, cfg.train.seed)
    from synthetic.dataset import load_dataset_dir

    dataset, data_cfg, _ = load_dataset_dir(cfg.train.data_dir)
    mismatched = [
        name
        for name in ("world", "tasks", "data")
        if getattr(data_cfg, name).to_dict() != getattr(cfg, name).to_dict()
    ]
    if mismatched:
        details = "; ".join(
            f"{name}: dataset has {getattr(data_cfg, name).to_dict()}, "
            f"config has {getattr(cfg, name).to_dict()}"
            for name in mismatched
        )
        raise ValueError(
            f"The dataset at {cfg.train.data_dir} was generated from a different "
            f"{', '.join(mismatched)} spec than this config ({details}). Regenerate it "
            f"with this config or use the dataset's own config."
        )
    train = dataset["train"].with_format("numpy")
    return DatasetSource({c: np.asarray(train[c]) for c in train.column_names}, cfg.train.seed)
