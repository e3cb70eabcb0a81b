"""Hub sharing over real HTTP: push, pull with from_pretrained, idempotence, failures.

The client code is the real `huggingface_hub` / `transformers` code, pointed at the
Hub-compatible server of tests/hub_server.py with `endpoint=` / `HF_ENDPOINT`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import HUB_TOKEN
from huggingface_hub import ModelCard, hf_hub_download

from probekit.commands import push as push_command
from probekit.hub import client as hub
from probekit.hub import files as hub_files
from probekit.hub import push as hub_push
from probekit.hub.model_card import build_model_card

SPEC = {
    "world": {"d": 6, "m": 6, "observation": "random_bijection", "observation_params": {},
              "latent_bias": None, "redundancy": "parity", "seed": 3},
    "tasks": {"family": "walsh", "n": 8, "k": 2, "target": "sign", "seed": 4, "params": {}},
    "data": {"n_train": 64, "n_val": 16, "format": "multitask", "seed": 5},
    "model": {"kind": "gpt2", "d_model": 16, "n_layers": 1},
    "train": {"steps": 1, "lr": 0.001},
    "seed": 0,
    "versions": {"probekit": "0.1.0"},
}  # fmt: skip
SUMMARY = {
    "metrics": {"embed.z_accuracy": 0.625, "layer.0.z_accuracy": 0.9375, "layer.0.mcc": 0.8125}
}
VOCAB = ["[PAD]", "[UNK]", "0", "1", "x", "z", "?"]


def make_run(root: Path, *, probed: bool = True) -> Path:
    """A tiny finished run: GPT-2 (hidden 16, 1 layer), WordLevel tokenizer, spec, probe files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    run, final = root / "run", root / "run" / "final"
    final.mkdir(parents=True)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(VOCAB),
        n_positions=16,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPT2Model(config).save_pretrained(final)
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]"
    ).save_pretrained(final)
    (final / "probekit_spec.json").write_text(json.dumps(SPEC, indent=2))
    (run / "config.yaml").write_text("world:\n  d: 6\n")
    if probed:
        (run / "probe").mkdir()
        (run / "probe" / "summary.json").write_text(json.dumps(SUMMARY))
        (run / "probe" / "results.jsonl").write_text('{"site": "layer.0", "acc": 0.9375}\n')
        fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
        ax.plot([0, 1], [0.625, 0.9375])
        fig.savefig(run / "probe" / "accuracy.png")
        plt.close(fig)
    return run


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path)


def push(*args) -> int:
    """Run `probekit push ARGS` through the command's own parser and runner."""
    parser = argparse.ArgumentParser(prog="probekit push")
    push_command.add_arguments(parser)
    return push_command.run(parser.parse_args([str(a) for a in args]))


def test_push_uploads_run_and_card(hub_env, run_dir, capsys):
    assert push(run_dir, "--repo-id", "tiny") == 0  # no namespace: the token's user is used
    repo_id = "probekit-user/tiny"
    assert f"model {repo_id}: pushed" in capsys.readouterr().out
    files = hub_env.repo(repo_id).commits[hub_env.repo(repo_id).branches["main"]]
    local = hub_files.collect_run_files(run_dir)
    for name in ["model.safetensors", "config.json", "tokenizer.json", "probekit_spec.json",
                 "probe/summary.json", "probe/results.jsonl", "probe/accuracy.png", "config.yaml"]:  # fmt: skip
        assert files[name] == local[name].read_bytes(), name
    card = ModelCard(files["README.md"].decode())
    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"
    assert "probekit" in card.data.tags
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == SUMMARY["metrics"]
    assert "d = 6 binary latents" in card.text and "`random_bijection`" in card.text
    assert "n = 8 proxy tasks of family `walsh`" in card.text
    assert (
        f"probekit probe {repo_id}" in card.text
        and "![accuracy.png](probe/accuracy.png)" in card.text
    )


