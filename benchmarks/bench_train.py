"""probekit's training loop against `transformers.Trainer`, in one process.

Both sides train the same model class from the same initial weights on the same batches
(drawn on the fly from the same seeded stream, so data generation is timed on both
sides), with the same AdamW optimiser and warm-up + cosine schedule (the very objects
are passed to the Trainer), the same gradient clipping, one evaluation at the end and no
checkpoint. The recovery probe, which has no Trainer counterpart, is off; both sides end by writing
the model with save_pretrained.

It prints tokens/s of each side, their ratio, and the model FLOP/s (counted with
torch's FlopCounterMode on one training step) as a fraction of the fp32 matmul peak
measured in the same process with the same threads. It also splits probekit's step time
into data, forward, backward and optimiser, so the share outside the model is visible.

    python benchmarks/bench_train.py                      # GPT-2 4x128 (configs/gpt2.yaml)
    python benchmarks/bench_train.py --config configs/default.yaml --steps 300
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.data import IterableDataset
from torch.utils.flop_counter import FlopCounterMode

from probekit.config import load_experiment
from probekit.training.loop import Trainer as ProbekitTrainer
from probekit.training.loop import _to_tensors

ROOT = Path(__file__).resolve().parents[1]


def matmul_peak(threads: int, n: int = 1024, seconds: float = 1.0) -> float:
    """fp32 FLOP/s of a square matmul, the best of a few timed bursts."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = 0.0
    for _ in range(3):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


class SameBatches(IterableDataset):
    """The probekit stream's examples in probekit's order, one example at a time."""

    def __init__(self, source, steps: int, batch: int, names):
        self.source, self.steps, self.batch, self.names = source, steps, batch, names

    def __iter__(self):
        for step in range(self.steps):
            arrays = self.source.batch(step, 0, 0, self.batch)
            tensors = _to_tensors(arrays, self.names, "cpu")
            for i in range(self.batch):
                yield {k: v[i] for k, v in tensors.items()}


def build(cfg, run_dir: Path) -> ProbekitTrainer:
    """A fresh probekit trainer (model initialised from the config's seed)."""
    return ProbekitTrainer(cfg, run_dir, progress=False)


def step_flops(trainer: ProbekitTrainer) -> float:
    """FLOPs of one forward + backward on one batch (the optimiser's are negligible)."""
    batch = trainer._batch(0, 0)
    model = trainer.model
    with FlopCounterMode(display=False) as counter:
        out = model(**batch)
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def time_probekit(cfg, tmp: Path) -> tuple[float, dict[str, float]]:
    """Seconds for probekit's fit(), and a split of one extra pass's time by phase."""
    trainer = build(cfg, tmp / "probekit")
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start

    # The phases, timed on a second short pass (timing them inside fit() would change it).
    trainer = build(cfg, tmp / "phases")
    trainer.model.train()
    phases = dict.fromkeys(("data", "forward", "backward", "optimiser"), 0.0)
    for step in range(min(cfg.train.steps, 100)):
        t0 = time.perf_counter()
        batch = trainer._batch(step, 0)
        t1 = time.perf_counter()
        out = trainer.model(**batch)
        t2 = time.perf_counter()
        trainer.accelerator.backward(out.loss)
        t3 = time.perf_counter()
        if cfg.train.max_grad_norm:
            trainer.accelerator.clip_grad_norm_(trainer.model.parameters(), cfg.train.max_grad_norm)
        trainer.optimizer.step()
        trainer.scheduler.step()
        trainer.optimizer.zero_grad()
        t4 = time.perf_counter()
        for name, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[name] += dt
    return seconds, phases


