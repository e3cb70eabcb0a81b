"""Every `probekit` command answers a user's mistake with one `error:` line and exit code 2,
having written nothing; `--debug` shows the traceback instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from probekit.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY_MLP = {
    "world": {"d": 6, "observation": "random_bijection", "seed": 0},
    "tasks": {"family": "walsh", "n": 8, "k": 2, "seed": 0},
    "data": {"format": "array", "n_train": 128, "n_validation": 32},
    "model": {"kind": "mlp", "hidden": 16, "n_layers": 2},
    "train": {
        "steps": 2,
        "batch_size": 16,
        "eval_every": 2,
        "checkpoint_every": 2,
        "eval_examples": 32,
        "warmup_steps": 0,
        "recovery_probe": False,
    },
}


def tree(path: Path) -> list[str]:
    """Every file and directory under `path`, relative, sorted."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def one_error(capsys) -> str:
    """The single line printed on stderr, which must be an `error:` line."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


# A config mistake, fed to every command that reads a config: (args, what the line says).
CONFIG_MISTAKES = {
    "unknown key": (["world.dd=3"], "Unknown key 'world.dd'"),
    "missing config file": (["--config", "nosuch.yaml"], "Config file not found: 'nosuch.yaml'"),
    "no tasks": (["tasks.n=0"], "TaskSpec.n must be a positive integer, got 0"),
    "m below d": (["world.d=6", "world.m=3"], "m must be an integer ≥ d=6"),
    "random_bijection d=30": (["world.d=30"], "limited to d ≤ 20, got d=30"),
    "YAML syntax": (["--config", "bad.yaml"], "bad.yaml, line 3, column 2: invalid YAML"),
}
COMMANDS = {
    "train": ["--run-dir", "run", "--no-progress"],
    "theory": ["--run-dir", "run"],
    "generate": ["--out", "data", "--quiet"],
    "fourier": [],
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current directory holding only bad.yaml (a YAML syntax error on line 3)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("world:\n  d: 6\n tasks: [\n")
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("mistake", sorted(CONFIG_MISTAKES))
def test_a_config_mistake_is_one_line_exit_2_and_nothing_written(workdir, capsys, command, mistake):
    args, says = CONFIG_MISTAKES[mistake]
    before = tree(workdir)
    assert main([command, *COMMANDS[command], *args]) == 2
    line = one_error(capsys)
    assert says in line
    assert tree(workdir) == before  # no run directory, no config.yaml, no dataset


@pytest.mark.parametrize("command", ["train", "theory"])
def test_a_negative_learning_rate_names_the_fix(workdir, capsys, command):
    assert main([command, *COMMANDS[command], "train.lr=-1"]) == 2
    line = one_error(capsys)
    assert "train.lr must be > 0, got -1.0" in line and "e.g. train.lr=0.001" in line
    assert tree(workdir) == ["bad.yaml"]


def test_debug_shows_the_traceback_anywhere_on_the_command_line(workdir):
    for argv in (["--debug", "train", "tasks.n=0"], ["train", "tasks.n=0", "--debug"]):
        with pytest.raises(ValueError, match="TaskSpec.n must be a positive integer"):
            main(argv)
    assert tree(workdir) == ["bad.yaml"]


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise TypeError("a bug, not a user's mistake")

    monkeypatch.setattr("probekit.commands.theory.run", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["theory"])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished two-step run of a tiny MLP (config file, run directory)."""
    from probekit.config import load_experiment
    from probekit.training.loop import train

    root = tmp_path_factory.mktemp("trained")
    config = root / "tiny_mlp.yaml"
    config.write_text(yaml.safe_dump(TINY_MLP))
    train(load_experiment(config), root / "run", progress=False)
    return config, root / "run"


def test_a_truncated_safetensors_file_is_named_as_damaged(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run[1], run)
    weights = run / "final" / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    before = tree(tmp_path)
    for out in ([], ["--out", str(tmp_path / "out")]):
        assert main(["probe", str(run), *out]) == 2
        line = one_error(capsys)
        assert f"{weights} is damaged" in line and "train" in line
    assert tree(tmp_path) == before  # neither RUN/probe nor --out


def test_a_missing_checkpoint_directory(tmp_path, capsys):
    assert main(["probe", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in one_error(capsys)
    assert tree(tmp_path) == []


def test_a_finished_run_is_refused_and_left_as_it_was(trained_run, capsys):
    config, run = trained_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert main(["train", "--config", str(config), "--run-dir", str(run), "--no-progress"]) == 2
    assert "already holds a finished run" in one_error(capsys)
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_a_dataset_of_another_world_is_refused_and_nothing_written(tmp_path, capsys):
    data = tmp_path / "data"
    data_cfg = {k: TINY_MLP[k] for k in ("world", "tasks", "data")}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data_cfg))
    assert main(["generate", "--config", str(tmp_path / "data.yaml"), "--out", str(data)]) == 0
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(TINY_MLP))
    capsys.readouterr()
    run = tmp_path / "run"
    base = ["train", "--config", str(tmp_path / "exp.yaml"), "--run-dir", str(run)]
    assert main([*base, f"train.data_dir={data}", "world.seed=7", "--no-progress"]) == 2
    assert "different world spec" in one_error(capsys)
    assert not run.exists()  # no config.yaml, no prediction.json: the corrected command runs
    assert main([*base, f"train.data_dir={data}", "--no-progress"]) == 0
    assert (run / "final" / "model.safetensors").exists() and (run / "prediction.json").exists()


def test_python_m_probekit_train_answers_the_same_way(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "probekit.train", "tasks.n=0", "--run-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: In 'tasks': TaskSpec.n must be a positive integer, got 0; e.g. n=64."
    ]
    assert tree(tmp_path) == []
