"""The Accelerator of a run: gradient accumulation, precision, processes and trackers.

One place decides how a run meets its hardware, so the loop stays the same on one CPU,
several CPU processes (gloo), GPUs or machines: the global batch is fixed by the config
and each process takes its share (`probekit.training.batches`), the schedule steps once
per optimiser step whatever the process count, and `train.log_with`'s trackers
(`probekit.training.tracking`) write their local files in RUN/tracking/.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import ProjectConfiguration

from probekit.training.tracking import TrackerSetup


def mixed_precision(choice: str) -> str:
    """`train.mixed_precision` for this device: `auto` is bf16 (or fp16) on a GPU, none on CPU."""
    if choice != "auto":
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"  # CPU autocast brings no speed here and costs reproducibility


def make_accelerator(train_cfg, run_dir: str | Path, tracking: TrackerSetup) -> Accelerator:
    """The Accelerator of one run (`train_cfg`: its TrainConfig).

    Refuses processes that were started together (torchrun's WORLD_SIZE) but did not join
    one process group: each would train alone and all would write the same run directory.
    """
    from accelerate.utils import get_torch_accelerator_backend

    accelerator = Accelerator(
        # Without a GPU (or other device) the processes torchrun starts (`accelerate launch
        # --multi_gpu`, `torchrun`) form a gloo group on the CPU instead of each training alone.
        cpu=get_torch_accelerator_backend()[0] is None,
        gradient_accumulation_steps=train_cfg.grad_accum,
        mixed_precision=mixed_precision(train_cfg.mixed_precision),
        # The evaluation loaders split their batches over the processes; training batches
        # are sliced from the global batch by process index (batches.share_start).
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        log_with=tracking.trackers or None,
        project_config=ProjectConfiguration(
            project_dir=str(run_dir), logging_dir=str(Path(run_dir) / "tracking")
        ),
    )
    started = int(os.environ.get("WORLD_SIZE", "1"))
    if started > accelerator.num_processes:
        raise ValueError(
            f"{started} processes were started (WORLD_SIZE) but this one sees "
            f"{accelerator.num_processes}: they did not form a process group. Launch with "
            "`accelerate launch --multi_gpu --num_processes N` or `torchrun --nproc_per_node N`."
        )
    return accelerator
