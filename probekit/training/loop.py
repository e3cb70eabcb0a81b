"""Pretrain a model on proxy tasks: one explicit accelerate loop, resumable, device-agnostic.

`train(cfg, run_dir)` is the library entry; the command line (`probekit train`,
`python -m probekit.train`, `accelerate launch -m probekit.train`) is
`probekit.commands.train`.

The same loop runs on one CPU or many GPUs: `accelerator.prepare`, `accumulate`,
`gather_for_metrics`, `save_state`/`load_state`; only the main process writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm
from transformers import get_scheduler

from probekit.config import ExperimentConfig
from probekit.models.factory import (
    build_model,
    data_format_for,
    model_input_names,
)
from probekit.models.isolation import forward_inputs
from probekit.models.scoring import per_example_scores
from probekit.training.accelerator import make_accelerator
from probekit.training.batches import BatchLog, eval_examples, make_source, share_start
from probekit.training.progress import Pauses
from probekit.training.recovery import (
    final_representation,
    measure_recovery,
    probe_examples,
    readout_positions,
)
from probekit.training.run_dir import RunDir
from probekit.training.snapshots import run_spec, write_model_dir
from probekit.training.tracking import tracker_setup
from synthetic.sequences import format_model_inputs
from synthetic.tasks import TaskSet
from synthetic.tokenizer import build_tokenizer
from synthetic.world import World

_SCHEDULE_NAMES = {"cosine": "cosine", "constant": "constant_with_warmup", "linear": "linear"}


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    final_dir: Path
    steps: int
    metrics: dict[str, float]


def _make_scheduler(optimizer, cfg) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up, then cosine (optionally down to `min_lr_ratio` of the peak), constant or linear."""
    name, extra = _SCHEDULE_NAMES[cfg.schedule], None
    if cfg.schedule == "cosine" and cfg.min_lr_ratio > 0:
        name, extra = "cosine_with_min_lr", {"min_lr_rate": cfg.min_lr_ratio}
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=cfg.warmup_steps,
        num_training_steps=cfg.steps,
        scheduler_specific_kwargs=extra,
    )


def _to_tensors(arrays: dict[str, np.ndarray], names: list[str], device) -> dict[str, torch.Tensor]:
    out = {}
    for name in names:
        value = torch.from_numpy(np.ascontiguousarray(arrays[name]))
        if value.dtype in (torch.int8, torch.int16, torch.int32):
            value = value.long()
        out[name] = value.to(device)
    return out