def time_hf_trainer(cfg, tmp: Path) -> float:
    """Seconds for transformers.Trainer.train() + one evaluate() on the same everything."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    twin = build(cfg, tmp / "hf-init")  # same seed: the same initial weights and stream
    model = twin.accelerator.unwrap_model(twin.model)
    optimizer, scheduler = twin.optimizer.optimizer, twin.scheduler.scheduler
    names = list(twin.input_names)
    batch = cfg.train.batch_size
    evals = [twin.eval_set] + ([twin.heldout_set] if twin.heldout_set is not None else [])
    eval_sets = []
    for examples in evals:  # probekit scores training-distribution and held-out inputs
        rows = _to_tensors(examples, names, "cpu")
        eval_sets.append([{k: v[i] for k, v in rows.items()} for i in range(len(examples["z"]))])
    args = TrainingArguments(
        output_dir=str(tmp / "hf"),
        max_steps=cfg.train.steps,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=512,
        max_grad_norm=cfg.train.max_grad_norm or 0.0,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        dataloader_num_workers=0,
        seed=cfg.train.seed,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=SameBatches(twin.source, cfg.train.steps, batch, names),
        optimizers=(optimizer, scheduler),
    )
    trainer.remove_callback(PrinterCallback)  # its metric dicts would interleave with the table
    start = time.perf_counter()
    trainer.train()
    for eval_set in eval_sets:
        trainer.evaluate(eval_dataset=eval_set)
    trainer.save_model(str(tmp / "hf-final"))  # probekit's fit() ends with save_pretrained too
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "gpt2.yaml"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (best is kept)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = [
        f"train.steps={args.steps}",
        f"train.eval_every={args.steps}",
        f"train.checkpoint_every={args.steps + 1}",
        "train.recovery_probe=false",
    ]
    cfg = load_experiment(args.config, overrides)
    peak = matmul_peak(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Writing model shards" bars on both sides
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmp = Path(tmp)
        probe_trainer = build(cfg, tmp / "flops")
        flops = step_flops(probe_trainer)
        batch = probe_trainer._batch(0, 0)
        tokens_per_step = (
            batch["input_ids"].numel()
            if "input_ids" in batch
            else (cfg.train.batch_size * probe_trainer.world.m)
        )
        # Best of `repeat` runs per side, alternating which side goes first, so that a
        # change in the machine's load does not land on one side only.
        hf_times, pk_times, phases = [], [], None
        for r in range(args.repeat):
            for side in ("hf", "pk") if r % 2 == 0 else ("pk", "hf"):
                run_tmp = tmp / f"{side}{r}"
                if side == "hf":
                    hf_times.append(time_hf_trainer(cfg, run_tmp))
                else:
                    seconds, split = time_probekit(cfg, run_tmp)
                    pk_times.append(seconds)
                    phases = phases or split
        t_hf, t_pk = min(hf_times), min(pk_times)
    steps = cfg.train.steps
    out = {
        "probekit_tokens_per_s": tokens_per_step * steps / t_pk,
        "trainer_tokens_per_s": tokens_per_step * steps / t_hf,
        "speedup_vs_trainer": t_hf / t_pk,
        "probekit_peak_fraction": flops * steps / t_pk / peak,
        "trainer_peak_fraction": flops * steps / t_hf / peak,
    }
    total = sum(phases.values())
    print(
        f"{cfg.model.kind} {cfg.model.n_layers}x{cfg.model.hidden}, batch {cfg.train.batch_size}, "
        f"{steps} steps (best of {args.repeat} per side), {tokens_per_step} tokens/step, {flops / 1e9:.2f} GFLOP/step; "
        f"torch threads {args.threads}, load average {os.getloadavg()[0]:.1f} (1 min); "
        f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    print(f"{'loop':<22}{'time (s)':>10}{'tokens/s':>12}{'of peak':>9}")
    print(
        f"{'transformers.Trainer':<22}{t_hf:>10.2f}{out['trainer_tokens_per_s']:>12.0f}"
        f"{out['trainer_peak_fraction']:>9.0%}"
    )
    print(
        f"{'probekit':<22}{t_pk:>10.2f}{out['probekit_tokens_per_s']:>12.0f}"
        f"{out['probekit_peak_fraction']:>9.0%}"
    )
    print(f"probekit / Trainer: {out['speedup_vs_trainer']:.2f}x")
    print(
        "probekit step time by phase (100 steps): "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in phases.items())
    )
    return out


if __name__ == "__main__":
    main()
