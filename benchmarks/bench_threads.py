"""How many torch threads: the measurement behind `--threads`' default of 1.

Times the same work at 1 thread and at every core in one process, alternating the
order so neither side always runs first: training steps of the default MLP
(configs/default.yaml) and of the default GPT-2 (configs/gpt2.yaml), and the linear-probe
fit of a probe sweep at the small benchmark size. It prints each time and the ratio
(many threads / one thread: above 1 means one thread is faster), with the load average,
since the answer depends on what else the machine is doing.

    python benchmarks/bench_threads.py [--steps 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from probekit.config import load_experiment
from probekit.training.loop import Trainer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def train_steps(config: str, steps: int):
    """A function that trains `steps` steps of `config` from scratch (no eval, no checkpoint)."""
    overrides = [
        f"train.steps={steps}",
        f"train.eval_every={steps}",
        f"train.checkpoint_every={steps + 1}",
        "train.recovery_probe=false",
    ]
    cfg = load_experiment(str(ROOT / "configs" / config), overrides)

    def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(cfg, Path(tmp) / "run", progress=False)
            trainer.model.train()
            for step in range(steps):
                out = trainer.model(**trainer._batch(step, 0))
                trainer.accelerator.backward(out.loss)
                trainer.optimizer.step()
                trainer.scheduler.step()
                trainer.optimizer.zero_grad()

    return run


def probe_fit():
    """A function that fits the small probe benchmark's 5 x 30 probes."""
    sys.path.insert(0, str(HERE))
    from bench_probes import setup

    from probekit.probing.probes import fit_linear_probes

    acts, targets, train, test = setup(5, 10, None, 128, 0)
    return lambda: fit_linear_probes(acts, targets, train, test, cv=5, seed=0)


def timed(fn, threads: int) -> float:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    many = os.cpu_count() or 1
    work = {
        "train MLP 3x256": train_steps("default.yaml", args.steps),
        "train GPT-2 4x128": train_steps("gpt2.yaml", args.steps),
        "probe fit 5x30": probe_fit(),
    }
    before = torch.get_num_threads()
    print(
        f"1 thread against {many} (all cores); {args.steps} steps, best of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.1f} (1 min) at the start"
    )
    print(f"{'work':<20}{'1 thread (s)':>14}{f'{many} threads (s)':>16}{'ratio':>8}")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in work.items():
            fn()  # warm-up (first-call allocations, lazy imports)
            one, all_ = [], []
            for r in range(args.repeat):
                order = (1, many) if r % 2 == 0 else (many, 1)
                for threads in order:
                    (one if threads == 1 else all_).append(timed(fn, threads))
            ratio = min(all_) / min(one)
            out[name] = ratio
            print(f"{name:<20}{min(one):>14.2f}{min(all_):>16.2f}{ratio:>8.2f}")
    torch.set_num_threads(before)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")
    return out


if __name__ == "__main__":
    main()
