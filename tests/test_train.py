"""The training loop: run directory, checkpoints, exact resume after a kill, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_MLP_RUN
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


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")  # same thread count in every process: same floats
    env["HF_HUB_OFFLINE"] = "1"
    return env


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


def _run_to_the_end(config: Path, run_dir: Path) -> None:
    """An uninterrupted `python -m probekit.train` run: the reference a killed run must match."""
    reference = _launch(["--config", str(config)], run_dir)
    _, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err.decode()[-2000:]


def _launch(args: list[str], run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "probekit.train", *args, "--run-dir", str(run_dir), "--no-progress"],
        env=subprocess_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_killed_run_resumes_to_identical_result(tmp_path):
    config = dict(TINY_MLP)
    config["train"] = {
        **TINY_MLP["train"],
        "steps": 3000,
        "eval_every": 1000,
        "checkpoint_every": 50,
    }
    path = write_config(tmp_path / "c.yaml", config)

    _run_to_the_end(path, tmp_path / "reference")

    interrupted = tmp_path / "interrupted"
    proc = _launch(["--config", str(path)], interrupted)
    deadline = time.time() + 300
    while not list((interrupted / "checkpoints").glob("step-*")) and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (interrupted / "final").exists(), "the run finished before it could be killed"
    assert list((interrupted / "checkpoints").glob("step-*"))

    resumed = _launch(["--config", str(path)], interrupted)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()[-2000:]

    spec_a = json.loads((tmp_path / "reference" / "final" / "probekit_spec.json").read_text())
    spec_b = json.loads((interrupted / "final" / "probekit_spec.json").read_text())
    assert spec_b["steps"] == spec_a["steps"] == 3000
    assert spec_b["final_metrics"] == spec_a["final_metrics"]
    rows_a = (tmp_path / "reference" / "metrics.jsonl").read_text()
    rows_b = (interrupted / "metrics.jsonl").read_text()
    assert rows_a == rows_b
    a = load_file(str(tmp_path / "reference" / "final" / "model.safetensors"))
    b = load_file(str(interrupted / "final" / "model.safetensors"))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


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


def test_a_run_killed_before_its_first_checkpoint_logs_each_step_once(tmp_path):
    config = dict(TINY_MLP)
    config["train"] = {**TINY_MLP["train"], "steps": 600, "eval_every": 25}
    config["train"]["checkpoint_every"] = 1000  # never: the resume starts from step 0
    path = write_config(tmp_path / "c.yaml", config)

    _run_to_the_end(path, tmp_path / "reference")

    interrupted = tmp_path / "interrupted"
    proc = _launch(["--config", str(path)], interrupted)
    metrics, deadline = interrupted / "metrics.jsonl", time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (interrupted / "final").exists(), "the run finished before it could be killed"
    assert not list((interrupted / "checkpoints").glob("step-*"))
    killed_rows = metrics.read_text().count("\n")
    assert killed_rows >= 2

    resumed = _launch(["--config", str(path)], interrupted)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err.decode()[-2000:]
    rows = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert rows == list(range(25, 601, 25))  # no step twice
    assert metrics.read_text() == (tmp_path / "reference" / "metrics.jsonl").read_text()


def test_no_resume_starts_the_log_over(tmp_path):
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP),
        ["train.steps=4", "train.eval_every=2", "train.recovery_probe=false"],
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    (run / "metrics.jsonl").write_text('{"step": 2, "eval_loss": 9}\n{"step": 4}\n')
    train(cfg, run, resume=False, progress=False)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and rows[0]["eval_loss"] != 9  # the old rows went


def test_temporaries_a_kill_left_are_removed_on_the_next_start(tmp_path):
    cfg = load_experiment(
        write_config(tmp_path / "c.yaml", TINY_MLP), ["train.steps=2", "train.recovery_probe=false"]
    )
    run = tmp_path / "run"
    leftovers = [
        run / ".final.tmp-12345" / "model.safetensors",  # killed during the final save
        run / ".final.old-12345" / "config.json",
        run / ".metrics.jsonl.tmp-12345",
        run / ".prediction.json.tmp-12345",
        run / "checkpoints" / ".tmp-step-00000010" / "model.safetensors",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    (run / "notes.txt").write_text("mine")  # not ours: kept
    train(cfg, run, progress=False)
    names = sorted(p.name for p in run.iterdir())
    assert not [n for n in names if ".tmp-" in n or ".old-" in n], names
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert (run / "notes.txt").read_text() == "mine" and (run / "final").is_dir()


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    import stat

    from probekit.training.run_dir import RunDir
    from synthetic.config import write_atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomic(tmp_path / "a.json", "{}")
    assert events == [("fsync", "file"), ("rename", "a.json"), ("fsync", "dir")]
    assert not [p for p in tmp_path.iterdir() if p.name != "a.json"]

    events.clear()
    run = RunDir(tmp_path / "run")
    run.path.mkdir()

    def write(tmp):
        (tmp / "model.safetensors").write_bytes(b"weights")

    run.write_final(write)
    rename = events.index(("rename", "final"))
    assert ("fsync", "file") in events[:rename] and ("fsync", "dir") in events[:rename]
    assert events[rename + 1 :] == [("fsync", "dir")]
    assert (run.final / "model.safetensors").read_bytes() == b"weights"


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
