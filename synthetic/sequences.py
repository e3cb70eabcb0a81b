"""Token sequence formats: observations and task targets -> rectangular id arrays.

Every sequence of a format has the same length, so a batch is a plain ``(N, L)``
array and no padding is needed. Ids come from numpy arithmetic on the token layout
(``synthetic.tokenizer.TokenLayout``), never from tokenizing text per example.

Formats (registry ``SEQUENCE_FORMATS``), with ``G`` x tokens:

- ``multitask``: ``[BOS] x.. [SEP]`` and ``targets`` (N, n): one head per task reads
  the hidden state at SEP.
- ``qa``: ``[BOS] x.. [SEP] t_a y_a t_b y_b .. [EOS]``; ``labels`` are aligned with
  ``input_ids`` (HF causal LMs shift them internally) and are -100 except at the
  answer tokens. ``query_tasks`` (N, q) names the tasks asked. Sign targets only.
- ``qa_isolated``: the ``qa`` tokens and labels, plus ``segment_ids`` (0 for BOS, x
  and SEP; j + 1 for query j and its answer; q + 1 for EOS) and ``position_ids`` (every
  query at position G + 2, its answer at G + 3). A token may attend to the shared prefix
  and to its own segment only (``probekit.models.isolation`` turns the segments into the
  4-D mask), so every answer is computed exactly as in ``[BOS] x [SEP] t_j y_j`` alone:
  it depends on x and its own query, never on earlier queries or answers.
- ``encoder``: ``[CLS] x.. [SEP] t_a [MASK] [SEP]``; ``labels`` hold the answer id at
  MASK and -100 elsewhere; ``query_task`` (N,) names the task. Sign targets only.
- ``array``: ``inputs`` = x as float32, for MLP baselines.

Every format also returns ``z``, ``x`` (int8 ±1) and ``targets`` (float32). Where the
prober should look is constant per format: ``sequence_positions``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic.bits import check_pm1, cube, to_index
from synthetic.holdout import describe, heldout_mask, holds_out
from synthetic.registry import Registry
from synthetic.tokenizer import TokenLayout

IGNORE_INDEX = -100  # the label value HF losses skip
TABLE_MAX_BITS = 16  # targets by truth-table lookup up to this d ...
TABLE_MAX_ENTRIES = 1 << 24  # ... and this many n * 2^d float32 values (64 MB)


@dataclass(frozen=True)
class SequenceFormat:
    """One way to lay out an example; `encode` is vectorised over examples."""

    name: str
    description: str
    # (x (N, m) int8, targets (N, n) float32, layout, queries, rng) -> columns
    encode: Callable[..., dict[str, np.ndarray]]
    # (layout, queries) -> constant token positions
    positions: Callable[[TokenLayout, int], dict[str, Any]]
    sign_targets_only: bool = False
    tokenized: bool = True
    # Columns the model takes besides the ids (forward arguments, or `segment_ids`).
    model_inputs: tuple[str, ...] = ()


SEQUENCE_FORMATS: Registry[SequenceFormat] = Registry("sequence format")


def _register(fmt: SequenceFormat) -> SequenceFormat:
    SEQUENCE_FORMATS.register(fmt.name)(fmt)
    return fmt


def _const(n: int, value: int) -> np.ndarray:
    return np.full((n, 1), value, dtype=np.int64)


def _check_sign(targets: np.ndarray, fmt: str) -> None:
    if targets.size and not np.all((targets == 1) | (targets == -1)):
        raise ValueError(
            f"The {fmt!r} format answers with tokens y=+ / y=-, so it needs sign targets; "
            "set tasks.target=sign or use the multitask/array format for real targets."
        )


def _answer_ids(targets: np.ndarray, layout: TokenLayout) -> np.ndarray:
    return np.where(targets > 0, layout.yes_id, layout.no_id).astype(np.int64)


def _choose_queries(n_rows: int, n_tasks: int, q: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rows, q) distinct task indices per row, uniformly random subset and order."""
    if not 1 <= q <= n_tasks:
        raise ValueError(
            f"queries_per_sequence must lie in 1..{n_tasks} (the task count), got {q}."
        )
    p_distinct = float(np.prod((n_tasks - np.arange(q)) / n_tasks))
    if p_distinct >= 0.5:
        # i.i.d. draws conditioned on being distinct are uniform over ordered subsets;
        # redrawing the rows with a repeat costs O(q) per row instead of O(n log n).
        out = rng.integers(0, n_tasks, size=(n_rows, q))
        while True:
            srt = np.sort(out, axis=1)
            bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
            if not bad.size:
                return out
            out[bad] = rng.integers(0, n_tasks, size=(bad.size, q))
    return np.argsort(rng.random((n_rows, n_tasks)), axis=1)[:, :q]


def _multitask(x, targets, layout, q, rng):
    n = len(x)
    ids = np.concatenate(
        [_const(n, layout.bos_id), layout.x_token_ids(x), _const(n, layout.sep_id)], axis=1
    )
    return {"input_ids": ids, "targets": targets}