def test_from_pretrained_loads_pushed_model_and_tokenizer(hub_env, run_dir, tmp_path):
    assert push(run_dir, "--repo-id", "me/tiny") == 0
    # constants.ENDPOINT is read when huggingface_hub is imported: load in a fresh process.
    script = textwrap.dedent(
        """
        import json, sys, torch
        from transformers import AutoModel, AutoTokenizer
        remote, local = AutoModel.from_pretrained("me/tiny"), AutoModel.from_pretrained(sys.argv[1])
        same = all(torch.equal(a, b) for a, b in zip(remote.state_dict().values(), local.state_dict().values()))
        tok = AutoTokenizer.from_pretrained("me/tiny")
        print(json.dumps({"same": same, "n": len(remote.state_dict()), "ids": tok("z 1 0 ? x")["input_ids"]}))
        """
    )
    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    out = subprocess.run([sys.executable, "-c", script, str(run_dir / "final")], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] and result["n"] > 0
    assert result["ids"] == [VOCAB.index(t) for t in "z 1 0 ? x".split()]
    downloaded = {p for m, p in hub_env.state.requests if m == "GET" and "/resolve/" in p}
    assert any(p.endswith("/model.safetensors") for p in downloaded)
    assert any(p.endswith("/tokenizer.json") for p in downloaded)
    assert not [p for _, p in hub_env.state.requests if "xet" in p or "/info/lfs" in p]


def test_resolve_checkpoint_local_and_hub(hub_env, run_dir, tmp_path):
    final = run_dir / "final"
    assert hub.resolve_checkpoint(final) == final  # a local directory is used as is
    assert hub.resolve_checkpoint(str(final)) == final
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hub.resolve_checkpoint(tmp_path / "nope" / "final")
    assert push(run_dir, "--repo-id", "me/tiny") == 0
    folder = hub.resolve_checkpoint("me/tiny", cache_dir=tmp_path / "cache")
    for name in ["model.safetensors", "config.json", "tokenizer.json", "probekit_spec.json"]:
        assert (folder / name).read_bytes() == (final / name).read_bytes()
    with pytest.raises(
        hub.HubRejectedError, match="neither an existing local directory nor a repository"
    ):
        hub.resolve_checkpoint("me/absent", cache_dir=tmp_path / "cache")


def test_repush_is_a_noop_and_changes_push_only_the_diff(hub_env, run_dir, capsys):
    assert push(run_dir, "--repo-id", "me/tiny") == 0
    repo = hub_env.repo("me/tiny")
    commits = len(repo.history)
    capsys.readouterr()
    seen = len(hub_env.state.requests)
    assert push(run_dir, "--repo-id", "me/tiny") == 0
    assert "already up to date" in capsys.readouterr().out
    assert len(repo.history) == commits
    assert not [
        p for _, p in hub_env.state.requests[seen:] if "/commit/" in p or "/preupload/" in p
    ]

    new = {"metrics": {**SUMMARY["metrics"], "layer.0.mcc": 0.875}}
    (run_dir / "probe" / "summary.json").write_text(json.dumps(new))
    (run_dir / "probe" / "accuracy.png").unlink()
    [result] = hub_push.push_run(run_dir, "me/tiny")
    assert result.uploaded == ("README.md", "probe/summary.json")  # the card shows the metrics
    assert result.deleted == ("probe/accuracy.png",)
    assert len(repo.history) == commits + 1
    files = repo.commits[repo.branches["main"]]
    assert json.loads(files["probe/summary.json"]) == new and "probe/accuracy.png" not in files


def test_push_to_a_branch(hub_env, run_dir):
    [result] = hub_push.push_run(run_dir, "me/tiny", revision="v1")
    repo = hub_env.repo("me/tiny")
    assert "model.safetensors" in repo.commits[repo.branches["v1"]]
    assert "model.safetensors" not in repo.commits[repo.branches["main"]]
    assert hub_push.push_run(run_dir, "me/tiny", revision="v1")[0].up_to_date


def test_rejected_metadata_is_reported_with_the_reason(hub_env, run_dir, capsys):
    assert push(run_dir, "--repo-id", "me/tiny", "--license", "not-a-licence") == 1
    err = capsys.readouterr().err
    assert "rejected the model card metadata" in err and '"license" must be one of' in err
    assert "Traceback" not in err
    assert len(hub_env.repo("me/tiny").history) == 1  # only the repo's initial commit


