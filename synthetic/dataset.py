"""Token datasets of a world and its tasks: `DataSpec`, generation, saving and loading.

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
``holdout_fraction > 0``) holds ``n_validation`` draws of held-out latents only.
Each z is held out independently with probability ``holdout_fraction`` by a seeded
hash of its bits (``synthetic.sequences.heldout_mask``), so training streams can
exclude the same points.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthetic import config
from synthetic.bits import cube
from synthetic.sequences import (
    SEQUENCE_FORMATS,
    encode_examples,
    example_stream,
    heldout_mask,
    layout_for,
    sample_latents,
    sequence_positions,
)
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import TokenLayout, build_tokenizer, check_tokenizer
from synthetic.world import World, WorldSpec

__all__ = [
    "DataSpec",
    "GenerateConfig",
    "load_generate_config",
    "generate_dataset",
    "save_dataset",
    "load_dataset_dir",
    "dataset_fingerprint",
    "example_stream",
]

METADATA_FILE = "probekit_data.json"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1
CHUNK = 8192  # examples per generation step; fixed so the data never depend on it
AUTO_CUBE_BITS = 16  # probe_set "auto" enumerates the cube up to this d
MAX_PROBE_CUBE_BITS = 20
PROBE_SETS = ("auto", "cube", "sample")
SPLIT_STREAMS = {"train": 0, "validation": 1, "probe": 2, "ood": 3}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclass(frozen=True)
class DataSpec:
    """How to turn a world and its tasks into a token dataset.

    format: a name in SEQUENCE_FORMATS (multitask, qa, encoder, array).
    bits_per_token: observed bits per x token; need not divide m (the last token
        then carries the remaining m mod b bits).
    queries_per_sequence: questions per qa sequence (distinct tasks, ≤ n).
    n_train, n_validation: examples drawn per split (n_validation also sizes ood).
    n_probe, probe_set: the probe split is the whole cube ("cube", or "auto" when
        d ≤ 16) or n_probe draws ("sample").
    holdout_fraction: each z is kept out of train/validation with this probability
        and goes to the ood split instead.
    seed: all data randomness (draws, queries, the holdout hash).
    """

    format: str = "multitask"
    bits_per_token: int = 1
    queries_per_sequence: int = 4
    n_train: int = 8192
    n_validation: int = 1024
    n_probe: int = 2048
    probe_set: str = "auto"
    holdout_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks that need no world; `validate_for` adds the world- and task-dependent ones."""
        SEQUENCE_FORMATS.get(self.format)  # lists the known formats when unknown
        for name, low in (
            ("bits_per_token", 1),
            ("queries_per_sequence", 1),
            ("n_train", 1),
            ("n_validation", 0),
            ("n_probe", 1),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"DataSpec.{name} must be an integer ≥ {low}, got {value!r}.")
        if self.probe_set not in PROBE_SETS:
            raise ValueError(
                f"DataSpec.probe_set must be one of {', '.join(PROBE_SETS)}, got {self.probe_set!r}."
            )
        f = self.holdout_fraction
        if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0.0 <= f < 1.0:
            raise ValueError(
                f"DataSpec.holdout_fraction must be a number in [0, 1), got {f!r}; e.g. 0.1."
            )
        if f > 0 and self.n_validation < 1:
            raise ValueError("DataSpec.n_validation sizes the ood split; set it ≥ 1 with holdout.")

    def validate_for(self, world: WorldSpec, tasks: TaskSpec) -> None:
        """Raise ValueError if this data spec does not fit the world and task specs."""
        fmt = SEQUENCE_FORMATS.get(self.format)
        if fmt.sign_targets_only and tasks.target != "sign":
            raise ValueError(
                f"DataSpec.format={self.format!r} answers with y=+/y=- tokens and needs "
                f"tasks.target=sign, got {tasks.target!r}; use format multitask or array."
            )
        if self.format == "qa" and self.queries_per_sequence > tasks.n:
            raise ValueError(
                f"DataSpec.queries_per_sequence={self.queries_per_sequence} exceeds the "
                f"number of tasks n={tasks.n}; use at most n."
            )
        if self.bits_per_token > world.n_observed:
            raise ValueError(
                f"DataSpec.bits_per_token={self.bits_per_token} exceeds m={world.n_observed}."
            )
        TokenLayout(world.n_observed, tasks.n, self.bits_per_token)
        if self.probe_set == "cube" and world.d > MAX_PROBE_CUBE_BITS:
            raise ValueError(
                f"DataSpec.probe_set=cube needs d ≤ {MAX_PROBE_CUBE_BITS}, got d={world.d}; "
                "use probe_set=sample with n_probe draws."
            )
        if self.holdout_fraction > 0 and world.d <= MAX_PROBE_CUBE_BITS:
            held = heldout_mask(cube(world.d), self.holdout_fraction, self.seed)
            if held.all() or not held.any():
                raise ValueError(
                    f"holdout_fraction={self.holdout_fraction} holds out "
                    f"{'every' if held.all() else 'no'} point of the d={world.d} cube with "
                    f"seed {self.seed}; choose another fraction."
                )

    def probe_on_cube(self, d: int) -> bool:
        """Whether the probe split is the whole cube."""
        return self.probe_set == "cube" or (self.probe_set == "auto" and d <= AUTO_CUBE_BITS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)