def _multitask_positions(layout, q):
    G = layout.n_groups
    return {"length": G + 2, "bos": 0, "x_start": 1, "x_stop": 1 + G, "last_x": G, "sep": G + 1}


def _qa(x, targets, layout, q, rng):
    _check_sign(targets, "qa")
    n, G = len(x), layout.n_groups
    tasks = _choose_queries(n, targets.shape[1], q, rng)  # (N, q)
    answers = _answer_ids(np.take_along_axis(targets, tasks, axis=1), layout)
    qa = np.stack([layout.task_offset + tasks, answers], axis=2).reshape(n, 2 * q)
    ids = np.concatenate(
        [
            _const(n, layout.bos_id),
            layout.x_token_ids(x),
            _const(n, layout.sep_id),
            qa,
            _const(n, layout.eos_id),
        ],
        axis=1,
    )
    labels = np.full_like(ids, IGNORE_INDEX)
    answer_pos = G + 3 + 2 * np.arange(q)
    labels[:, answer_pos] = answers
    return {
        "input_ids": ids,
        "labels": labels,
        "query_tasks": tasks.astype(np.int32),
        "targets": targets,
    }


def _qa_positions(layout, q):
    pos = _multitask_positions(layout, q)
    G = layout.n_groups
    pos.update(
        length=G + 3 + 2 * q,
        query_positions=[int(G + 2 + 2 * j) for j in range(q)],
        answer_positions=[int(G + 3 + 2 * j) for j in range(q)],
        eos=G + 2 + 2 * q,
    )
    return pos


def _qa_isolated(x, targets, layout, q, rng):
    out = _qa(x, targets, layout, q, rng)
    G, n = layout.n_groups, len(x)
    # One segment per query-answer pair after the shared prefix [BOS] x [SEP]; EOS alone.
    segments = np.concatenate([np.zeros(G + 2), np.repeat(np.arange(1, q + 1), 2), [q + 1]])
    # Every pair restarts right after SEP, so pair j sits where a one-query sequence puts it.
    positions = np.concatenate([np.arange(G + 2), np.tile([G + 2, G + 3], q), [G + 2]])
    out["segment_ids"] = np.broadcast_to(segments.astype(np.int32), (n, len(segments))).copy()
    out["position_ids"] = np.broadcast_to(positions.astype(np.int32), (n, len(positions))).copy()
    return out


def _encoder(x, targets, layout, q, rng):
    _check_sign(targets, "encoder")
    n, G = len(x), layout.n_groups
    task = _choose_queries(n, targets.shape[1], 1, rng)  # (N, 1)
    answer = _answer_ids(np.take_along_axis(targets, task, axis=1), layout)
    ids = np.concatenate(
        [
            _const(n, layout.cls_id),
            layout.x_token_ids(x),
            _const(n, layout.sep_id),
            layout.task_offset + task,
            _const(n, layout.mask_id),
            _const(n, layout.sep_id),
        ],
        axis=1,
    )
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[:, G + 3] = answer[:, 0]
    return {
        "input_ids": ids,
        "labels": labels,
        "query_task": task[:, 0].astype(np.int32),
        "targets": targets,
    }


def _encoder_positions(layout, q):
    G = layout.n_groups
    return {
        "length": G + 5,
        "cls": 0,
        "x_start": 1,
        "x_stop": 1 + G,
        "last_x": G,
        "sep": G + 1,
        "query": G + 2,
        "mask": G + 3,
    }


def _array(x, targets, layout, q, rng):
    return {"inputs": x.astype(np.float32), "targets": targets}


_register(
    SequenceFormat(
        "multitask", "[BOS] x [SEP]; one head per task at SEP", _multitask, _multitask_positions
    )
)
_register(
    SequenceFormat(
        "qa",
        "[BOS] x [SEP] t y t y .. [EOS]; next-token answers",
        _qa,
        _qa_positions,
        sign_targets_only=True,
    )
)
_register(
    SequenceFormat(
        "qa_isolated",
        "[BOS] x [SEP] t y t y .. [EOS]; each answer sees only x and its own query",
        _qa_isolated,
        _qa_positions,
        sign_targets_only=True,
        model_inputs=("segment_ids", "position_ids"),
    )
)
_register(
    SequenceFormat(
        "encoder",
        "[CLS] x [SEP] t [MASK] [SEP]; masked answer",
        _encoder,
        _encoder_positions,
        sign_targets_only=True,
    )
)
_register(
    SequenceFormat("array", "x as float32 for MLPs", _array, lambda layout, q: {}, tokenized=False)
)


