"""`probekit intervene` end to end on tiny trained runs."""

import json

import pytest

from probekit.cli import main
from probekit.config import load_experiment
from probekit.training.loop import train

TINY = ["world.d=5", "tasks.n=6", "train.eval_every=100", "train.checkpoint_every=1000"]
TINY += ["probe.cv=2", "data.holdout_fraction=0.25"]


def _run(tmp_path, overrides, name="run"):
    cfg = load_experiment(None, [*TINY, *overrides])
    train(cfg, tmp_path / name, progress=False)
    return tmp_path / name


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlp")
    return _run(
        tmp,
        ["model.kind=mlp", "data.format=array", "model.hidden=32"]
        + ["model.n_layers=2", "train.steps=200"],
    )


def test_a_trained_mlp_run(mlp_run, capsys):
    assert main(["intervene", str(mlp_run), "--no-progress", "--scales", "1,2"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("intervened on ") and "interchange" in printed
    out = mlp_run / "intervene"  # the default for a run directory
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["sites"]) == ["embed", "layer.1", "layer.2"]
    for entry in summary["sites"].values():
        assert 0.0 <= entry["acc_z"] <= 1.0 and 0.0 <= entry["causal_acc"] <= 1.0
        lo, hi = entry["causal_acc_ci"]
        assert lo <= entry["causal_acc"] <= hi
        assert entry["scale"] in (1.0, 2.0)
    assert summary["scopes"] == ["unseen", "seen"] and summary["scope"] == "unseen"
    assert set(summary["models"]) == {"trained", "random_init"}
    assert set(summary["random_init"]) == set(summary["sites"])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    kinds = {r["intervention"] for r in rows}
    assert kinds == {
        "none",
        "steer",
        "interchange",
        "random_direction",
        "erase",
        "probe",
        "steer_sweep",
    }
    assert {r["split"] for r in rows} == {"val_unseen", "test_unseen", "val_seen", "test_seen"}
    assert (out / "causal_vs_probe.png").read_bytes()[:4] == b"\x89PNG"
    assert set(summary["sites_seen"]) == set(summary["sites"])
    # The run's report gains the causal section.
    assert main(["report", str(mlp_run)]) == 0
    text = (mlp_run / "report" / "report.md").read_text()
    assert "Causal tests (\\`probekit intervene\\`" in text and "random init: steer" in text


def test_mistakes_are_one_error_line(mlp_run, tmp_path, capsys):
    base = ["intervene", str(mlp_run), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main([*base, "--sites", "layer.9"]) == 2
    assert "embed, layer.1, layer.2" in capsys.readouterr().err
    assert main([*base, "--positions", "x"]) == 2
    assert "the MLP has no tokens" in capsys.readouterr().err
    assert main([*base, "--latents", "7"]) == 2
    assert "choose among [0, 1, 2, 3, 4]" in capsys.readouterr().err
    assert main([*base, "--scales", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_trained_gpt2_run_at_the_readout_and_the_x_tokens(tmp_path):
    run = _run(
        tmp_path,
        ["model.kind=gpt2", "data.format=multitask", "model.hidden=16"]
        + ["model.n_layers=2", "model.n_heads=2", "train.steps=60"],
    )
    out = tmp_path / "iv"
    args = ["intervene", str(run), "--out", str(out), "--no-progress", "--json"]
    assert main([*args, "--scales", "2", "--latents", "0,1", "--no-random-init"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["positions"] == ["readout", "x"]
    trained = summary["models"]["trained"]
    assert list(trained["readout"]["seen"]) == ["embed", "layer.1", "layer.2"]
    assert list(trained["x"]["seen"]) == ["embed", "layer.1", "layer.2"]
    assert summary["latents"] == [0, 1] and "random_init" not in summary["models"]


def test_a_next_token_run_is_refused(tmp_path, capsys):
    cfg = load_experiment(
        None,
        [*TINY, "model.kind=gpt2-lm", "data.format=qa"]
        + ["model.hidden=16", "model.n_layers=1", "model.n_heads=2"]
        + ["train.steps=2", "data.queries_per_sequence=2"],
    )
    train(cfg, tmp_path / "lm", progress=False)
    assert main(["intervene", str(tmp_path / "lm"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Next-token checkpoints (gpt2-lm, llama-lm, bert-mlm) are not supported" in err
