"""Token datasets of a world and its tasks: generation, saving and loading.

A saved dataset directory holds everything needed to use it and to rebuild the
world it came from:

```
OUT/
  dataset_dict.json, train/, validation/, probe/ [, ood/]   datasets.DatasetDict
  tokenizer/                                               tokenizer.json + config
  probekit_data.json        world/tasks/data specs, the explicit task polynomials,
                            token layout and positions, versions, fingerprint
```

Splits: ``train`` and ``validation`` are drawn from the world's latent
distribution without the held-out latents; ``probe`` is the whole cube (``probe_set:
cube``, the default when d ≤ 16) or ``n_probe`` draws; ``ood`` (only when
``holdout_fraction > 0`` or a ``train_region``) holds ``n_validation`` draws of
held-out latents only. A z is held out when a seeded hash of its bits holds it out
(independently, with probability ``holdout_fraction``) or it lies outside the
``train_region``: one rule, ``synthetic.holdout.heldout_mask``, so training streams
exclude the same points. Every split then has a ``heldout`` column.

The specs (`DataSpec`, `GenerateConfig`) live in `synthetic.data_spec` and are
re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from synthetic import config
from synthetic.bits import cube
from synthetic.data_spec import (
    AUTO_CUBE_BITS,
    MAX_PROBE_CUBE_BITS,
    PROBE_SETS,
    DataSpec,
    GenerateConfig,
    load_generate_config,
    replace_data,
)
from synthetic.sequences import (
    encode_examples,
    example_stream,
    layout_for,
    sample_latents,
    sequence_positions,
)
from synthetic.tokenizer import TokenLayout, build_tokenizer, check_tokenizer

__all__ = [
    "AUTO_CUBE_BITS",
    "MAX_PROBE_CUBE_BITS",
    "PROBE_SETS",
    "DataSpec",
    "GenerateConfig",
    "load_generate_config",
    "generate_dataset",
    "save_dataset",
    "load_dataset_dir",
    "dataset_fingerprint",
    "example_stream",
    "replace_data",
]

METADATA_FILE = "probekit_data.json"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1
CHUNK = 8192  # examples per generation step; fixed so the data never depend on it
SPLIT_STREAMS = {"train": 0, "validation": 1, "probe": 2, "ood": 3}


# --------------------------------------------------------------------- generation


def _split_sizes(cfg: GenerateConfig) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {"train": cfg.data.n_train, "validation": cfg.data.n_validation}
    sizes["probe"] = None if cfg.data.probe_on_cube(cfg.world.d) else cfg.data.n_probe
    if cfg.data.holds_out:
        sizes["ood"] = cfg.data.n_validation
    return sizes


def _to_dataset(columns: dict[str, np.ndarray]):
    """Numpy columns -> a datasets.Dataset (2-D arrays become fixed-length lists)."""
    import datasets
    import pyarrow as pa

    arrays = {}
    for name, a in columns.items():
        a = np.ascontiguousarray(a)
        if a.ndim == 1:
            arrays[name] = pa.array(a)
        else:
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), a.shape[1])
    return datasets.Dataset(pa.table(arrays)).with_format("numpy")


def _generate_split(cfg, world, tasks, split, size, bar) -> dict[str, np.ndarray]:
    data = cfg.data
    rng = np.random.default_rng([data.seed, SPLIT_STREAMS[split]])
    z_all = cube(world.d) if size is None else None
    total = len(z_all) if z_all is not None else size
    chunks = []
    for start in range(0, total, CHUNK):
        n = min(CHUNK, total - start)
        if z_all is not None:
            z = z_all[start : start + n]
        else:
            z = sample_latents(world, n, rng, data, heldout=(split == "ood"))
        cols = encode_examples(world, tasks, z, data, rng)
        if data.holds_out:
            cols["heldout"] = data.heldout_mask(z)
        chunks.append(cols)
        bar.update(n)
    if not chunks:  # an empty split (n_validation = 0) still has the right columns
        cols = encode_examples(world, tasks, np.zeros((0, world.d), np.int8), data, rng)
        if data.holds_out:
            cols["heldout"] = np.zeros(0, dtype=bool)
        chunks.append(cols)
    return {k: np.concatenate([c[k] for c in chunks], axis=0) for k in chunks[0]}


def generate_dataset(cfg: GenerateConfig, progress: bool = True):
    """Generate the train / validation / probe [/ ood] splits of `cfg` as a DatasetDict."""
    import datasets
    from tqdm.auto import tqdm

    world, tasks = cfg.build()
    sizes = _split_sizes(cfg)
    total = sum((1 << world.d) if s is None else s for s in sizes.values())
    out = {}
    with tqdm(total=total, desc="generate", unit="ex", disable=not progress) as bar:
        for split, size in sizes.items():
            out[split] = _to_dataset(_generate_split(cfg, world, tasks, split, size, bar))
    return datasets.DatasetDict(out)


def dataset_fingerprint(dsdict, cfg: GenerateConfig) -> str:
    """sha256 over the config and every column's bytes, split by split."""
    h = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    for split in sorted(dsdict):
        ds = dsdict[split].with_format("numpy")
        for name in sorted(ds.column_names):
            a = np.ascontiguousarray(ds[name][:])
            h.update(f"{split}/{name}/{a.dtype}/{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def package_versions(
    packages=("probekit", "numpy", "datasets", "transformers", "tokenizers"),
) -> dict[str, str]:
    """Installed versions of `packages` (and Python), recorded with every saved artefact."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def dataset_metadata(dsdict, cfg: GenerateConfig) -> dict[str, Any]:
    """The probekit_data.json content: specs, task polynomials, layout, positions, versions."""
    world, tasks = cfg.build()
    layout = layout_for(world, tasks, cfg.data)
    return {
        "probekit_data_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "task_set": tasks.to_dict(),
        "layout": {
            "m": layout.m,
            "n_tasks": layout.n_tasks,
            "bits_per_token": layout.bits_per_token,
            "n_groups": layout.n_groups,
            "vocab_size": layout.vocab_size,
            "x_offset": layout.x_offset,
            "task_offset": layout.task_offset,
        },
        "positions": sequence_positions(cfg.data.format, layout, cfg.data.queries_per_sequence),
        "splits": {name: len(ds) for name, ds in dsdict.items()},
        "versions": package_versions(),
        "fingerprint": dataset_fingerprint(dsdict, cfg),
    }


# --------------------------------------------------------------------- disk


def check_output_dir(out_dir: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing output unless `overwrite`, and never replace a non-dataset directory."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"Output {str(out)!r} already exists; pass overwrite=True (--overwrite) to replace it."
            )
        if not out.is_dir() or (any(out.iterdir()) and not (out / METADATA_FILE).exists()):
            raise FileExistsError(
                f"Refusing to replace {str(out)!r}: it is not a probekit dataset directory "
                f"(no {METADATA_FILE}); choose another --out."
            )
    return out


def _save_quietly(dsdict, path: Path) -> None:
    """save_to_disk without one progress bar per split (our own bar already ran)."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        dsdict.save_to_disk(str(path))
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def save_dataset(
    dsdict, cfg: GenerateConfig, out_dir: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write the dataset, tokenizer and metadata atomically to `out_dir`; return its path."""
    out = check_output_dir(out_dir, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = out.parent / f".{out.name}.tmp-{tag}"
    try:
        _save_quietly(dsdict, tmp)
        tokenizer = build_tokenizer(cfg.world.n_observed, cfg.tasks.n, cfg.data.bits_per_token)
        tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
        meta = dataset_metadata(dsdict, cfg)
        config.write_atomic(tmp / METADATA_FILE, json.dumps(meta, indent=2) + "\n")
        config.fsync_tree(tmp)  # on disk before the rename publishes it
        old = None
        if out.exists():
            # Move the old one aside first so the final rename is atomic, then delete it.
            old = out.parent / f".{out.name}.old-{tag}"
            os.rename(out, old)
        os.rename(tmp, out)
        config.fsync_dir(out.parent)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The probekit_data.json of a saved dataset directory."""
    meta_path = Path(path) / METADATA_FILE
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{str(path)!r} is not a probekit dataset: {METADATA_FILE} is missing. "
            "Create one with `probekit generate --config CFG --out DIR`."
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("probekit_data_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(meta_path)!r} has data format version {meta.get('probekit_data_version')!r}; "
            f"this probekit reads version {FORMAT_VERSION}. Regenerate the dataset."
        )
    return meta


def load_dataset_dir(path: str | os.PathLike):
    """Load a saved dataset: (DatasetDict with numpy format, GenerateConfig, tokenizer)."""
    import datasets
    from transformers import PreTrainedTokenizerFast

    meta = read_metadata(path)
    cfg = GenerateConfig.from_dict(meta["config"])
    dsdict = datasets.load_from_disk(str(Path(path))).with_format("numpy")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(Path(path) / TOKENIZER_DIR))
    check_tokenizer(
        tokenizer, TokenLayout(cfg.world.n_observed, cfg.tasks.n, cfg.data.bits_per_token)
    )
    return dsdict, cfg, tokenizer