def test_offline_mode_keeps_the_run_and_says_how_to_push_later(
    hub_env, run_dir, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = list(run_dir.rglob("*"))
    assert push(run_dir, "--repo-id", "me/tiny", "--private") == 3
    err = capsys.readouterr().err
    assert "offline mode is enabled" in err and "Traceback" not in err
    assert f"saved locally at {run_dir.resolve()}" in err
    assert f"probekit push {run_dir.resolve()} --repo-id me/tiny --private" in err
    assert hub_env.state.requests == [] and list(run_dir.rglob("*")) == before


def test_unreachable_endpoint_keeps_the_run_and_says_how_to_push_later(
    run_dir, capsys, monkeypatch
):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert push(run_dir, "--repo-id", "me/tiny", "--endpoint", dead, "--token", "x") == 3
    err = capsys.readouterr().err
    assert f"the Hub at {dead} cannot be reached" in err and "Traceback" not in err
    assert f"probekit push {run_dir.resolve()} --repo-id me/tiny --endpoint {dead}" in err
    assert "--token" not in err  # the secret is never echoed


def test_private_repo_needs_the_token(hub_env, run_dir, tmp_path, monkeypatch, capsys):
    assert push(run_dir, "--repo-id", "me/secret", "--private") == 0
    assert hub_env.repo("me/secret").private
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(hub.HubRejectedError):
        hub.resolve_checkpoint("me/secret", token=False, cache_dir=tmp_path / "c1")
    folder = hub.resolve_checkpoint("me/secret", token=HUB_TOKEN, cache_dir=tmp_path / "c2")
    assert (folder / "config.json").is_file()
    assert push(run_dir, "--repo-id", "me/other", "--token", "wrong") == 1
    assert "not authorised" in capsys.readouterr().err


def test_push_with_dataset(hub_env, run_dir, tmp_path):
    import datasets
    import pyarrow.parquet as pq

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["z 1 0", "z 0 0"], "y": [1, -1]}),
                               "validation": datasets.Dataset.from_dict({"text": ["z 1 1"], "y": [1]})})  # fmt: skip
    dd.save_to_disk(str(run_dir / "dataset"))
    model, data = hub_push.push_run(run_dir, "me/tiny", with_dataset=True)
    assert (data.repo_type, data.repo_id) == ("dataset", "me/tiny-data")
    assert set(data.uploaded) == {"README.md", "data/train-00000-of-00001.parquet",
                                  "data/validation-00000-of-00001.parquet"}  # fmt: skip
    path = hf_hub_download("me/tiny-data", "data/train-00000-of-00001.parquet", repo_type="dataset",
                           endpoint=hub_env.url, cache_dir=tmp_path / "c")  # fmt: skip
    assert pq.read_table(path).to_pydict() == {"text": ["z 1 0", "z 0 0"], "y": [1, -1]}
    card = ModelCard(
        hub_env.repo("me/tiny")
        .commits[hub_env.repo("me/tiny").branches["main"]]["README.md"]
        .decode()
    )
    assert card.data.datasets == ["me/tiny-data"]
    assert all(r.up_to_date for r in hub_push.push_run(run_dir, "me/tiny", with_dataset=True))


def test_file_oids_match_the_hub_ids(tmp_path):
    import hashlib

    from hub_server import git_blob_sha1

    data = bytes(range(256)) * 5000  # > one read chunk
    (tmp_path / "f").write_bytes(data)
    expected = (git_blob_sha1(data), hashlib.sha256(data).hexdigest())
    assert hub_files.file_oids(tmp_path / "f") == hub_files.file_oids(data) == expected
    assert (
        hub_files.file_oids(b"hi")[0] == "32f95c0d1244a78b2be1bab8de17906fabb2c4a8"
    )  # `git hash-object`


