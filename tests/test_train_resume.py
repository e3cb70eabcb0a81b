"""Training survives kills: exact resume, a log without duplicate rows, no temporaries left
behind, and writes that reach the disk (split from test_train.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from conftest import REPO, TINY_MLP_RUN, subprocess_env, write_config
from safetensors.numpy import load_file

from probekit.config import load_experiment
from probekit.training.loop import train

TINY_MLP = TINY_MLP_RUN


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
