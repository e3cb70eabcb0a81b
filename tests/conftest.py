"""Shared fixtures: a Hub-compatible server on 127.0.0.1 (see tests/hub_server.py), and
one torch thread for the suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import hub_server`

from hub_server import HubServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HUB_TOKEN = "hf_probekit_test_token"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Test models are tiny: a thread pool costs more in synchronisation than it saves,
    and on a busy 2-core machine it stalls (a probe solve went from 1 s to 20 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hub_server():
    """A fresh in-memory Hub that requires `HUB_TOKEN` for writes and private reads."""
    with HubServer(token=HUB_TOKEN) as server:
        yield server


@pytest.fixture
def hub_env(hub_server, monkeypatch, tmp_path):
    """Point the environment at `hub_server` (endpoint, token, an empty cache) and return it."""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return hub_server


# The smallest experiment a sweep can train and probe in a second: the base of the sweep,
# cluster and tracking tests (each derives its variant with `tiny_experiment(...)`).
TINY_EXPERIMENT = {
    "world": {"d": 5, "observation": "random_bijection", "seed": 0},
    "tasks": {"family": "walsh", "n": 4, "k": 2, "target": "sign", "seed": 0},
    "data": {"format": "array", "seed": 0},
    "model": {"kind": "mlp", "hidden": 16, "n_layers": 2},
    "train": {
        "steps": 12,
        "batch_size": 32,
        "warmup_steps": 2,
        "eval_every": 6,
        "eval_examples": 64,
        "checkpoint_every": 6,
        "seed": 0,
    },
    "probe": {"controls": ["random_init", "alt_basis"], "z_pairs": False, "cv": 2},
}


def tiny_experiment(train: dict | None = None, **sections) -> dict:
    """TINY_EXPERIMENT with `train` keys changed and whole sections replaced (None drops one)."""
    out = {**TINY_EXPERIMENT, "train": {**TINY_EXPERIMENT["train"], **(train or {})}}
    for name, value in sections.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# A tiny MLP run that trains in a few seconds and checkpoints every 10 steps: the base of
# the training and emergence tests.
TINY_MLP_RUN = {
    "world": {"d": 6, "observation": "random_bijection", "seed": 0},
    "tasks": {"family": "walsh", "n": 16, "k": 2, "seed": 0},
    "data": {"format": "array", "n_train": 256, "n_validation": 64},
    "model": {"kind": "mlp", "hidden": 32, "n_layers": 2},
    "train": {
        "steps": 40,
        "batch_size": 32,
        "eval_every": 20,
        "checkpoint_every": 10,
        "eval_examples": 128,
        "warmup_steps": 2,
        "keep_checkpoints": 2,
    },
}


def tiny_task_model(model_cfg, tokenizer):
    """A randomly initialised task-head model for a d = 5 world with 4 tasks (7 tokens)."""
    from probekit.models.factory import build_model

    return build_model(
        model_cfg,
        vocab_size=len(tokenizer),
        n_tasks=4,
        seq_len=7,
        m=5,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
        seed=1,
    )


def subprocess_env() -> dict[str, str]:
    """The environment of a probekit process a test starts: this checkout first, offline."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"  # same thread count in every process: same floats
    env["HF_HUB_OFFLINE"] = "1"
    return env


def write_config(path, data: dict):
    """`data` as a YAML experiment file at `path` (returned)."""
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path
