"""The model card of a pushed run, rendered, parsed, and every command in it run against the
local Hub; what a pull downloads, what a push uploads, and what a re-probe records."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import HUB_TOKEN
from huggingface_hub import hf_hub_download

from probekit.cli import main
from probekit.config import load_experiment
from probekit.hub.push import push_run
from probekit.models.checkpoints import load_checkpoint

SOURCE = "https://example.org/lab/probekit"
TINY = ["world.d=4", "tasks.n=4", "model.kind=mlp", "data.format=array", "model.hidden=16",
        "model.n_layers=1", "train.steps=2", "train.eval_every=2", "train.checkpoint_every=2",
        "train.batch_size=32", "train.eval_examples=64", "train.warmup_steps=0",
        "probe.cv=2", "probe.z_pairs=false"]  # fmt: skip


def _trained_run(root):
    from probekit.theory.predictions import write_prediction
    from probekit.train import train

    cfg = load_experiment(None, TINY)
    run = root / "run"
    train(cfg, run, progress=False, before_write=lambda: write_prediction(run, cfg))
    assert main(["probe", str(run), "--no-progress"]) == 0  # writes run/probe and run/probe/cache
    assert (run / "probe" / "cache").is_dir()
    return run


def _commands(card: str) -> list[str]:
    """Every command line of the card's bash blocks (comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", card, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.slow
def test_every_command_of_a_pushed_run_s_card_runs(hub_env, tmp_path, monkeypatch, capsys):
    run = _trained_run(tmp_path)
    [result] = push_run(run, "me/tiny", source_url=SOURCE)
    repo = hub_env.repo("me/tiny")
    pushed = repo.commits[repo.branches["main"]]
    assert "probe/summary.json" in pushed and "prediction.json" in pushed
    assert not [p for p in pushed if p.startswith("probe/cache")]  # the cache stays local
    card = pushed["README.md"].decode()

    # What a stranger needs, said in the card.
    commands = _commands(card)
    assert commands[0] == f'pip install "git+{SOURCE}"' and "pip install probekit" not in card
    for heading in ("## Architecture and training", "## Task accuracy", "## Prediction and verdict",
                    "## Limitations", "## Citation", "## Reproduce it"):  # fmt: skip
        assert heading in card
    assert "| `lr` |" in card and "parameters" in card  # hyperparameters, size
    assert "on inputs held out of training (`eval_acc_heldout`)" in card
    assert re.search(r"probe accuracy of z \[95% CI\] \| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", card)
    assert "Verdict: **" in card and "expected recovery of z = **" in card
    assert "identification error of units (lower is better" in card
    assert "Zhang, T. and Chen, G. and Chen, F." in card and "ICML" in card

    # Run every command as written, in an empty directory (the install line excepted: it would
    # need the network; it is checked above to install this toolkit from source).
    work = tmp_path / "stranger"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {**os.environ, "HF_ENDPOINT": hub_env.url, "HF_TOKEN": HUB_TOKEN}
    ran = []
    for line in commands:
        argv = shlex.split(line, comments=True)
        if argv[0] == "pip":
            continue
        if argv[0] == "probekit":
            assert main(argv[1:]) == 0, (line, capsys.readouterr().err)
        else:
            assert argv[0] == "hf", line
            hf = [sys.executable, "-m", "huggingface_hub.cli.hf", *argv[1:]]
            done = subprocess.run(hf, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (line, done.stderr)
        ran.append(argv[:2])
    assert ran == [["probekit", "probe"], ["hf", "download"], ["hf", "download"],
                   ["probekit", "train"], ["probekit", "probe"]]  # fmt: skip

    # The re-probe of the pulled checkpoint reproduces the published numbers, and says what it
    # probed as repo@commit rather than a cache path.
    reprobed = json.loads((work / "reprobe" / "summary.json").read_text())
    published = json.loads((work / "published" / "probe" / "summary.json").read_text())
    assert reprobed.pop("checkpoint") == f"me/tiny@{result.commit}"
    published.pop("checkpoint")
    assert reprobed == published
    # Retraining from the uploaded config gives the same weights and the same probe numbers.
    again = work / "retrain" / "run"
    assert (again / "final" / "model.safetensors").read_bytes() == (
        run / "final" / "model.safetensors"
    ).read_bytes()
    retrained = json.loads((again / "probe" / "summary.json").read_text())
    assert retrained["best_layer"] == published["best_layer"]


def test_a_pull_downloads_only_what_a_probe_reads(hub_env, tmp_path):
    from test_hub import make_run

    run = make_run(tmp_path)
    (run / "final" / "onnx").mkdir()
    (run / "final" / "onnx" / "model.onnx").write_bytes(b"\0" * 64)
    (run / "final" / "tf_model.h5").write_bytes(b"\0" * 64)
    (run / "final" / "pytorch_model.bin").write_bytes(b"\0" * 64)  # never unpickled
    (run / "probe" / "cache" / "abc").mkdir(parents=True)
    (run / "probe" / "cache" / "abc" / "embed.npy").write_bytes(b"\0" * 64)
    push_run(run, "me/pull")
    repo = hub_env.repo("me/pull")
    remote = set(repo.commits[repo.branches["main"]])
    assert "probe/cache/abc/embed.npy" not in remote and "tf_model.h5" in remote
    ckpt = load_checkpoint("me/pull", progress=False)
    got = {p.relative_to(ckpt.path).as_posix() for p in ckpt.path.rglob("*") if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "probekit_spec.json"} <= got
    assert not got & {"onnx/model.onnx", "tf_model.h5", "pytorch_model.bin", "README.md"}
    assert not [p for p in got if p.startswith("probe/")]
    fetched = {
        path for method, path in hub_env.state.requests if method == "GET" and "/resolve/" in path
    }
    assert not [p for p in fetched if p.endswith((".onnx", ".h5", ".bin"))]
    assert ckpt.source == f"me/pull@{ckpt.path.name}"
    assert ckpt.path.name == hub_env.repo("me/pull").branches["main"]  # the commit pulled
    assert hf_hub_download(
        "me/pull", "tf_model.h5", endpoint=hub_env.url
    )  # still there for who wants it
