"""Probe inputs: what a probe sweep reads, as `ProbeInputs` (model feed + target families).

They come from one of three sources: regenerated from a checkpoint's
`probekit_spec.json` (`inputs_from_spec`, the whole cube for small d), read from a
`probekit generate` directory (`inputs_from_dataset`), or taken from any labelled text
dataset saved with `save_to_disk` (`inputs_from_text`, label columns become the `user`
family). Each also carries the key the train/test split groups by (the distinct input,
or for text the values of a `group_column`), the dataset's own train / validation / test
rows when it has them (`given_splits`), and the raw-input representation used by the
`input` control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from probekit.config import ProbeConfig

# Token-model inputs besides the ids and the padding mask: the isolated format's segments
# (made into its 4-D attention mask) and position ids (`synthetic.sequences`).
MODEL_FEED_EXTRAS = ("segment_ids", "position_ids")


@dataclass
class ProbeInputs:
    """What a sweep probes: the model feed, target families and the key of distinct inputs."""

    feed: dict[str, np.ndarray]
    families: dict[str, tuple[list[str], np.ndarray]]
    split_key: np.ndarray
    input_rep: np.ndarray | None
    primary: str  # the family the headline numbers are about: z, else user
    meta: dict = field(default_factory=dict)
    # Types the control task labels (Hewitt & Liang); None: drawn from bits of x.
    control_types: np.ndarray | None = None
    # (N,) bool: inputs the model never trained on (data.holdout_fraction's hash or outside
    # data.train_region, synthetic.holdout.heldout_mask); None: all seen.
    unseen: np.ndarray | None = None
    # The GF(2) matrix of the alternative basis T(z); None: drawn by the probe seed.
    # A task set defined on T(z) (`tasks.basis`) sets it, so the symmetric experiment
    # probes the very basis its tasks are simple in.
    alt_basis_recoding: np.ndarray | None = None
    # The dataset's own splits as row indices ({"fit", "test_seen"} and maybe "val_seen"),
    # used as they are instead of a seeded split; None: split by `split_key`.
    given_splits: dict[str, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return len(self.split_key)


def _synthetic_families(cols: Mapping[str, np.ndarray], z_pairs: bool) -> dict:
    z, x = np.asarray(cols["z"]), np.asarray(cols["x"])
    fam = {
        "z": ([f"z{i}" for i in range(z.shape[1])], z.astype(np.float64)),
        "x": ([f"x{i}" for i in range(x.shape[1])], x.astype(np.float64)),
    }
    if "targets" in cols:
        t = np.asarray(cols["targets"], dtype=np.float64)
        fam["tasks"] = ([f"t{i}" for i in range(t.shape[1])], t)
    if z_pairs and z.shape[1] >= 2:
        pairs = list(combinations(range(z.shape[1]), 2))
        fam["z_pairs"] = (
            [f"z{i}*z{j}" for i, j in pairs],
            np.stack([z[:, i] * z[:, j] for i, j in pairs], 1).astype(np.float64),
        )
    return fam


def _synthetic_inputs(cols: Mapping[str, np.ndarray], cfg: ProbeConfig, meta: dict) -> ProbeInputs:
    x = np.asarray(cols["x"])
    feed = {"x": x.astype(np.float32)}
    if "input_ids" in cols:
        feed["input_ids"] = np.asarray(cols["input_ids"], dtype=np.int64)
    for name in MODEL_FEED_EXTRAS:  # qa_isolated: the model sees what it trained under
        if name in cols:
            feed[name] = np.asarray(cols[name], dtype=np.int64)
    unseen = np.asarray(cols["heldout"], dtype=bool) if "heldout" in cols else None
    families = _synthetic_families(cols, cfg.z_pairs)
    _drop_latents_fixed_in_training(families, unseen, meta)
    return ProbeInputs(
        feed,
        families,
        x,
        x.astype(np.float32),
        "z",
        meta,
        unseen=unseen,
    )


def _drop_latents_fixed_in_training(families: dict, unseen: np.ndarray | None, meta: dict) -> None:
    """Latents constant on every input the model trained on but not on the unseen ones (a
    `data.train_region` fixing z_j) cannot be probed: the probe fits on seen inputs only.
    They leave the z family; `meta` records them (`latents_fixed_in_training`), the latents
    still probed (`probed_latents`) and `task_latents` as positions among those."""
    if unseen is None or not unseen.any() or unseen.all():
        return
    names, z = families["z"]
    seen = z[~unseen]
    fixed = np.flatnonzero((np.ptp(seen, axis=0) == 0) & (np.ptp(z, axis=0) > 0))
    if not len(fixed):
        return
    keep = [j for j in range(z.shape[1]) if j not in set(fixed.tolist())]
    families["z"] = ([names[j] for j in keep], z[:, keep])
    meta["latents_fixed_in_training"] = fixed.tolist()
    meta["probed_latents"] = keep
    if "task_latents" in meta:
        meta["task_latents"] = [keep.index(j) for j in meta["task_latents"] if j in keep]


def inputs_from_spec(spec: Mapping, cfg: ProbeConfig) -> ProbeInputs:
    """Regenerate world, tasks and probe inputs from a checkpoint's `probekit_spec.json`."""
    from synthetic.data_spec import DataSpec
    from synthetic.sequences import encode_examples
    from synthetic.tasks import TaskSet, TaskSpec
    from synthetic.world import World, WorldSpec

    exp = spec.get("experiment") if isinstance(spec, Mapping) else None
    if not exp:
        raise ValueError(
            "The checkpoint has no probekit_spec.json with an 'experiment' section, so its "
            "world cannot be regenerated; pass --data DIR or --text-dataset DIR."
        )
    world = World(WorldSpec.from_dict(exp["world"]))
    if spec.get("tasks_polynomials"):  # the explicit tasks survive changes to task sampling
        tasks = TaskSet.from_dict(spec["tasks_polynomials"])
    else:
        tasks = TaskSet.from_spec(TaskSpec.from_dict(exp["tasks"]), world)
    data = DataSpec.from_dict(exp["data"])
    rng = np.random.default_rng([cfg.seed, 7])
    on_cube = world.d <= cfg.max_cube_d
    z = world.cube() if on_cube else world.sample(cfg.n_examples, rng)[0]
    cols = encode_examples(world, tasks, z, data, rng)
    if data.holds_out:  # the rule that kept them out of training: hash or train region
        cols["heldout"] = data.heldout_mask(z)
    meta = {"source": "spec", "d": world.d, "m": world.m, "n_tasks": tasks.n, "cube": on_cube}
    meta["task_latents"] = list(tasks.latents_equal_to_tasks())
    inputs = _synthetic_inputs(cols, cfg, meta)
    inputs.alt_basis_recoding = tasks.basis_recoding()
    return inputs


