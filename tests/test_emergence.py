"""Emergence over training: weights-only snapshots, probing a saved step, `probe --steps`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import TINY_MLP_RUN
from safetensors.numpy import load_file

from probekit.cli import main
from probekit.config import ExperimentConfig
from probekit.probing.emergence import emergence_steps, parse_steps, probe_steps
from probekit.probing.intervals import wilson_interval
from probekit.probing.pipeline import probe_checkpoint
from probekit.training.loop import train
from probekit.training.snapshots import is_training_checkpoint, saved_steps

TINY = {
    **TINY_MLP_RUN,
    "train": {**TINY_MLP_RUN["train"], "eval_every": 10, "save_model_every": 10},
    "probe": {"controls": ["random_init", "input"], "z_pairs": False},
}


def _config(observation="random_bijection", **train):
    data = json.loads(json.dumps(TINY))  # a deep copy
    data["train"].update(train)
    data["world"]["observation"] = observation
    return ExperimentConfig.from_dict(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("emergence") / "run"
    train(_config(), path, progress=False)
    return path


# -- the estimator ------------------------------------------------------------------------


def _bernoulli(rng, steps, n, p_of_step):
    """correct (S, n, k): input i right on target j at step s with probability p_of_step(s)[j]."""
    return np.stack([rng.random((n, len(p_of_step(s)))) < p_of_step(s) for s in steps])


def test_a_synthetic_curve_gives_back_its_emergence_steps():
    steps = list(range(0, 1100, 100))

    def p(s):  # z0 from 400 on; z1 never; z2 at 200..600 then gone again; z3 at the last step
        return np.array([0.95 if s >= 400 else 0.5, 0.5, 0.95 if 200 <= s < 700 else 0.5,
                         0.95 if s == 1000 else 0.5])  # fmt: skip

    correct = _bernoulli(np.random.default_rng(0), steps, 400, p)
    found = emergence_steps(correct, steps, 0.6, rng=np.random.default_rng(1), n_resamples=500)
    assert found[0]["step"] == 400 and found[0]["lo"] == 400 and found[0]["hi"] == 400
    assert found[0]["p_emerged"] == 1.0
    assert found[1]["step"] is None and found[1]["p_emerged"] < 0.05
    assert found[2]["step"] is None  # present, then gone: it has not emerged for good
    assert found[3]["step"] == 1000


def test_the_interval_widens_when_the_rise_is_near_the_threshold():
    steps = list(range(0, 1000, 100))
    # z0 climbs slowly through the threshold; its step is uncertain, unlike a jump's.
    correct = _bernoulli(np.random.default_rng(2), steps, 200, lambda s: np.array([0.5 + s / 2000]))
    (e,) = emergence_steps(correct, steps, 0.6, rng=np.random.default_rng(3), n_resamples=500)
    assert e["lo"] <= e["step"] <= e["hi"] and e["hi"] - e["lo"] >= 200
    # The point estimate is the definition applied to the data: Wilson lower bounds above 0.6
    # at that step and every later one, not at the step before.
    lo, _ = wilson_interval(correct.sum(axis=1)[:, 0], 200)
    i = steps.index(e["step"])
    assert (lo[i:] > 0.6).all() and not lo[i - 1] > 0.6


def test_parse_steps():
    assert parse_steps("all", [40, 0, 20]) == [0, 20, 40]
    assert parse_steps("40, 0", [0, 20, 40]) == [0, 40]
    with pytest.raises(ValueError, match="Saved steps: 0, 20, 40"):
        parse_steps("30", [0, 20, 40])
    with pytest.raises(ValueError, match="comma list"):
        parse_steps("first", [0])
    with pytest.raises(ValueError, match="save_model_every"):
        parse_steps("all", [])


def test_save_model_every_must_be_positive():
    with pytest.raises(ValueError, match="train.save_model_every must be > 0"):
        _config(save_model_every=0)


# -- snapshots and resume -----------------------------------------------------------------


def test_snapshots_keep_weights_only_and_do_not_change_training(run, tmp_path):
    snaps = sorted(p.name for p in (run / "snapshots").iterdir())
    assert snaps == [f"step-{s:08d}" for s in (0, 10, 20, 30)]  # step 40 is final/
    for name in snaps:
        files = {p.name for p in (run / "snapshots" / name).iterdir()}
        assert {"model.safetensors", "config.json", "probekit_spec.json"} <= files
        assert not any(f.startswith(("optimizer", "scheduler", "random_states")) for f in files)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000020",
        "step-00000030",
    ]
    spec = json.loads((run / "snapshots" / "step-00000020" / "probekit_spec.json").read_text())
    assert spec["steps"] == 20 and spec["final_metrics"]["step"] == 20
    assert list(saved_steps(run)) == [0, 10, 20, 30, 40]
    # The same run without snapshots ends with the same weights.
    plain = tmp_path / "plain"
    train(_config(save_model_every=None), plain, progress=False)
    a, b = (
        load_file(str(run / "final/model.safetensors")),
        load_file(str(plain / "final/model.safetensors")),
    )
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_a_resumed_run_writes_the_same_snapshots(run, tmp_path):
    # A run killed after its step-20 checkpoint: its later state is gone, then it resumes.
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    for gone in ("final", "checkpoints/step-00000030", "snapshots/step-00000030"):
        shutil.rmtree(resumed / gone)
    first = resumed / "snapshots" / "step-00000000" / "model.safetensors"
    written = first.stat().st_mtime_ns
    train(_config(), resumed, progress=False)
    assert first.stat().st_mtime_ns == written  # resumed at step 20, not started over
    for name in ("snapshots/step-00000030", "final"):
        a = load_file(str(run / name / "model.safetensors"))
        b = load_file(str(resumed / name / "model.safetensors"))
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert (run / "metrics.jsonl").read_text() == (resumed / "metrics.jsonl").read_text()


# -- probing a saved step -----------------------------------------------------------------


def test_an_accelerate_checkpoint_is_probed_like_the_snapshot_of_its_step(run, tmp_path, capsys):
    checkpoint = run / "checkpoints" / "step-00000030"
    assert is_training_checkpoint(checkpoint) and not (checkpoint / "config.json").exists()
    a = probe_checkpoint(checkpoint, progress=False)
    b = probe_checkpoint(run / "snapshots" / "step-00000030", progress=False)
    assert a.rows == b.rows
    assert a.summary["task_metrics"]["step"] == 30  # the evaluation logged at that step
    # On the command line, with the default output beside the run's other saved steps.
    assert main(["probe", str(checkpoint), "--no-progress"]) == 0
    assert (run / "emergence" / "step-00000030" / "summary.json").exists()
    # A directory that is no checkpoint at all is still refused, naming what to pass.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["probe", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "RUN/checkpoints/step-N" in capsys.readouterr().err


def test_a_checkpoint_outside_its_run_is_refused(run, tmp_path, capsys):
    lone = tmp_path / "lone" / "step-00000030"
    shutil.copytree(run / "checkpoints" / "step-00000030", lone)
    assert main(["probe", str(lone), "--out", str(tmp_path / "o")]) == 2
    assert "config.yaml" in capsys.readouterr().err


# -- every saved step ---------------------------------------------------------------------


def test_probe_steps_end_to_end_on_a_world_whose_input_is_z(tmp_path, capsys):
    path = tmp_path / "identity"
    train(_config("identity", steps=20), path, progress=False)
    out = tmp_path / "steps"
    assert main(["probe", str(path), "--steps", "all", "--out", str(out), "--no-progress",
                 "--json"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["steps"] == [0, 10, 20]
    result = json.loads((out / "emergence.json").read_text())
    assert (out / "emergence.png").stat().st_size > 0
    assert set(result["scopes"]) == {"unseen", "seen"} and result["headline_scope"] == "unseen"
    for scope, entry in result["scopes"].items():
        # x is z: at `embed` every latent is read perfectly from the very first step.
        embed = entry["sites"]["embed"]
        assert embed["acc_z"] == [1.0, 1.0, 1.0]
        assert [(e["step"], e["lo"], e["hi"]) for e in embed["emergence"]] == [(0, 0, 0)] * 6
        # The curve is the per-step summaries, read back.
        for i, step in enumerate(result["steps"]):
            summary = json.loads((out / f"step-{step:08d}" / "summary.json").read_text())
            summary = summary if summary["scope"] == scope else summary["seen"]
            for site, curve in entry["sites"].items():
                assert curve["acc_z"][i] == summary["models"]["trained"]["linear"][site]["acc_z"]
    assert main(["probe", str(path), "--steps", "5", "--out", str(out)]) == 2
    assert "Saved steps: 0, 10, 20" in capsys.readouterr().err


def test_a_latent_the_train_region_fixes_is_left_out_of_the_emergence(tmp_path):
    path = tmp_path / "region"
    data = json.loads(json.dumps(TINY))
    data["train"].update(steps=10)
    data["data"]["train_region"] = {"kind": "latent_fixed", "latent": 0, "value": 1}
    train(ExperimentConfig.from_dict(data), path, progress=False)
    result = probe_steps(path, "all", progress=False)
    assert result["steps"] == [0, 10] and result["latents"] == ["z1", "z2", "z3", "z4", "z5"]
    for entry in result["scopes"].values():
        for curve in entry["sites"].values():
            assert [e["latent"] for e in curve["emergence"]] == result["latents"]
            assert len(curve["acc_z_per_latent"][0]) == 5
