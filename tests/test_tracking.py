"""Experiment tracking: `train.log_with`, sweep tags, TensorBoard end to end without network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import tiny_experiment

from probekit.cli import main as cli_main
from probekit.config import load_experiment
from probekit.sweeps.runner import load_sweep, run_sweep
from probekit.training.loop import train
from probekit.training.tracking import flat_config, tracker_setup

TINY = tiny_experiment(
    train={"steps": 8, "eval_every": 4, "checkpoint_every": 4, "recovery_probe": False},
    probe=None,
)


def test_log_with_takes_names_lists_and_none_and_refuses_unknown_trackers():
    assert load_experiment(None).train.log_with is None
    assert "log_with" not in load_experiment(None).to_dict()["train"]  # old specs unchanged
    cfg = load_experiment(None, ["train.log_with=tensorboard,mlflow"])
    assert cfg.train.log_with == ("tensorboard", "mlflow")
    assert cfg.to_dict()["train"]["log_with"] == ["tensorboard", "mlflow"]
    assert load_experiment(None, ["train.log_with=[wandb]"]).train.log_with == ("wandb",)
    assert load_experiment(None, ["train.log_with=none"]).train.log_with == ()
    with pytest.raises(ValueError, match="'tensorbord' is not a tracker accelerate knows"):
        load_experiment(None, ["train.log_with=tensorbord"])


def test_a_tracker_that_is_not_installed_is_refused_before_anything_is_written(tmp_path):
    from accelerate.tracking import get_available_trackers

    available = {str(t) for t in get_available_trackers()}
    missing = next((t for t in ("swanlab", "clearml", "aim", "wandb") if t not in available), None)
    if missing is None:
        pytest.skip("every candidate tracker is installed here")
    cfg = load_experiment(None, [f"train.log_with={missing}"])
    with pytest.raises(ValueError, match=f"pip install {missing}"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    assert cli_main(["train", "--run-dir", str(tmp_path / "r"), f"train.log_with={missing}"]) == 2


def test_tracker_setup_names_the_run_and_flattens_the_config_and_tags(tmp_path):
    setup = tracker_setup(
        ("tensorboard",),
        tmp_path / "p",
        {"tasks": {"n": 4, "params": {}}, "train": {"betas": [0.9, 0.99], "data_dir": None}},
        {"sweep": "tiny", "point": "tasks.n=4__seed-1", "tasks.n": 4, "seed": 1},
    )
    assert setup.trackers == ["tensorboard"] and setup.project == "tiny"
    assert setup.config == {
        "run": "tasks.n=4__seed-1",
        "tasks.n": 4,
        "tasks.params": "{}",
        "train.betas": "[0.9, 0.99]",
        "train.data_dir": "null",
        "sweep.name": "tiny",
        "sweep.point": "tasks.n=4__seed-1",
        "sweep.tasks.n": 4,
        "sweep.seed": 1,
    }
    assert setup.init_kwargs == {}  # TensorBoard takes its names from the project and config
    assert flat_config({"a": {"b": {"c": True}}}) == {"a.b.c": True}


def test_sweep_runs_log_to_tensorboard_tagged_with_their_point(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    sweep = {
        "name": "tiny",
        "base": "base.yaml",
        "overrides": {"train.log_with": "tensorboard"},
        "grid": {"tasks.n": [2, 4]},
        "seeds": [0],
        "probe": False,
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    spec = load_sweep(tmp_path / "s.yaml")
    result = run_sweep(spec, tmp_path / "out", progress=False, figure=False)
    assert not result.failures
    losses = {}
    for n in (2, 4):
        point = f"tasks.n={n}__seed-0"
        logs = tmp_path / "out" / point / "tracking" / "tiny"
        events = EventAccumulator(str(logs))
        events.Reload()
        scalars = events.Scalars("eval_loss")
        assert [e.step for e in scalars] == [4, 8]
        metrics = (tmp_path / "out" / point / "metrics.jsonl").read_text().splitlines()
        assert scalars[-1].value == pytest.approx(yaml.safe_load(metrics[-1])["eval_loss"])
        losses[n] = scalars[-1].value
        (hparams,) = logs.glob("*/hparams.yml")
        tags = yaml.safe_load(hparams.read_text())
        assert tags["sweep.point"] == point and tags["sweep.tasks.n"] == n
        assert tags["sweep.seed"] == 0 and tags["tasks.n"] == n and tags["sweep.name"] == "tiny"
    assert losses[2] != losses[4]  # each point logged its own run


def test_a_run_resumes_with_another_tracker(tmp_path):
    cfg = load_experiment(None, [f"{k}={v}" for k, v in _flat_train(steps=8)])
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # stop after the first checkpoint
        _train_until_checkpoint(cfg, run)
    other = load_experiment(
        None, [*(f"{k}={v}" for k, v in _flat_train(steps=8)), "train.log_with=none"]
    )
    result = train(other, run, progress=False)  # the same run: not refused as another config
    assert result.steps == 8
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["log_with"] == []


def _flat_train(**train):
    data = {**TINY, "train": {**TINY["train"], **train}}
    return [(f"{section}.{k}", v) for section, body in data.items() for k, v in body.items()]


def _train_until_checkpoint(cfg, run: Path):
    from probekit.training.loop import Trainer

    trainer = Trainer(cfg, run, progress=False)
    original = trainer.save_checkpoint

    def stop():
        original()
        raise KeyboardInterrupt

    trainer.save_checkpoint = stop
    trainer.resume()
    trainer.fit()


def test_print_commands_tag_each_run_and_bad_tags_are_refused(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump({"name": "tiny", "base": "base.yaml", "grid": {"tasks.n": [2]}})
    )
    assert cli_main(["sweep", "--config", str(tmp_path / "s.yaml"), "--print-commands"]) == 0
    line = capsys.readouterr().out.strip()
    assert "--tag sweep=tiny --tag point=tasks.n=2 --tag tasks.n=2 " in line
    assert cli_main(["train", "--run-dir", str(tmp_path / "r"), "--tag", "novalue"]) == 2
    assert "--tag 'novalue' must look like key=value" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
