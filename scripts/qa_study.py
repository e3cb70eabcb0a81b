"""Analyse a question-answering (qa) run: answer accuracy by query index and z probes by layer/position.

    python scripts/qa_study.py RUN [--out RUN/qa_study.json] [--random-init]

Reads `RUN/final` (a `gpt2-lm` / `llama-lm` checkpoint trained on `data.format=qa`),
regenerates the whole cube of latents (d <= 12) with the run's world, tasks and data spec,
and reports:

- answer accuracy by query index j (j = 0 sees only x; later queries also see the
  earlier answers, which carry information about z), and the same with every x token
  replaced by another row's x ("x shuffled"): what the model answers from the earlier
  answers alone;
- held-out linear-probe accuracy of z and of an alternative basis T(z) (the control), at
  every hidden-state site (`embed`, `layer.1..L`) and at the positions SEP, last x token,
  the first/middle/last query token and the first/last answer token, with one split by
  distinct inputs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from probekit.models.loading import load_model
from probekit.probing.controls import alt_basis, alt_basis_recoding, split_by_distinct_inputs
from probekit.probing.probes import fit_linear_probes
from synthetic.config import from_dict
from synthetic.dataset import DataSpec
from synthetic.sequences import encode_examples, layout_for, sequence_positions
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


def _load(run: Path):
    spec = json.loads((run / "final" / "probekit_spec.json").read_text())["experiment"]
    world = World(from_dict(WorldSpec, spec["world"]))
    tasks = TaskSet.from_spec(from_dict(TaskSpec, spec["tasks"]), world)
    data = from_dict(DataSpec, spec["data"])
    return spec, world, tasks, data


@torch.no_grad()
def _forward(model, ids: np.ndarray, positions: list[int], batch: int = 128):
    """Hidden states (sites, N, P, H) at `positions` and logits (N, T, V) for every row."""
    states, logits = [], []
    for start in range(0, len(ids), batch):
        out = model(
            input_ids=torch.from_numpy(ids[start : start + batch]), output_hidden_states=True
        )
        states.append(torch.stack(out.hidden_states)[:, :, positions].float().numpy())
        logits.append(out.logits.float().numpy())
    return np.concatenate(states, axis=1), np.concatenate(logits, axis=0)


def _accuracy_by_query(logits: np.ndarray, labels: np.ndarray, answer_pos: list[int]) -> np.ndarray:
    """(q,) fraction of rows whose answer j is the argmax (a causal LM predicts it one step early)."""
    pred = logits[:, np.asarray(answer_pos) - 1].argmax(-1)
    return (pred == labels[:, answer_pos]).mean(axis=0)


def analyse(run: Path, random_init: bool = False, seed: int = 0) -> dict:
    """All numbers of the module docstring for one run, as a JSON-ready dict."""
    spec, world, tasks, data = _load(run)
    if world.d > 12:
        raise ValueError(
            f"d={world.d} > 12: this script probes the whole cube; use a smaller world."
        )
    model = load_model(run / "final").eval()
    if random_init:
        torch.manual_seed(seed)
        model = type(model)(model.config).eval()
    rng = np.random.default_rng([seed, 7])
    cols = encode_examples(world, tasks, world.cube(), data, rng)
    layout = layout_for(world, tasks, data)
    pos = sequence_positions("qa", layout, data.queries_per_sequence)
    q = data.queries_per_sequence
    named = {
        "sep": pos["sep"],
        "last_x": pos["last_x"],
        "query_0": pos["query_positions"][0],
        "answer_0": pos["answer_positions"][0],
        f"query_{q // 2}": pos["query_positions"][q // 2],
        f"query_{q - 1}": pos["query_positions"][-1],
        f"answer_{q - 1}": pos["answer_positions"][-1],
    }
    ids, labels = cols["input_ids"], cols["labels"]
    states, logits = _forward(model, ids, list(named.values()))
    acc = _accuracy_by_query(logits, labels, pos["answer_positions"])

    # Answers from the earlier answers only: give every row another row's x.
    shuffled = ids.copy()
    perm = np.random.default_rng([seed, 8]).permutation(len(ids))
    shuffled[:, pos["x_start"] : pos["x_stop"]] = ids[perm, pos["x_start"] : pos["x_stop"]]
    _, logits_sh = _forward(model, shuffled, [pos["sep"]])
    acc_sh = _accuracy_by_query(logits_sh, labels, pos["answer_positions"])

    z, x = cols["z"], cols["x"]
    split_rng = np.random.default_rng(seed)
    train_idx, test_idx = split_by_distinct_inputs(x, 0.3, split_rng)
    recoded = alt_basis(z, alt_basis_recoding(z.shape[1], split_rng))
    targets = np.concatenate([z, recoded], axis=1).astype(np.float32)
    d = world.d
    probes = {}
    for p, name in enumerate(named):
        res = fit_linear_probes(
            states[:, :, p],
            targets,
            train_idx,
            test_idx,
            Cs=(0.01, 0.1, 1.0, 10.0),
            cv=3,
            seed=seed,
        )
        scores = np.asarray(res.scores)
        probes[name] = {
            "position": int(named[name]),
            "z": [round(float(v), 3) for v in scores[:, :d].mean(axis=1)],
            "alt_basis": [round(float(v), 3) for v in scores[:, d:].mean(axis=1)],
        }
    sites = ["embed"] + [f"layer.{i}" for i in range(1, states.shape[0])]
    return {
        "run": str(run),
        "model": spec["model"],
        "random_init": random_init,
        "sites": sites,
        "answer_acc": round(float(acc.mean()), 4),
        "answer_acc_by_query": [round(float(a), 3) for a in acc],
        "answer_acc_x_shuffled_by_query": [round(float(a), 3) for a in acc_sh],
        "probe_acc": probes,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: analyse one run and write the JSON next to it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--random-init", action="store_true", help="probe a fresh copy instead")
    args = parser.parse_args(argv)
    result = analyse(args.run, random_init=args.random_init)
    suffix = "_random_init" if args.random_init else ""
    out = args.out or args.run / f"qa_study{suffix}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    q = result["answer_acc_by_query"]
    qs = result["answer_acc_x_shuffled_by_query"]
    print(f"answer acc {result['answer_acc']:.3f}; by query j=0 {q[0]:.3f} j=last {q[-1]:.3f}")
    print(f"x shuffled: j=0 {qs[0]:.3f} j=last {qs[-1]:.3f}")
    print("probe acc z (alternative basis T(z)) by site:", " ".join(result["sites"]))
    for name, row in result["probe_acc"].items():
        cells = " ".join(
            f"{a:.2f}({b:.2f})" for a, b in zip(row["z"], row["alt_basis"], strict=True)
        )
        print(f"  {name:10s} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