class Trainer:
    """Holds the objects of one run; `fit()` runs the loop from wherever the run stopped.

    Every check that can refuse the run (data format, batch split, an existing run of
    another config, a dataset of another world) runs before anything is written; then
    `before_write()` (the command's prediction.json), then the run directory.
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        run_dir: str | Path,
        *,
        accelerator=None,
        overwrite: bool = False,
        progress: bool = True,
        before_write: Callable[[], object] | None = None,
        tags: Mapping[str, object] | None = None,
        batch_log: str | Path | None = None,
    ):
        self.cfg = cfg
        self.progress = progress
        expected = data_format_for(cfg.model.kind)
        if cfg.data.format not in expected:
            raise ValueError(
                f"model.kind={cfg.model.kind!r} trains on data.format in {sorted(expected)}, "
                f"but data.format={cfg.data.format!r}. Set data.format={sorted(expected)[0]}."
            )
        # Refuses a tracker whose package is missing, before anything is written.
        self.tracking = tracker_setup(cfg.train.log_with, Path(run_dir), cfg.to_dict(), tags)
        self.accelerator = accelerator or make_accelerator(cfg.train, run_dir, self.tracking)
        acc = self.accelerator
        per_step = cfg.train.batch_size // cfg.train.grad_accum
        if per_step % acc.num_processes:
            raise ValueError(
                f"train.batch_size / train.grad_accum = {per_step} is not divisible by the "
                f"{acc.num_processes} processes; change train.batch_size."
            )
        self.micro_batch = per_step // acc.num_processes
        self.batch_log = BatchLog(batch_log, acc.process_index) if batch_log else None
        self.run = RunDir(run_dir)
        self.run.check(cfg.to_dict(), overwrite=overwrite)

        self.world = World(cfg.world)
        self.tasks = TaskSet.from_spec(cfg.tasks, self.world)
        self.tokenizer = build_tokenizer(self.world.m, self.tasks.n, cfg.data.bits_per_token)
        self.source = make_source(cfg, self.world, self.tasks)
        sets = (self.world, self.tasks, cfg.data, cfg.train.eval_examples, cfg.train.seed)
        self.eval_set = eval_examples(*sets)
        # Inputs the model never trains on: the hash holdout and/or outside data.train_region.
        self.heldout_set = eval_examples(*sets, heldout=True) if cfg.data.holds_out else None
        self.probe_set = probe_examples(self.world, self.tasks, cfg.data, cfg.train.seed)

        set_seed(cfg.train.seed)  # model init is part of the seeded state
        seq_len = (
            self.eval_set["input_ids"].shape[1] if "input_ids" in self.eval_set else self.world.m
        )
        model = build_model(
            cfg.model,
            vocab_size=len(self.tokenizer),
            n_tasks=self.tasks.n,
            seq_len=seq_len,
            m=self.world.m,
            pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.tokenizer.bos_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            target=cfg.tasks.target,
        )
        # The format's own model inputs (qa_isolated: segment_ids, position_ids) come too.
        self.input_names = model_input_names(cfg.model.kind) + format_model_inputs(cfg.data.format)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=cfg.train.lr,
            betas=tuple(cfg.train.betas),
            weight_decay=cfg.train.weight_decay,
        )
        scheduler = _make_scheduler(optimizer, cfg.train)
        if acc.is_main_process:  # every check passed: now, and only now, write
            if before_write is not None:
                before_write()
            self.run.prepare(cfg.to_dict(), overwrite=overwrite)
        acc.wait_for_everyone()
        eval_loader = DataLoader(
            TensorDataset(torch.arange(len(self.eval_set["z"]))), batch_size=512, shuffle=False
        )
        self.model, self.optimizer, self.scheduler, self.eval_loader = acc.prepare(
            model, optimizer, scheduler, eval_loader
        )
        self.heldout_loader = None
        if self.heldout_set is not None:
            self.heldout_loader = acc.prepare(
                DataLoader(
                    TensorDataset(torch.arange(len(self.heldout_set["z"]))),
                    batch_size=512,
                    shuffle=False,
                )
            )
        acc.init_trackers(self.tracking.project, self.tracking.config, self.tracking.init_kwargs)
        self.step = 0

    # -- data ---------------------------------------------------------------------------

    def _batch(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        """This process's share of micro-step `micro` of the global batch of `step`."""
        acc = self.accelerator
        shape = (self.micro_batch, self.cfg.train.grad_accum, acc.num_processes)
        arrays = self.source.batch(
            step, micro, acc.process_index, shape[0], micro_steps=shape[1], processes=shape[2]
        )
        if self.batch_log is not None:
            self.batch_log.write(step, share_start(micro, acc.process_index, *shape), arrays)
        return _to_tensors(arrays, self.input_names, acc.device)

    # -- loop -----------------------------------------------------------------------------

    def resume(self, from_checkpoint: bool = True) -> int:
        """Load the latest checkpoint (if any and `from_checkpoint`); the step to continue from.

        metrics.jsonl keeps only the rows up to that step, whatever a killed attempt logged
        after it (all of them when there is no checkpoint): they are logged again.
        """
        latest = self.run.latest_checkpoint() if from_checkpoint else None
        if latest is not None:
            self.accelerator.load_state(str(latest))
            self.step = self.run.checkpoint_step(latest)
        if self.accelerator.is_main_process:
            self.run.truncate_metrics(self.step)
        self.accelerator.wait_for_everyone()
        return self.step

    def fit(self) -> TrainResult:
        """Train to `train.steps`, evaluating and checkpointing on the way."""
        cfg, acc = self.cfg.train, self.accelerator
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc="train",
            dynamic_ncols=True,
            disable=not (self.progress and acc.is_local_main_process),
        )
        metrics: dict[str, float] = {}
        pauses = Pauses()  # evaluations and checkpoints stay out of the bar's rate and ETA
        if cfg.save_model_every and self.step == 0:
            self.save_snapshot(metrics)  # the initialisation: where an emergence curve starts
        self.model.train()
        while self.step < cfg.steps:
            for micro in range(cfg.grad_accum):
                batch = self._batch(self.step, micro)
                with acc.accumulate(self.model):
                    out = self.model(**forward_inputs(self.model, batch))
                    acc.backward(out.loss)
                    if acc.sync_gradients and cfg.max_grad_norm:
                        acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad()
            self.step += 1
            bar.update(1)
            last = self.step == cfg.steps
            if self.step % cfg.eval_every == 0 or last:
                with pauses.paused(bar):
                    metrics = self.evaluate()
                bar.set_postfix(
                    loss=f"{metrics['eval_loss']:.3f}",
                    acc=f"{metrics['eval_acc']:.3f}",
                    z=f"{metrics.get('probe_acc_z', float('nan')):.2f}",
                    eval=pauses.label(),
                )
                self.model.train()
            if self.step % cfg.checkpoint_every == 0 and not last:
                with pauses.paused(bar):
                    self.save_checkpoint()
            if cfg.save_model_every and self.step % cfg.save_model_every == 0 and not last:
                with pauses.paused(bar):  # the last step's weights are final/
                    self.save_snapshot(metrics)
        bar.close()
        final_dir = self.save_final(metrics)
        # Last: it closes the trackers and ends the process group that save_final's barriers use.
        self.accelerator.end_training()
        return TrainResult(self.run.path, final_dir, self.step, metrics)

    @torch.no_grad()
    def _score(self, examples: dict[str, np.ndarray], loader) -> tuple[float, float, float]:
        """Mean loss, accuracy and first-answer accuracy over `examples`, gathered from all processes."""
        acc = self.accelerator
        losses, correct, first = [], [], []
        for (index,) in loader:
            rows = {k: v[index.cpu().numpy()] for k, v in examples.items()}
            batch = _to_tensors(rows, self.input_names, acc.device)
            out = self.model(**forward_inputs(self.model, batch))
            loss_i, correct_i, first_i = per_example_scores(
                out, batch, self.cfg.tasks.target, self.cfg.model.kind.endswith("-lm")
            )
            losses.append(acc.gather_for_metrics(loss_i))
            correct.append(acc.gather_for_metrics(correct_i))
            first.append(acc.gather_for_metrics(first_i))
        return (
            float(torch.cat(losses).mean()),
            float(torch.cat(correct).float().mean()),
            float(torch.cat(first).float().mean()),
        )

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Task loss/accuracy on training inputs and on held-out inputs, and the recovery probe."""
        acc = self.accelerator
        self.model.eval()
        loss, accuracy, first = self._score(self.eval_set, self.eval_loader)
        metrics = {
            "step": self.step,
            "eval_loss": loss,
            "eval_acc": accuracy,
            "eval_acc_first": first,
            "lr": float(self.scheduler.get_last_lr()[0]),
        }
        if self.heldout_loader is not None:  # inputs the model never trains on
            loss, accuracy, first = self._score(self.heldout_set, self.heldout_loader)
            metrics.update(
                eval_loss_heldout=loss, eval_acc_heldout=accuracy, eval_acc_first_heldout=first
            )
        if self.cfg.train.recovery_probe and acc.is_main_process:
            model = acc.unwrap_model(self.model)
            names = [n for n in self.input_names if n not in ("labels", "targets")]
            inputs = _to_tensors(self.probe_set, names, acc.device)
            n = len(self.probe_set["z"])
            readout = readout_positions(self.world, self.tasks, self.cfg.data, n)
            rep = final_representation(model, inputs, readout)
            metrics.update(
                measure_recovery(
                    rep,
                    self.probe_set["z"],
                    self.probe_set["x"],
                    seed=self.cfg.probe.seed,
                    test_fraction=self.cfg.probe.test_fraction,
                    unseen=self.probe_set.get("heldout"),
                )
            )
        if acc.is_main_process:
            self.run.log_metrics(metrics)
        acc.log({k: v for k, v in metrics.items() if k != "step"}, step=self.step)
        return metrics

    def save_checkpoint(self) -> None:
        """`accelerator.save_state` into a temporary directory, then an atomic rename."""
        acc = self.accelerator
        tmp = self.run.checkpoint_tmp(self.step)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.run.commit_checkpoint(tmp, self.step, keep=self.cfg.train.keep_checkpoints)
        acc.wait_for_everyone()

    def _write_model(self, metrics: dict[str, float]):
        """Writes the model at this step (safetensors), tokenizer and full spec into a directory."""
        model = self.accelerator.unwrap_model(self.model)
        at = metrics if metrics.get("step") == self.step else None  # an evaluation at this step
        spec = run_spec(self.cfg, self.tasks, self.step, at)
        return lambda tmp: write_model_dir(tmp, model, self.tokenizer, spec, progress=self.progress)

    def save_snapshot(self, metrics: dict[str, float]) -> None:
        """The weights alone (no optimiser state) into `snapshots/step-N/`, kept for good."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.run.write_snapshot(self.step, self._write_model(metrics))
        acc.wait_for_everyone()

    def save_final(self, metrics: dict[str, float]) -> Path:
        """The model (safetensors), tokenizer and full spec, written atomically to `final/`."""
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.run.write_final(self._write_model(metrics))
        acc.wait_for_everyone()
        return self.run.final


def train(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    accelerator=None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    before_write: Callable[[], object] | None = None,
    tags: Mapping[str, object] | None = None,
    batch_log: str | Path | None = None,
) -> TrainResult:
    """Train (or resume) the run in `run_dir` to completion and return what it produced.

    A refused run (a bad config, a finished run or a run of another config in `run_dir`, a
    `train.data_dir` of another world) writes nothing. `before_write` is called once every
    check has passed and before the run directory is written (the prediction goes there).
    `tags` go to the experiment trackers (a sweep's point and its parameters); `batch_log`
    is a folder for a `BatchLog` of every training batch.
    """
    trainer = Trainer(
        cfg,
        run_dir,
        accelerator=accelerator,
        overwrite=overwrite,
        progress=progress,
        before_write=before_write,
        tags=tags,
        batch_log=batch_log,
    )
    trainer.resume(from_checkpoint=resume)
    return trainer.fit()
