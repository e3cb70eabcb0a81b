"""The training loop: run directory, launchers, trackers, progress and clear errors.

Resume after a kill, temporaries and atomic writes: test_train_resume.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_MLP_RUN, subprocess_env, write_config
from safetensors.numpy import load_file

from probekit.config import load_experiment
from probekit.training.loop import train
from probekit.training.run_dir import RunExistsError

REPO = Path(__file__).resolve().parents[1]

TINY_MLP = TINY_MLP_RUN

TINY_GPT2 = {
    "world": {"d": 4, "observation": "gf2_linear", "seed": 0},
    "tasks": {"family": "walsh", "n": 8, "k": 2, "seed": 0},
    "data": {"format": "multitask"},
    "model": {"kind": "gpt2", "hidden": 32, "n_layers": 2, "n_heads": 2},
    "train": {
        "steps": 6,
        "batch_size": 16,
        "eval_every": 3,
        "checkpoint_every": 3,
        "eval_examples": 64,
        "warmup_steps": 1,
    },
}


def test_run_directory_layout_and_autoloading(tmp_path):
    cfg = load_experiment(write_config(tmp_path / "c.yaml", TINY_MLP))
    result = train(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.steps == 40
    assert (run / "config.yaml").exists()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [20, 40]
    for key in (
        "eval_loss",
        "eval_acc",
        "eval_acc_heldout",  # inputs the default holdout keeps out of training
        "probe_acc_z",
        "probe_acc_alt_basis",
        "identification_error",
        "mcc",
    ):
        assert np.isfinite(rows[-1][key]), key
    # last K=2 checkpoints kept, no temporary directories left behind
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000020",
        "step-00000030",
    ]
    final = run / "final"
    assert (final / "model.safetensors").exists()
    spec = json.loads((final / "probekit_spec.json").read_text())
    assert spec["experiment"]["world"]["d"] == 6
    assert spec["steps"] == 40 and "torch" in spec["versions"]

    from transformers import AutoModel, AutoTokenizer

    import probekit.models  # noqa: F401  (registers the Auto classes)

    model = AutoModel.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert type(model).__name__ == "MLPModel"
    assert tokenizer.pad_token is not None
    saved = load_file(str(final / "model.safetensors"))
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), saved[name])


def test_finished_run_is_not_clobbered(tmp_path):
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP), ["train.steps=5", "train.recovery_probe=false"]
    )
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(RunExistsError, match="already holds a finished run.*--overwrite"):
        train(cfg, tmp_path / "run", progress=False)
    again = train(cfg, tmp_path / "run", progress=False, overwrite=True)
    assert again.steps == 5


def test_resuming_with_a_different_config_is_refused(tmp_path):
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP), ["train.steps=5", "train.recovery_probe=false"]
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(
        yaml.safe_dump({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "lr": 0.5}})
    )
    with pytest.raises(RunExistsError, match="different config.*train.lr"):
        train(cfg, run, progress=False)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.kind=resnet", "Unknown model kind 'resnet'. Available: .*gpt2"),
        ("model.max_positions=3", "max_positions"),
        ("train.lrr=1", "Unknown key 'train.lrr'"),
        ("data.format=qa", "data.format"),
    ],
)
def test_bad_configs_fail_before_training(tmp_path, override, message):
    path = write_config(tmp_path / "c.yaml", TINY_GPT2)
    with pytest.raises((ValueError, KeyError), match=message):
        cfg = load_experiment(path, [override])
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "final").exists()


def test_dataset_from_another_world_is_rejected(tmp_path):
    from probekit.cli import main as cli

    data_cfg = write_config(
        tmp_path / "data.yaml", {k: TINY_MLP[k] for k in ("world", "tasks", "data")}
    )
    assert cli(["generate", "--config", str(data_cfg), "--out", str(tmp_path / "ds")]) == 0
    path = write_config(tmp_path / "c.yaml", TINY_MLP)
    ok = load_experiment(
        path, [f"train.data_dir={tmp_path / 'ds'}", "train.steps=3", "train.recovery_probe=false"]
    )
    assert train(ok, tmp_path / "run-ok", progress=False).steps == 3
    other = load_experiment(path, [f"train.data_dir={tmp_path / 'ds'}", "world.seed=7"])
    called = []
    with pytest.raises(ValueError, match="different world spec"):
        train(other, tmp_path / "run-bad", progress=False, before_write=lambda: called.append(1))
    assert not (tmp_path / "run-bad").exists() and not called  # a refused run writes nothing


def test_gpt2_multitask_trains_and_round_trips(tmp_path):
    cfg = load_experiment(write_config(tmp_path / "c.yaml", TINY_GPT2))
    result = train(cfg, tmp_path / "run", progress=False)
    from transformers import AutoModel

    import probekit.models  # noqa: F401

    model = AutoModel.from_pretrained(result.final_dir)
    assert model.config.model_type == "probekit-task-heads"
    assert 0.0 <= result.metrics["eval_acc"] <= 1.0


def test_accelerate_launch_runs_the_training_module(tmp_path):
    path = write_config(tmp_path / "c.yaml", TINY_GPT2)
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / "cpu.yaml"),
        "-m",
        "probekit.train",
        "--config",
        str(path),
        "--run-dir",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    done = subprocess.run(cmd, env=subprocess_env(), cwd=REPO, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert summary["step"] == 6
    run = tmp_path / "run"
    assert (run / "final" / "model.safetensors").exists()
    assert (run / "final" / "tokenizer.json").exists()
    assert [json.loads(r)["step"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [
        3,
        6,
    ]


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP),
        ["train.steps=4", "train.eval_every=2", "train.recovery_probe=false"],
    )
    train(cfg, tmp_path / "run", progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next((tmp_path / "run" / "tracking").rglob("events.*")).parent))
    events.Reload()
    assert [e.step for e in events.Scalars("eval_loss")] == [2, 4]


def test_the_prediction_is_written_before_training_and_never_rewritten(tmp_path, monkeypatch):
    from probekit.cli import main as cli
    from probekit.theory.predictions import read_prediction

    config = write_config(tmp_path / "c.yaml", TINY_MLP)
    seen = {}

    def fake_train(cfg, run_dir, *, before_write, **kwargs):
        before_write()  # called once every check passed, before the run directory is written
        seen["prediction"] = read_prediction(run_dir)  # so it exists before training starts
        raise RunExistsError("stop here")

    monkeypatch.setattr("probekit.commands.train.train", fake_train)
    run_dir = tmp_path / "run"
    args = ["train", "--config", str(config), "--run-dir", str(run_dir)]
    assert cli(args) == 2
    assert seen["prediction"]["prediction"]["expected_recovery"] in ("yes", "no", "not_singled_out")
    before = (run_dir / "prediction.json").read_bytes()
    cli(args)
    assert (run_dir / "prediction.json").read_bytes() == before  # not rewritten
    assert cli([*args, "tasks.n=3"]) == 2  # another task set: refused, file unchanged
    assert (run_dir / "prediction.json").read_bytes() == before


def test_the_progress_clock_leaves_evaluation_out(tmp_path, monkeypatch, capsys):
    import io
    import re

    from tqdm import tqdm

    from probekit.training.loop import Trainer
    from probekit.training.progress import Pauses

    bar, pauses = tqdm(total=100, file=io.StringIO(), mininterval=0), Pauses()
    bar.update(10)
    with pauses.paused(bar):
        time.sleep(0.4)
    bar.update(10)
    assert bar.format_dict["elapsed"] < 0.3 and pauses.seconds >= 0.4
    assert bar.format_dict["rate"] is None or bar.format_dict["rate"] > 50

    real = Trainer.evaluate

    def slow_evaluate(self):
        time.sleep(1.0)
        return real(self)

    monkeypatch.setattr(Trainer, "evaluate", slow_evaluate)
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP),
        ["train.steps=4", "train.eval_every=2", "train.recovery_probe=false"],
    )
    capsys.readouterr()
    train(cfg, tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    minutes, seconds = re.findall(r"4/4 \[(\d\d):(\d\d)<", err)[-1]
    assert int(minutes) * 60 + int(seconds) < 2  # the two 1-second evaluations are not counted
    assert "eval=2s" in err  # but shown beside the bar


def test_no_progress_also_silences_the_bars_of_transformers(tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    from probekit.cli import main as cli

    config = write_config(tmp_path / "c.yaml", TINY_MLP)
    run = tmp_path / "run"
    common = ["train.steps=2", "train.recovery_probe=false"]
    assert cli(["train", "--config", str(config), "--run-dir", str(run), *common]) == 0
    assert "Writing model shards" in capsys.readouterr().err  # shown by default
    again = ["train", "--config", str(config), "--run-dir", str(run), "--overwrite"]
    assert cli([*again, "--no-progress", *common]) == 0
    assert cli(["probe", str(run), "--no-progress", "--sites", "embed"]) == 0
    err = capsys.readouterr().err
    assert not [w for w in ("Writing model shards", "Loading weights", "train:", "%|") if w in err]
    assert hf_logging.is_progress_bar_enabled()  # restored for whoever runs next
