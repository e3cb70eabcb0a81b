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
    # What was loaded, as a reader can fetch it again: the local directory, or
    # `repo_id@commit` for a Hub download (the commit the revision resolved to).
    source: str | None = None


def checkpoint_dir(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A run directory (-> its final/), a model directory, or a Hub repo id, as a local directory.

    A Hub repo is downloaded with only the files a probe reads (`CHECKPOINT_FILES`): the
    config, safetensors weights, tokenizer, probekit spec and a sentence-transformers
    pooling config; never other frameworks' weights or the repo's probe results.
    """
    path = Path(name_or_path).expanduser()
    if (path / "final" / "config.json").exists():
        return path / "final"
    if (path / "config.json").exists():
        return path
    if path.is_dir():
        raise FileNotFoundError(
            f"{path} holds neither config.json nor final/config.json; pass a run directory, "
            "its final/ directory, a saved step (RUN/snapshots/step-N, RUN/checkpoints/step-N) "
            "or any save_pretrained output."
        )
    from probekit.hub.client import CHECKPOINT_FILES, resolve_checkpoint

    folder = resolve_checkpoint(name_or_path, revision=revision, allow_patterns=CHECKPOINT_FILES)
    return checkpoint_dir(folder)


def checkpoint_source(name_or_path: str | Path, path: Path) -> str:
    """The local directory loaded, or `repo_id@commit` when `path` is a Hub download."""
    if Path(name_or_path).expanduser().exists():
        return str(path)
    # The Hub cache keeps each download under snapshots/<commit sha>.
    return f"{name_or_path}@{path.name}" if path.parent.name == "snapshots" else str(path)


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


DTYPES = ("float32", "float16", "bfloat16")


def torch_dtype(name: str | None):
    """`torch.float32` etc. from its name; None stays None (the checkpoint's default)."""
    if name is None:
        return None
    if name not in DTYPES:
        raise ValueError(f"Unknown dtype {name!r}; use one of {', '.join(DTYPES)}.")
    return getattr(torch, name)


def _load_weights(path: Path, dtype: str | None = None):
    """`AutoModel.from_pretrained(path)`; a damaged weights file is a ValueError naming it."""
    from safetensors import SafetensorError
    from transformers import AutoModel

    try:
        kwargs = {"dtype": torch_dtype(dtype)} if dtype is not None else {}
        return AutoModel.from_pretrained(path, **kwargs)
    except SafetensorError as err:
        files = sorted(path.glob("*.safetensors"))
        name = files[0] if len(files) == 1 else f"a *.safetensors file in {path}"
        raise ValueError(
            f"{name} is damaged ({err}): it was cut short (a kill or a full disk while it "
            "was written) or is not a safetensors file. Train the run again with "
            "`probekit train --overwrite`, or download the checkpoint again."
        ) from err


def load_checkpoint(
    name_or_path: str | Path,
    revision: str | None = None,
    *,
    progress: bool = True,
    dtype: str | None = None,
) -> Checkpoint:
    """Load model, tokenizer and `probekit_spec.json` from a run/final/Hub checkpoint.

    `progress=False` also silences the bars transformers and the Hub draw while loading;
    `dtype` (float32, float16, bfloat16) loads the weights in that precision directly.
    """
    from transformers import AutoTokenizer

    import probekit.models  # noqa: F401  (registers the probekit model classes with Auto*)

    with transformers_progress(progress):
        path = checkpoint_dir(name_or_path, revision)
        model = _load_weights(path, dtype)
    has_tokenizer = any((path / f).exists() for f in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(path) if has_tokenizer else None
    spec_file = path / "probekit_spec.json"
    spec = json.loads(spec_file.read_text()) if spec_file.exists() else None
    return Checkpoint(model, tokenizer, spec, path, checkpoint_source(name_or_path, path))


def random_init_copy(model, seed: int = 0):
    """The same architecture with fresh weights (`AutoModel.from_config` under a fixed seed), in
    the model's own dtype."""
    from transformers import AutoModel

    import probekit.models  # noqa: F401

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Drawn in float32 (the same numbers whatever the dtype), then cast.
        copy = AutoModel.from_config(model.config, dtype=torch.float32).eval()
    return copy.to(next(model.parameters()).dtype)
