"""Training batches addressed by the global step and the global example index.

Every example is a pure function of the seed, the optimiser step and its index in that
step's global batch (`train.batch_size` examples, whatever the process count and the
accumulation), so

- a run resumed at step s draws exactly the batches the uninterrupted run would have
  drawn, without replaying a data iterator;
- N processes train on the same examples as one: process p of N, at micro-step m of M,
  takes rows [(m N + p) b, (m N + p + 1) b) of the global batch (b = its micro-batch).

Two sources share that interface: a fresh stream of examples generated from the world
spec, and the train split of a dataset written by `probekit generate` (shuffled once per
epoch by a seeded permutation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthetic.dataset import DataSpec, encode_examples
from synthetic.sequences import sample_latents
from synthetic.tasks import TaskSet
from synthetic.world import World

# Domain tags keep the random streams of different purposes independent.
_STREAM, _EPOCH, _EVAL = 1, 2, 3


def share_start(micro: int, process: int, size: int, micro_steps: int, processes: int) -> int:
    """Where one micro-batch of one process starts in its step's global batch."""
    if not (0 <= micro < micro_steps and 0 <= process < processes):
        raise ValueError(
            f"micro-step {micro} of {micro_steps}, process {process} of {processes}: out of range."
        )
    return (micro * processes + process) * size


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
    # The last global batch drawn: every micro-step and process of a step slices the same one.
    _cached: tuple = field(default=(None, None), init=False, repr=False, compare=False)

    def global_batch(self, step: int, size: int) -> dict[str, np.ndarray]:
        """All `size` examples of optimiser step `step`, in global-index order."""
        if self._cached[0] != (step, size):
            # The words (seed, tag, step, 0, 0) are those the one-process stream always used,
            # so a single-process run without accumulation draws the data it drew before.
            rng = np.random.default_rng([self.seed, _STREAM, step, 0, 0])
            z = sample_latents(self.world, size, rng, self.data)
            self._cached = (
                (step, size),
                encode_examples(self.world, self.tasks, z, self.data, rng),
            )
        return self._cached[1]

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
        """The `size` examples of one micro-batch of one process: its share of the global batch."""
        start = share_start(micro, process, size, micro_steps, processes)
        examples = self.global_batch(step, size * micro_steps * processes)
        return {name: col[start : start + size].copy() for name, col in examples.items()}


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
        # Position in the endless sequence of rows: step's global batch, then this share.
        start = step * size * micro_steps * processes
        start += share_start(micro, process, size, micro_steps, processes)
        positions = np.arange(start, start + size)
        epochs, offsets = np.divmod(positions, self.n_rows)
        index = np.empty(size, dtype=np.int64)
        for epoch in np.unique(epochs):
            perm = np.random.default_rng([self.seed, _EPOCH, int(epoch)]).permutation(self.n_rows)
            mask = epochs == epoch
            index[mask] = perm[offsets[mask]]
        return {name: col[index] for name, col in self.columns.items()}


class BatchLog:
    """One JSON line per micro-batch of one process: its step, where it starts in the step's
    global batch and a digest of each example (`probekit train --log-batches DIR`).

    Runs on different process counts trained on the same data exactly when the digests of
    their logs, placed by (step, index), agree. Appended to, so a resumed run logs the steps
    it repeats twice (the same digests both times).
    """

    def __init__(self, folder: str | Path, process: int):
        self.path = Path(folder) / f"process-{process}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Log the examples `arrays` (rows) that sit at `start`, ... of step `step`."""
        names = sorted(arrays)
        n = len(arrays[names[0]])
        digests = [
            hashlib.blake2b(
                b"".join(np.ascontiguousarray(arrays[k][i]).tobytes() for k in names),
                digest_size=8,
            ).hexdigest()
            for i in range(n)
        ]
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, "index": start, "digests": digests}) + "\n")

    @staticmethod
    def read_file(path: str | Path) -> dict[tuple[int, int], str]:
        """{(step, global index): digest} from one process's log."""
        out = {}
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            for i, digest in enumerate(row["digests"]):
                out[(row["step"], row["index"] + i)] = digest
        return out

    @staticmethod
    def read(folder: str | Path) -> dict[tuple[int, int], str]:
        """{(step, global index): digest} from every process's log in `folder`."""
        out = {}
        for path in sorted(Path(folder).glob("process-*.jsonl")):
            out.update(BatchLog.read_file(path))
        return out


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