def inputs_from_dataset(
    path: str | Path, cfg: ProbeConfig, split: str | None = None
) -> ProbeInputs:
    """Probe inputs from a `probekit generate` directory (its probe split by default)."""
    from synthetic.dataset import load_dataset_dir

    dsdict, gen, _ = load_dataset_dir(path)
    split = split or next((s for s in ("probe", "validation", "train") if s in dsdict), None)
    if split not in dsdict:
        raise ValueError(f"Split {split!r} is not in {path}. Available: {', '.join(dsdict)}")
    ds = dsdict[split].with_format("numpy")
    cols = {c: np.asarray(ds[c][:]) for c in ds.column_names}
    meta = {"source": "dataset", "path": str(path), "split": split, "d": gen.world.d}
    # What generated it, so a checkpoint of another world or task set can refuse it.
    meta["specs"] = {"world": gen.world.to_dict(), "tasks": gen.tasks.to_dict()}
    return _synthetic_inputs(cols, cfg, meta)


def _label_family(
    columns: Mapping[str, np.ndarray], coding: dict | None = None
) -> tuple[list[str], np.ndarray]:
    """Binary columns stay one target, multi-class ones become one-vs-rest, numeric many-valued ones ridge.

    `coding`, when given, receives each binary target's values as {"-1": ..., "+1": ...}.
    """
    names, out = [], []
    for name, col in columns.items():
        col = np.asarray(col)
        values = np.unique(col)
        if len(values) < 2:
            raise ValueError(
                f"Label column {name!r} has a single class ({values[0]!r} everywhere); a probe "
                "cannot be trained on it. Drop it from --label-columns."
            )
        numeric = np.issubdtype(col.dtype, np.number)
        if len(values) == 2:
            names.append(name)
            out.append(np.where(col == values[1], 1.0, -1.0))
            if coding is not None:
                coding[name] = {"-1": values[0].item(), "+1": values[1].item()}
        elif numeric and (col.dtype.kind == "f" or len(values) > 20):
            names.append(name)
            out.append(col.astype(np.float64))
        else:
            for v in values:
                names.append(f"{name}={v}")
                out.append(np.where(col == v, 1.0, -1.0))
    return names, np.stack(out, axis=1)


# A DatasetDict with train and test splits is probed on them as they are (validation too).
OWN_SPLITS = {"train": "fit", "validation": "val_seen", "test": "test_seen"}


def _pick_split(ds, split: str | None, path) -> tuple[object, dict | None, dict]:
    """(the rows to probe, their own split rows by probe split or None, what meta records).

    `split` None: the dataset's own train / (validation) / test when it has train and test,
    else its test, validation or train split, re-split; a name: that split alone, re-split;
    "all": every split pooled and re-split.
    """
    import datasets

    if not isinstance(ds, datasets.DatasetDict):
        if split not in (None, "all"):
            raise ValueError(f"{path} holds one dataset without named splits; drop --split.")
        return ds, None, {"dataset_splits": None}
    if split == "all":
        pooled = datasets.concatenate_datasets([ds[name] for name in ds])
        return pooled, None, {"dataset_splits": None, "split": "all", "pooled": list(ds)}
    if split is not None and split not in ds:
        raise ValueError(f"Split {split!r} is not in {path}. Available: {', '.join(ds)}, all.")
    if split is None and "train" in ds and "test" in ds:
        names = [name for name in OWN_SPLITS if name in ds]
        bounds = np.cumsum([0] + [len(ds[name]) for name in names])
        rows = {OWN_SPLITS[n]: np.arange(bounds[i], bounds[i + 1]) for i, n in enumerate(names)}
        used = {OWN_SPLITS[name]: name for name in names}
        return datasets.concatenate_datasets([ds[n] for n in names]), rows, {"dataset_splits": used}
    split = split or next((s for s in ("test", "validation", "train") if s in ds), list(ds)[0])
    return ds[split], None, {"dataset_splits": None, "split": split}


