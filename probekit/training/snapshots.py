"""The saved steps of a run: weights-only snapshots, and any step loaded back for probing.

A run keeps two kinds of intermediate state (training/run_dir.py):

- `RUN/checkpoints/step-N/`: accelerate's `save_state` (weights, optimiser, scheduler,
  random states), to resume from; only the last `train.keep_checkpoints` are kept.
- `RUN/snapshots/step-N/`: the weights alone, as `save_pretrained` writes them
  (safetensors), with the tokenizer and `probekit_spec.json`, every
  `train.save_model_every` steps and at step 0; all are kept. They are what an emergence
  curve needs (`probekit probe RUN --steps all`) at a fraction of a checkpoint's size:
  AdamW's two moments alone are twice the weights.

`load_saved_step` loads either kind, or anything `load_checkpoint` loads. An accelerate
checkpoint holds no config.json: its model is rebuilt from the run's `config.yaml` and
its safetensors weights are loaded strictly (nothing is unpickled).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from probekit.config import ExperimentConfig
from probekit.models.checkpoints import Checkpoint, load_checkpoint, transformers_progress
from probekit.models.factory import build_model
from probekit.training.run_dir import RunDir
from synthetic.config import load_yaml
from synthetic.dataset import package_versions
from synthetic.sequences import encode_examples
from synthetic.tasks import TaskSet
from synthetic.tokenizer import build_tokenizer
from synthetic.world import World

_WEIGHTS = "model.safetensors"  # accelerate's name for the first model's weights


def run_spec(cfg: ExperimentConfig, tasks: TaskSet, step: int, metrics: dict | None) -> dict:
    """`probekit_spec.json` of a model saved at `step`: everything needed to probe it again.

    `final_metrics` are the metrics of the evaluation at that step (None when none ran there).
    """
    return {
        "experiment": cfg.to_dict(),
        "tasks_polynomials": tasks.to_dict(),
        "steps": step,
        "final_metrics": metrics,
        "versions": package_versions(("probekit", "torch", "transformers", "accelerate", "numpy")),
    }


def write_model_dir(path: Path, model, tokenizer, spec: dict, *, progress: bool = True) -> None:
    """save_pretrained (safetensors), the tokenizer and probekit_spec.json into `path`."""
    with transformers_progress(progress):  # "Writing model shards"
        model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    (path / "probekit_spec.json").write_text(json.dumps(spec, indent=2, default=float))


def is_training_checkpoint(path: str | Path) -> bool:
    """An accelerate `save_state` directory of the training loop (RUN/checkpoints/step-N)."""
    path = Path(path)
    return (
        (path / "trainer_state.json").is_file()
        and (path / _WEIGHTS).is_file()
        and not (path / "config.json").exists()
    )


def _run_of(path: Path) -> RunDir:
    run = RunDir(path.parent.parent)
    if path.parent.name not in ("checkpoints", "snapshots") or not run.config.is_file():
        raise FileNotFoundError(
            f"{path} is a training checkpoint, but {run.config} (the run's config, which "
            "rebuilds its model) is missing; keep the checkpoint inside its run directory "
            "(RUN/checkpoints/step-N)."
        )
    return run


def _metrics_at(run: RunDir, step: int) -> dict | None:
    return next((r for r in reversed(run.read_metrics()) if r.get("step") == step), None)


def load_training_checkpoint(path: str | Path) -> Checkpoint:
    """The model of an accelerate checkpoint, rebuilt from its run's config.yaml."""
    path = Path(path)
    run = _run_of(path)
    cfg = ExperimentConfig.from_dict(load_yaml(run.config) or {})
    world = World(cfg.world)
    tasks = TaskSet.from_spec(cfg.tasks, world)
    tokenizer = build_tokenizer(world.m, tasks.n, cfg.data.bits_per_token)
    # One encoded example gives the sequence length the model was built for.
    rng = np.random.default_rng(0)
    one = encode_examples(world, tasks, world.sample(1, rng)[0], cfg.data, rng)
    model = build_model(
        cfg.model,
        vocab_size=len(tokenizer),
        n_tasks=tasks.n,
        seq_len=one["input_ids"].shape[1] if "input_ids" in one else world.m,
        m=world.m,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        target=cfg.tasks.target,
        seed=cfg.train.seed,
    )
    _load_weights_strictly(model, path / _WEIGHTS)
    step = RunDir.checkpoint_step(path)
    spec = run_spec(cfg, tasks, step, _metrics_at(run, step))
    return Checkpoint(model.eval(), tokenizer, spec, path)


def _load_weights_strictly(model, weights: Path) -> None:
    """Every parameter from `weights` (tied copies excepted), whatever accelerate wrapped it in."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_model

    try:
        with safe_open(str(weights), framework="pt") as f:
            keys = list(f.keys())
        target = model
        if keys and all(k.startswith("module.") for k in keys):  # saved from a DDP wrapper
            target = torch.nn.Module()
            target.module = model
        load_model(target, str(weights), strict=True)
    except SafetensorError as err:
        raise ValueError(
            f"{weights} is damaged ({err}): it was cut short (a kill or a full disk while it "
            "was written). Probe another saved step."
        ) from err
    except RuntimeError as err:
        raise ValueError(
            f"{weights} does not fit the model its run's config.yaml builds ({err}); was "
            "config.yaml edited after training?"
        ) from err


def load_saved_step(
    name_or_path: str | Path, revision: str | None = None, *, progress: bool = True
) -> Checkpoint:
    """A run, final/, snapshot or Hub id (`load_checkpoint`), or a training checkpoint."""
    if isinstance(name_or_path, (str, Path)) and is_training_checkpoint(name_or_path):
        return load_training_checkpoint(name_or_path)
    return load_checkpoint(name_or_path, revision, progress=progress)


def saved_steps(run_path: str | Path) -> dict[int, Path]:
    """Every step of a run whose weights are saved -> where: snapshots, checkpoints, final/.

    Where a step is saved twice (a snapshot and a checkpoint) the snapshot is used.
    """
    run = RunDir(run_path)
    found: dict[int, Path] = {}
    for path in run.list_checkpoints():
        found[RunDir.checkpoint_step(path)] = path
    for path in run.list_snapshots():
        found[int(path.name.split("-")[1])] = path
    spec_file = run.final / "probekit_spec.json"
    if spec_file.is_file():
        found[int(json.loads(spec_file.read_text())["steps"])] = run.final
    return dict(sorted(found.items()))
