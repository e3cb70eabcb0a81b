"""Dataset encoding throughput: vectorised `encode_examples` against per-example loops.

Run: python benchmarks/bench_generate.py [--n 20000] [--n-loop 2000]
Two baselines, both measured in the same process on the same world and tasks:
- "python loop": one example at a time (ψ, the tasks and the token ids per row);
- "tokenizer loop": x and targets vectorised, but every sequence written as text and
  tokenized by the HF tokenizer, the usual way of building token datasets.
Prints one table of times per example and the speed-up of the vectorised path
(best of 3 after a first call, which also builds the cached target table for d ≤ 16;
that first call is shown too).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from synthetic.data_spec import DataSpec
from synthetic.sequences import encode_examples, layout_for
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import build_tokenizer, ids_to_text
from synthetic.world import World, WorldSpec


def loop_encode(world, tasks, z, spec, rng) -> list[list[int]]:
    """The same sequences built one example at a time in plain Python."""
    layout = layout_for(world, tasks, spec)
    rows = []
    for zi in z:
        x = world.encode(zi[None])[0]
        t = tasks.evaluate(zi[None])[0]
        ids = [layout.bos_id]
        ids += [layout.x_offset + 2 * j + (1 if int(b) == -1 else 0) for j, b in enumerate(x)]
        ids.append(layout.sep_id)
        if spec.format == "qa":
            for a in rng.choice(tasks.n, spec.queries_per_sequence, replace=False):
                ids += [layout.task_offset + int(a), layout.yes_id if t[a] > 0 else layout.no_id]
            ids.append(layout.eos_id)
        rows.append(ids)
    return rows


def tokenizer_encode(world, tasks, z, spec, rng, tokenizer) -> list[list[int]]:
    """Vectorised x and targets, then text per example through the HF tokenizer."""
    layout = layout_for(world, tasks, spec)
    x = world.encode(z)
    t = tasks.evaluate(z)
    vocab = layout.vocab()
    rows = []
    for i in range(len(z)):
        words = ["[BOS]"] + [
            vocab[layout.x_offset + 2 * j + int(b == -1)] for j, b in enumerate(x[i])
        ]
        words.append("[SEP]")
        if spec.format == "qa":
            for a in rng.choice(tasks.n, spec.queries_per_sequence, replace=False):
                words += [f"t{a}", "y=+" if t[i, a] > 0 else "y=-"]
            words.append("[EOS]")
        rows.append(tokenizer(" ".join(words))["input_ids"])
    return rows


def timed(fn) -> tuple[float, object]:
    """Wall time of one call and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> list[dict]:
    """Time the three encoders for the multitask and qa formats and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="examples for the vectorised path")
    parser.add_argument("--n-loop", type=int, default=2000, help="examples for the loops")
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=64)
    args = parser.parse_args(argv)

    world = World(WorldSpec(d=args.d, observation="random_bijection", seed=0))
    tasks = TaskSet.from_spec(TaskSpec(family="walsh", n=args.tasks, k=2, seed=0), world)
    tokenizer = build_tokenizer(world.m, tasks.n)
    rng = np.random.default_rng(0)
    z = world.sample(args.n, rng)[0]
    zl = z[: args.n_loop]
    rows = []
    for fmt in ("multitask", "qa"):
        spec = DataSpec(format=fmt, queries_per_sequence=4)
        # Warm-up: the first large batch also builds the cached target table, as the
        # first chunk of a generation or the first batches of a stream do.
        t_first, _ = timed(lambda spec=spec: encode_examples(world, tasks, z, spec, rng))
        t_vec, out = min(
            (
                timed(lambda spec=spec: encode_examples(world, tasks, z, spec, rng))
                for _ in range(3)
            ),
            key=lambda r: r[0],
        )
        t_loop, loop_rows = timed(lambda spec=spec: loop_encode(world, tasks, zl, spec, rng))
        t_tok, tok_rows = timed(
            lambda spec=spec: tokenizer_encode(world, tasks, zl, spec, rng, tokenizer)
        )
        # The baselines must build the same sequences (queries are random, so compare
        # the deterministic multitask format exactly and the qa lengths and prefixes).
        ids = out["input_ids"][: args.n_loop]
        G = ids.shape[1] - (2 if fmt == "multitask" else 3 + 2 * spec.queries_per_sequence)
        for other in (loop_rows, tok_rows):
            other = np.asarray(other)
            assert other.shape == ids.shape, (other.shape, ids.shape)
            assert np.array_equal(other[:, : G + 2], ids[:, : G + 2])
        assert ids_to_text(ids[:1], layout_for(world, tasks, spec))  # decodable
        per = {
            "vectorised": t_vec / args.n,
            "vec. 1st call": t_first / args.n,
            "python loop": t_loop / args.n_loop,
            "tokenizer loop": t_tok / args.n_loop,
        }
        for name, sec in per.items():
            rows.append(
                {
                    "format": fmt,
                    "method": name,
                    "us_per_example": sec * 1e6,
                    "speedup": per[name] and sec / per["vectorised"],
                }
            )

    print(
        f"encode_examples throughput: d={args.d}, n_tasks={args.tasks}, "
        f"vectorised on {args.n} examples, loops on {args.n_loop}"
    )
    print(
        f"{'format':<10} {'method':<15} {'µs/example':>11} {'examples/s':>12} {'vectorised is':>14}"
    )
    for r in rows:
        ratio = r["speedup"]
        if r["method"] == "vectorised":
            speed = "1.0x (base)"
        elif r["method"] == "vec. 1st call":
            speed = f"{ratio:.1f}x slower"
        else:
            speed = f"{ratio:.0f}x faster"
        print(
            f"{r['format']:<10} {r['method']:<15} {r['us_per_example']:>11.2f} "
            f"{1e6 / r['us_per_example']:>12,.0f} {speed:>14}"
        )
    return rows


if __name__ == "__main__":
    main()