def inputs_from_text(
    path: str | Path,
    tokenizer,
    *,
    text_column: str = "text",
    label_columns: Sequence[str] = (),
    split: str | None = None,
    max_length: int | None = None,
    type_column: str | None = None,
    group_column: str | None = None,
) -> ProbeInputs:
    """Probe inputs from a `datasets` dataset saved with `save_to_disk` (text + label columns).

    The split is the dataset's own train / validation / test when it has train and test
    (see `_pick_split`); otherwise a seeded split by distinct text, or with `group_column`
    by the values of that column, so that no value is on both sides. The control task
    labels word types: the values of `type_column`, else each text's first non-special token.
    """
    import datasets

    ds, given, split_meta = _pick_split(datasets.load_from_disk(str(path)), split, path)
    missing = [
        c for c in [text_column, *label_columns, *filter(None, [group_column])]
        if c not in ds.column_names
    ]  # fmt: skip
    if missing:
        raise ValueError(
            f"Column(s) {', '.join(map(repr, missing))} not in the dataset at {path}. "
            f"Existing columns: {', '.join(ds.column_names)}."
        )
    if not label_columns:
        raise ValueError(
            f"Name the label columns to probe, e.g. --label-columns "
            f"{','.join(c for c in ds.column_names if c != text_column)}."
        )
    if tokenizer is None:
        raise ValueError("The checkpoint has no tokenizer files; a text dataset cannot be encoded.")
    coding: dict = {}
    names, labels = _label_family({c: np.asarray(ds[c]) for c in label_columns}, coding)
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers: padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    enc = tokenizer(
        list(ds[text_column]),
        padding=True,
        truncation=max_length is not None,
        max_length=max_length,
        return_tensors="np",
    )
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    key = np.where(mask > 0, ids, -1)  # equal texts give equal keys whatever the padding
    if group_column is not None:
        _, key = np.unique(np.asarray(ds[group_column]).astype(str), return_inverse=True)
        key = key.reshape(-1)
        if given is not None:
            _refuse_shared_groups(
                key, given, np.asarray(ds[group_column]).astype(str), group_column
            )
    vocab = len(tokenizer)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    bag = np.zeros((len(ids), vocab), np.float32)
    np.add.at(bag, (rows, ids.reshape(-1)), mask.reshape(-1))
    if type_column is not None:
        if type_column not in ds.column_names:
            raise ValueError(
                f"Control type column {type_column!r} is not in the dataset at {path}. "
                f"Existing columns: {', '.join(ds.column_names)}."
            )
        _, types = np.unique(np.asarray(ds[type_column]).astype(str), return_inverse=True)
    else:
        types = _first_word_types(ids, mask, tokenizer)
    meta = {
        "source": "text",
        "path": str(path),
        "text_column": text_column,
        "label_columns": list(label_columns),
        "label_coding": coding,
        "control_type": type_column or "first token",
        "split_by": f"group column {group_column}" if group_column else "distinct text",
        "max_length": max_length,
        **split_meta,
    }
    return ProbeInputs(
        {"input_ids": ids, "attention_mask": mask},
        {"user": (names, labels)},
        key,
        bag,
        "user",
        meta,
        control_types=types.reshape(-1),
        given_splits=given,
    )


def _refuse_shared_groups(key: np.ndarray, given: dict, values: np.ndarray, column: str) -> None:
    """A grouped probe on a dataset whose own train and test share groups would leak them."""
    shared = np.intersect1d(key[given["fit"]], key[given["test_seen"]])
    if len(shared):
        examples = ", ".join(repr(values[np.flatnonzero(key == g)[0]]) for g in shared[:3])
        raise ValueError(
            f"The dataset's own train and test splits share {len(shared)} value(s) of "
            f"--group-column {column} (e.g. {examples}), so a grouped split cannot use them. "
            "Pass --split all to pool its splits and re-split by group, or --split NAME to "
            "re-split one of them."
        )


def _first_word_types(ids: np.ndarray, mask: np.ndarray, tokenizer) -> np.ndarray:
    """(N,) the first non-special token of each text: a word type that recurs across texts."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    out = np.full(len(ids), -1, dtype=np.int64)
    for i, (row, m) in enumerate(zip(ids, mask, strict=True)):
        real = [t for t, keep in zip(row, m, strict=True) if keep and t not in special]
        out[i] = real[0] if real else -1
    return out