def test_push_refuses_an_unfinished_run(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert push(tmp_path / "run", "--repo-id", "me/tiny") == 1
    assert "has not finished training" in capsys.readouterr().err


def test_card_without_probe_results_says_not_probed_yet(tmp_path):
    run = make_run(tmp_path, probed=False)
    card = build_model_card(run, "me/tiny")
    assert "Not probed yet" in card.text and not card.data.eval_results
    assert ModelCard(str(card)).data.license == "apache-2.0"  # the YAML header round-trips


def test_card_reads_a_probing_summary(tmp_path):
    run = make_run(tmp_path)
    summary = {
        "primary_family": "z",
        "models": {"trained": {"linear": {
            "embed": {"layer": 0, "acc_z": 0.5, "selectivity": None, "mcc": 0.25},
            "layer.1": {"layer": 1, "acc_z": 0.875, "selectivity": 0.375, "mcc": 0.75},
        }}},
        "best_layer": {"linear": {"site": "layer.1", "layer": 1, "acc_z": 0.875, "mcc": 0.75,
                                  "acc_z_per_latent": [1.0, 0.75],
                                  "controls": {"random_init": 0.5, "raw_input": None}}},
        "seed": 0, "n_examples": 16,
    }  # fmt: skip
    (run / "probe" / "summary.json").write_text(json.dumps(summary))
    card = build_model_card(run, "me/tiny")
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == {"linear.layer.1.acc_z": 0.875, "linear.layer.1.mcc": 0.75,
                   "linear.layer.1.controls.random_init": 0.5}  # fmt: skip
    assert "| `layer.1` | 0.875 | 0.375 | 0.75 |" in card.text
    assert "| `embed` | 0.5 | – | 0.25 |" in card.text


@pytest.mark.slow
def test_reprobe_after_pull_matches_local(hub_env, tmp_path):
    """Probing the pulled checkpoint gives the same summary as probing the local one."""
    probing = pytest.importorskip(
        "probekit.probing.pipeline", reason="needs probekit.probing.pipeline"
    )
    train = pytest.importorskip("probekit.train", reason="needs probekit.training.loop").train
    from probekit.config import load_experiment

    overrides = ["world.d=4", "tasks.n=4", "model.kind=mlp", "data.format=array", "model.hidden=16", "model.n_layers=1",
                 "train.steps=2", "train.eval_every=2", "train.checkpoint_every=2",
                 "train.batch_size=32", "train.eval_examples=64", "train.warmup_steps=0"]  # fmt: skip
    run = tmp_path / "run"
    train(load_experiment(None, overrides), run, progress=False)
    assert hub_push.push_run(run, "me/reprobe")[0].commit
    local = probing.probe_checkpoint(run, progress=False).summary
    pulled = probing.probe_checkpoint("me/reprobe", progress=False).summary
    local.pop("checkpoint")  # a local path; the pulled one is named as repo@commit
    assert pulled.pop("checkpoint") == f"me/reprobe@{hub_env.repo('me/reprobe').branches['main']}"
    assert pulled == local


@pytest.mark.network
def test_push_to_the_real_hub(tmp_path):
    """Opt-in: push a tiny run to the real Hub and read it back (needs HF_TOKEN and network)."""
    token = os.environ.get("HF_TOKEN")
    if not token or os.environ.get("HF_ENDPOINT") or hub.offline_mode():
        pytest.skip("needs HF_TOKEN, network and the default endpoint")
    try:
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError:
        pytest.skip("no network")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = f"{api.whoami()['name']}/probekit-hub-test-{os.getpid()}"
    run = make_run(tmp_path)
    try:
        [result] = hub_push.push_run(run, repo_id, private=True, token=token)
        assert not result.up_to_date
        assert hub_push.push_run(run, repo_id, private=True, token=token)[0].up_to_date
        folder = hub.resolve_checkpoint(repo_id, token=token, cache_dir=tmp_path / "cache")
        assert (folder / "model.safetensors").read_bytes() == (
            run / "final" / "model.safetensors"
        ).read_bytes()
    finally:
        api.delete_repo(repo_id, missing_ok=True)
