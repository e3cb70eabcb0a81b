"""Checkpoints: a run directory, a model directory or a Hub id loaded for probing.

`load_checkpoint` returns the model (through `AutoModel`, with the probekit classes
registered), its tokenizer when one was saved and its `probekit_spec.json` when there
is one; `checkpoint_dir` resolves the name to a local directory (a run's `final/`, or a
Hub download through `probekit.hub.client`); `random_init_copy` is the same architecture with
fresh seeded weights, the `random_init` control.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def transformers_progress(enabled: bool = True) -> Iterator[None]:
    """With `enabled=False`, transformers' own bars ("Loading weights", "Writing model shards")
    and the Hub's download bars are off inside the block and restored after it."""
    from transformers.utils import logging as hf_logging

    if enabled or not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def _load_weights(path: Path):
    """`AutoModel.from_pretrained(path)`; a damaged weights file is a ValueError naming it."""
    from safetensors import SafetensorError
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(path)
    except SafetensorError as err:
        files = sorted(path.glob("*.safetensors"))
        name = files[0] if len(files) == 1 else f"a *.safetensors file in {path}"
        raise ValueError(
            f"{name} is damaged ({err}): it was cut short (a kill or a full disk while it "
            "was written) or is not a safetensors file. Train the run again with "
            "`probekit train --overwrite`, or download the checkpoint again."
        ) from err


def load_checkpoint(
    name_or_path: str | Path, revision: str | None = None, *, progress: bool = True
) -> Checkpoint:
    """Load model, tokenizer and `probekit_spec.json` from a run/final/Hub checkpoint.

    `progress=False` also silences the bars transformers and the Hub draw while loading.
    """
    from transformers import AutoTokenizer

    import probekit.models  # noqa: F401  (registers the probekit model classes with Auto*)

    with transformers_progress(progress):
        path = checkpoint_dir(name_or_path, revision)
        model = _load_weights(path)
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