@dataclass(frozen=True)
class GenerateConfig:
    """A world, its tasks and a data spec: everything `probekit generate` needs."""

    world: WorldSpec = field(default_factory=WorldSpec)
    tasks: TaskSpec = field(default_factory=TaskSpec)
    data: DataSpec = field(default_factory=DataSpec)

    def __post_init__(self) -> None:
        self.tasks.validate_for(self.world)
        self.data.validate_for(self.world, self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return config.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerateConfig:
        """Strict inverse of to_dict."""
        return config.from_dict(cls, data)

    def build(self) -> tuple[World, TaskSet]:
        """The world and the task set of this config."""
        world = World(self.world)
        return world, TaskSet.from_spec(self.tasks, world)


def load_generate_config(
    path: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
    allow_sections: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> GenerateConfig:
    """Load a GenerateConfig from YAML (strict), after dotted overrides.

    Top-level sections named in `allow_sections` (e.g. model, train, probe of an
    experiment file) are accepted and ignored; any other unknown key is an error.
    """
    data = dict(base or {})
    if path is not None:
        data.update(config.load_yaml(path))
    data = config.apply_overrides(data, overrides)
    for name in allow_sections:
        data.pop(name, None)
    return config.from_dict(GenerateConfig, data)


# --------------------------------------------------------------------- generation


def _split_sizes(cfg: GenerateConfig) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {"train": cfg.data.n_train, "validation": cfg.data.n_validation}
    sizes["probe"] = None if cfg.data.probe_on_cube(cfg.world.d) else cfg.data.n_probe
    if cfg.data.holdout_fraction > 0:
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
            z = sample_latents(
                world, n, rng, data.holdout_fraction, data.seed, heldout=(split == "ood")
            )
        cols = encode_examples(world, tasks, z, data, rng)
        if data.holdout_fraction > 0:
            cols["heldout"] = heldout_mask(z, data.holdout_fraction, data.seed)
        chunks.append(cols)
        bar.update(n)
    if not chunks:  # an empty split (n_validation = 0) still has the right columns
        cols = encode_examples(world, tasks, np.zeros((0, world.d), np.int8), data, rng)
        if data.holdout_fraction > 0:
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


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("probekit", "numpy", "datasets", "transformers", "tokenizers"):
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
        "versions": _versions(),
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
        old = None
        if out.exists():
            # Move the old one aside first so the final rename is atomic, then delete it.
            old = out.parent / f".{out.name}.old-{tag}"
            os.rename(out, old)
        os.rename(tmp, out)
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


def replace_data(cfg: GenerateConfig, **changes: Any) -> GenerateConfig:
    """A copy of `cfg` with some DataSpec fields changed (validated)."""
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes))
