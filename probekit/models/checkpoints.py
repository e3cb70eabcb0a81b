"""Checkpoints: a run directory, a model directory or a Hub id loaded for probing.

`load_checkpoint` returns the model (through `AutoModel`, with the probekit classes
registered), its tokenizer when one was saved and its `probekit_spec.json` when there
is one; `checkpoint_dir` resolves the name to a local directory (a run's `final/`, or a
Hub download through `probekit.hub.client`); `random_init_copy` is the same architecture with
fresh seeded weights, the `random_init` control.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, its tokenizer (if saved) and its probekit spec (if any)."""

    model: object
    tokenizer: object | None
    spec: dict | None
    path: Path | None


def checkpoint_dir(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A run directory (-> its final/), a model directory, or a Hub repo id, as a local directory."""
    path = Path(name_or_path).expanduser()
    if (path / "final" / "config.json").exists():
        return path / "final"
    if (path / "config.json").exists():
        return path
    if path.is_dir():
        raise FileNotFoundError(
            f"{path} holds neither config.json nor final/config.json; pass a run directory, "
            "its final/ directory, or any save_pretrained output."
        )
    from probekit.hub.client import resolve_checkpoint

    return checkpoint_dir(resolve_checkpoint(name_or_path, revision=revision))


def load_checkpoint(name_or_path: str | Path, revision: str | None = None) -> Checkpoint:
    """Load model, tokenizer and `probekit_spec.json` from a run/final/Hub checkpoint."""
    from transformers import AutoModel, AutoTokenizer

    import probekit.models  # noqa: F401  (registers the probekit model classes with Auto*)

    path = checkpoint_dir(name_or_path, revision)
    model = AutoModel.from_pretrained(path)
    has_tokenizer = any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(path) if has_tokenizer else None
    spec_file = path / "probekit_spec.json"
    spec = json.loads(spec_file.read_text()) if spec_file.exists() else None
    return Checkpoint(model, tokenizer, spec, path)


def random_init_copy(model, seed: int = 0):
    """The same architecture with fresh weights (`AutoModel.from_config` under a fixed seed)."""
    from transformers import AutoModel

    import probekit.models  # noqa: F401

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModel.from_config(model.config).eval()
