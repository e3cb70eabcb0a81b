"""`probekit generate` and `probekit fourier` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from probekit.cli import main
from synthetic.dataset import load_dataset_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = str(CONFIGS / "tiny.yaml")


def test_generate_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "data"
    rc = main(["generate", "--config", TINY, "--out", str(out), "--quiet", "data.n_train=100"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    dd, cfg, tok = load_dataset_dir(out)
    assert len(dd["train"]) == 100 and cfg.world.d == 6 and cfg.world.m == 8
    assert np.asarray(dd["train"]["input_ids"][:]).shape == (100, 8 + 2)
    assert tok.sep_token_id == 3

    # a second run without --overwrite refuses and says how to proceed
    rc = main(["generate", "--config", TINY, "--out", str(out), "--quiet", "data.seed=4"])
    err = capsys.readouterr().err
    assert rc == 2 and "--overwrite" in err
    assert load_dataset_dir(out)[1].data.seed == 0
    rc = main(
        ["generate", "--config", TINY, "--out", str(out), "--quiet", "--overwrite", "data.seed=4"]
    )
    assert rc == 0 and load_dataset_dir(out)[1].data.seed == 4


def test_generate_accepts_experiment_sections(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(Path(TINY).read_text() + "model:\n  kind: gpt2\ntrain:\n  steps: 10\n")
    assert main(["generate", "--config", str(cfg), "--out", str(tmp_path / "d"), "--quiet"]) == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.shuffle=true"], "Unknown key 'data.shuffle'"),
        (["world.m=3"], "m must be an integer ≥ d=6"),
        (["data.format=lstm"], "Unknown sequence format 'lstm'"),
        (["data.format=qa", "tasks.target=real"], "needs tasks.target=sign"),
        (["colour=red"], "Unknown key 'colour'"),
    ],
)
def test_generate_bad_input_fails_before_writing(tmp_path, capsys, overrides, message):
    out = tmp_path / "data"
    rc = main(["generate", "--config", TINY, "--out", str(out), "--quiet", *overrides])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1  # one clear line, no traceback
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_generate_without_a_config_uses_the_same_defaults_as_train(tmp_path):
    from probekit.config import load_experiment

    assert main(["generate", "--out", str(tmp_path / "d"), "--quiet", "tasks.n=3"]) == 0
    _, cfg, _ = load_dataset_dir(tmp_path / "d")
    defaults = load_experiment(None, ["tasks.n=3"])  # what `probekit train` would use
    for section in ("world", "tasks", "data"):
        assert getattr(cfg, section).to_dict() == getattr(defaults, section).to_dict()


def test_fourier_identity_world_saves_nothing(capsys):
    rc = main(
        [
            "fourier",
            "--world",
            str(CONFIGS / "worlds" / "d10_identity.yaml"),
            "--tasks",
            str(CONFIGS / "tasks" / "walsh_k2.yaml"),
            "tasks.n=5",
            "world.d=6",
            "--json",
        ]
    )
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["d"] == 6 and rep["n_tasks"] == 5 and rep["d_squared"] == 36
    # with x = z every task has the same degree in x as in z
    assert all(t["degree_x"] == t["degree_z"] for t in rep["tasks"])
    assert rep["total_saving"] == 0
    for t in rep["tasks"]:  # level weights of a ±1 function sum to E[f²] = 1
        assert sum(t["level_weights_z"]) == pytest.approx(1.0)


def test_fourier_table(capsys):
    assert main(["fourier", "--config", TINY]) == 0
    text = capsys.readouterr().out
    assert "deg z" in text and "deg x" in text and "d^2 = 36" in text
    rows = [ln for ln in text.splitlines() if ln.strip()[:1].isdigit()]
    assert len(rows) == 8  # one per task


def test_fourier_bad_world(capsys):
    assert main(["fourier", "--config", TINY, "world.observation=spiral"]) == 2
    assert "Unknown observation map 'spiral'" in capsys.readouterr().err