def encode_arrays(
    fmt: str,
    x: np.ndarray,
    targets: np.ndarray,
    layout: TokenLayout,
    queries_per_sequence: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Lay out observations `x` (N, m) and `targets` (N, n) in format `fmt`, vectorised."""
    x = check_pm1(x, "x")
    targets = np.asarray(targets, dtype=np.float32)
    if targets.ndim != 2 or len(targets) != len(x) or targets.shape[1] != layout.n_tasks:
        raise ValueError(
            f"targets must have shape ({len(x)}, {layout.n_tasks}), got {targets.shape}."
        )
    out = SEQUENCE_FORMATS.get(fmt).encode(x, targets, layout, queries_per_sequence, rng)
    out["x"] = x
    return out


def layout_for(world, tasks, data_spec) -> TokenLayout:
    """The token layout of a world, a task set and a data spec."""
    return TokenLayout(int(world.m), int(tasks.n), int(data_spec.bits_per_token))


def format_model_inputs(fmt: str) -> tuple[str, ...]:
    """The columns of format `fmt` a model reads besides `input_ids` (e.g. `segment_ids`)."""
    return SEQUENCE_FORMATS.get(fmt).model_inputs


def sequence_positions(
    fmt: str, layout: TokenLayout, queries_per_sequence: int = 1
) -> dict[str, Any]:
    """Constant token positions of format `fmt` (SEP, last x token, x span, ...)."""
    return SEQUENCE_FORMATS.get(fmt).positions(layout, queries_per_sequence)


# TaskSet -> its (2^d, n) float32 table of values; weak so dropping a task set frees it.
_TARGET_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def task_targets(tasks, z: np.ndarray) -> np.ndarray:
    """`tasks.evaluate(z)`, read from a cached truth table over the cube when that is cheaper.

    The table is `tasks.evaluate(cube(d))` itself, so the values are identical; it is
    built once a batch covers a quarter of the cube, then reused by every later batch.
    """
    d = z.shape[1]
    table = _TARGET_TABLES.get(tasks)
    if table is None:
        small = d <= TABLE_MAX_BITS and tasks.n << d <= TABLE_MAX_ENTRIES
        if not small or 4 * len(z) < (1 << d):
            return tasks.evaluate(z)
        table = _TARGET_TABLES[tasks] = np.asarray(tasks.evaluate(cube(d)), dtype=np.float32)
    return table[to_index(z)]


def encode_examples(
    world, tasks, z: np.ndarray, data_spec, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Latents z (N, d) -> all columns of `data_spec.format` plus z and x; rng picks queries."""
    z = check_pm1(z, "z")
    x = world.encode(z)
    targets = task_targets(tasks, z)
    out = encode_arrays(
        data_spec.format,
        x,
        targets,
        layout_for(world, tasks, data_spec),
        data_spec.queries_per_sequence,
        rng,
    )
    out["z"] = z
    return out


# --- held-out latents (for out-of-distribution splits) -------------------------------
# The rule (hash OR outside the train region) lives in synthetic.holdout; `heldout_mask`
# is re-exported here for the callers that always imported it from this module.


def sample_latents(
    world, n: int, rng: np.random.Generator, data=None, *, heldout: bool = False
) -> np.ndarray:
    """n latents from the world's distribution, restricted to the inputs `data` (a DataSpec:
    `holdout_fraction`, `seed`, `train_region`) holds out of training, or to the rest.

    Rejection sampling against `synthetic.holdout.heldout_mask`, so the draws are exactly
    the world's distribution conditioned on the rule. Without a train region the draw
    sizes are what they always were (the same data from the same seed); with one they
    grow with the observed rejection rate, so a small region (a narrow Hamming ball)
    still fills a batch.
    """
    fraction = 0.0 if data is None else data.holdout_fraction
    region = None if data is None else getattr(data, "train_region", None)
    if not holds_out(fraction, region):
        if heldout:
            raise ValueError(
                "No latents are held out (holdout_fraction=0, no train_region); there is no ood set."
            )
        return world.sample(n, rng)[0]
    parts, have, drawn = [], 0, 0
    for _ in range(1000):
        size = max(2 * (n - have), 64)
        if region is not None and drawn:  # expected draws for the rest, twice over
            size = min(max(size, int(size * drawn / max(have, 1))), 1 << 20)
        z = world.sample(size, rng)[0]
        drawn += size
        z = z[heldout_mask(z, fraction, data.seed, region) == heldout]
        parts.append(z[: n - have])
        have += len(parts[-1])
        if have >= n:
            return np.concatenate(parts, axis=0)
    raise ValueError(
        f"Could not draw {n} {'held-out' if heldout else 'kept'} latents with "
        f"{describe(fraction, region)}; hold out {'more' if heldout else 'less'} of the cube."
    )


def example_stream(
    world, tasks, data_spec, batch_size: int, seed: int
) -> Iterator[dict[str, np.ndarray]]:
    """Endless fresh training batches (never a held-out z); the same seed gives the same stream."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    rng = np.random.default_rng(seed)
    while True:
        z = sample_latents(world, batch_size, rng, data_spec, heldout=False)
        yield encode_examples(world, tasks, z, data_spec, rng)
