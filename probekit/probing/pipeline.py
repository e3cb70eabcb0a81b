"""A probe sweep: sites × target families × probes × controls -> tidy rows, a summary, plots.

`probe_checkpoint` is the whole pipeline behind `probekit probe`:

1. inputs: regenerated from the checkpoint's `probekit_spec.json` (the whole cube for
   small d), read from a generated dataset, or taken from any labelled text dataset;
2. targets, by family: `z` (the latents), `x` (observed bits), `tasks` (task values),
   `z_pairs` (the degree-2 characters z_i z_j), `user` (given arrays or label columns),
   and the controls `alt_basis` (an alternative basis T(z), a sparse GF(2) recoding of
   the latents) and `control_task` (random labels per type, Hewitt & Liang);
3. representations: the checkpoint (`trained`), the same architecture randomly
   initialised (`random_init`) and the raw input itself (`input`: x, or a bag of
   tokens for text);
4. one seeded split by distinct inputs; linear probes batched over all sites and
   targets at once (`fit_linear_probes`), optionally an MLP probe per family; the
   docs/theory.md §6 numbers of each site's own units (identification error, MCC, the
   orthogonal Procrustes correlation) for z and T(z);
5. `results.jsonl` (one row per model × site × target × probe × metric),
   `summary.json` (docs/probing.md lists every field) and PNG plots, each written
   atomically.

Inputs and their target families live in `probekit.probing.inputs` (1, 2), the controls
and the probe fits in `probekit.probing.probe_sweep` (2, 4), the summary and its files in
`probekit.probing.summary` (5); `probe_checkpoint` here ties them together with the
representations (3) and the split, and re-exports their public names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from probekit.config import ProbeConfig
from probekit.models.checkpoints import random_init_copy, torch_dtype
from probekit.probing.activations import (
    all_site_names,
    check_inputs,
    check_sites,
    extract_activations,
    is_token_model,
    site_names,
)
from probekit.probing.controls import dataset_splits, probe_splits, shared_keys
from probekit.probing.inputs import (
    MODEL_FEED_EXTRAS,
    ProbeInputs,
    _label_family,
    inputs_from_dataset,
    inputs_from_spec,
    inputs_from_text,
)
from probekit.probing.positions import pooling_position, tokenizer_roles
from probekit.probing.probe_sweep import (
    CONTROLS,
    FAMILIES,
    MLP_FAMILIES,
    MODELS,
    PROBES,
    SweepResult,
    _add_controls,
    _check_targets,
    probe_sweep,
)
from probekit.probing.summary import ProbeReport, summarize, write_report
from probekit.training.snapshots import load_saved_step

__all__ = [
    "CONTROLS",
    "FAMILIES",
    "MLP_FAMILIES",
    "MODELS",
    "PROBES",
    "ProbeInputs",
    "ProbeReport",
    "SweepResult",
    "inputs_from_dataset",
    "inputs_from_spec",
    "inputs_from_text",
    "probe_checkpoint",
    "probe_sweep",
    "summarize",
    "write_report",
]


def readout_position(model) -> str:
    """Where a model reads its answers: CLS for BERT-style encoders, SEP for decoders."""
    config = model.config
    backbone = getattr(config, "backbone_type", None) or config.model_type
    return "cls" if backbone == "bert" else "sep"


def auto_position(model, folder: Path | None) -> tuple[str, str]:
    """(position, why) for `--position auto`: the model folder's sentence-transformers pooling
    when it declares one, else where the model reads its answers (`readout_position`)."""
    pooled = pooling_position(folder)
    return pooled if pooled else (readout_position(model), "the model's readout position")


def probe_checkpoint(
    checkpoint,
    *,
    data: str | Path | None = None,
    text_dataset: str | Path | None = None,
    text_column: str = "text",
    label_columns: Sequence[str] = (),
    control_type_column: str | None = None,
    split: str | None = None,
    user_targets: Mapping[str, np.ndarray] | None = None,
    out: str | Path | None = None,
    sites: Sequence[str] | None = None,
    position: str | None = None,
    probes: Sequence[str] | None = None,
    seed: int | None = None,
    controls: Sequence[str] | None = None,
    config: ProbeConfig | None = None,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    progress: bool = True,
    group_column: str | None = None,
    max_length: int | None = None,
    dtype: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
) -> ProbeReport:
    """Probe a checkpoint (run dir, final dir, Hub id or model) layer by layer, with controls.

    Text datasets: `group_column` splits by its values (none on both sides), `max_length`
    truncates; `dtype` (float32, float16, bfloat16), `device` and `batch_size` set how
    activations are computed.
    """
    ckpt = (
        load_saved_step(checkpoint, revision, progress=progress)  # also RUN/checkpoints/step-N
        if isinstance(checkpoint, (str, Path))
        else None
    )
    model = ckpt.model if ckpt else checkpoint
    if dtype is not None:
        model = model.to(torch_dtype(dtype))
    tokenizer = ckpt.tokenizer if ckpt else None
    spec = ckpt.spec if ckpt else None
    if config is None:
        saved = ((spec or {}).get("experiment") or {}).get("probe")
        config = ProbeConfig(**_known(saved)) if saved else ProbeConfig()
    changes = {k: v for k, v in (("seed", seed), ("position", position)) if v is not None}
    if probes is not None:
        changes["probes"] = tuple(probes)
    if controls is not None:
        changes["controls"] = tuple(controls)
    if batch_size is not None:
        changes["batch_size"] = batch_size
    cfg = _replace(config, **changes)  # ProbeConfig validates probes, controls, position

    if text_dataset is not None:
        inputs = inputs_from_text(
            text_dataset,
            tokenizer,
            text_column=text_column,
            label_columns=label_columns,
            type_column=control_type_column,
            split=split,
            group_column=group_column,
            max_length=max_length,
        )
    elif data is not None:
        inputs = inputs_from_dataset(data, cfg, split)
        check_same_world(inputs.meta.pop("specs"), spec, data)
    else:
        inputs = inputs_from_spec(spec or {}, cfg)
    if user_targets:
        extra = _label_family(user_targets)
        if "user" in inputs.families:
            old_names, old = inputs.families["user"]
            extra = (old_names + extra[0], np.concatenate([old, extra[1]], axis=1))
        inputs.families["user"] = extra
    # Every cheap check runs before the first forward pass.
    token_model = is_token_model(model)
    feed = (
        {
            k: v
            for k, v in inputs.feed.items()
            if k in ("input_ids", "attention_mask", *MODEL_FEED_EXTRAS)
        }
        if token_model
        else {"x": inputs.feed.get("x")}
    )
    check_inputs(model, feed)
    # Block outputs by default; sub-layer sites (layer.i.attn, layer.i.mlp) by name or `all`.
    sites = site_names(model) if sites is None else check_sites(sites, all_site_names(model))
    roles = None
    if token_model:
        if tokenizer is None:
            raise ValueError("Token positions need the checkpoint's tokenizer files (none found).")
        roles = tokenizer_roles(tokenizer, feed["input_ids"], feed.get("attention_mask"))
    read_at, position_source = (
        auto_position(model, ckpt.path if ckpt else None)
        if cfg.position == "auto"
        else (cfg.position, "--position")
    )
    rng = np.random.default_rng(cfg.seed)
    if inputs.given_splits is not None:  # the dataset's own train / validation / test
        splits = dataset_splits(inputs.given_splits, inputs.split_key, rng)
    else:
        splits = probe_splits(inputs.split_key, inputs.unseen, cfg.test_fraction, rng)
    _add_controls(inputs, cfg, rng)
    _check_targets(inputs, splits["fit"])

    if cache_dir is None and out is not None:
        cache_dir = Path(out) / "cache"
    # The untrained copy is built only when its control runs, and dropped once read.
    models = {"trained": lambda: model}
    if "random_init" in cfg.controls:
        models["random_init"] = lambda: random_init_copy(model, seed=cfg.seed)
    reps, position = {}, read_at if token_model else "none"
    for name, build in models.items():
        acts = extract_activations(
            build(),
            feed,
            sites=sites,
            position=read_at,
            roles=roles,
            batch_size=cfg.batch_size,
            device=device,
            cache_dir=cache_dir,
            progress=progress,
        )
        reps[name] = acts.arrays
    if "input" in cfg.controls and inputs.input_rep is not None:
        reps["input"] = {"input": inputs.input_rep}
    sweep = probe_sweep(
        reps,
        inputs,
        cfg=cfg,
        probes=cfg.probes,
        position=position,
        splits=splits,
        progress=progress,
    )
    summary = summarize(
        sweep,
        inputs,
        cfg.probes,
        seed=cfg.seed,
        task_metrics=(spec or {}).get("final_metrics"),
    )
    summary.update(
        checkpoint=(ckpt.source or str(ckpt.path)) if ckpt else type(model).__name__,
        position=position,
        position_source=position_source if token_model else None,
        split_by=inputs.meta.get("split_by", "distinct input"),
        dataset_splits=inputs.meta.get("dataset_splits"),
        shared_fit_test=shared_keys(inputs.split_key, splits["fit"], splits[sweep.reported_split]),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        seed=cfg.seed,
        n_examples=inputs.n,
        n_train=sweep.n_train,
        n_test=sweep.n_test,
        splits={name: int(len(rows)) for name, rows in splits.items()},
        sites=list(sites),
        controls=list(cfg.controls),
        probes=list(cfg.probes),
        families={f: len(names) for f, (names, _) in inputs.families.items()},
        inputs=inputs.meta,
        task_metrics=(spec or {}).get("final_metrics"),
    )
    report = ProbeReport(sweep.rows, summary, None, sweep.correlations, sweep.correct,
                         weights=sweep.weights, targets=sweep.targets)  # fmt: skip
    if out is not None:
        write_report(report, out, cfg.probes)
    return report


def check_same_world(dataset_specs: Mapping, spec: Mapping | None, data) -> None:
    """Refuse a dataset generated from another world or task set than the checkpoint's spec.

    Probing it would silently report chance-level z, which reads exactly like "no world
    model". A checkpoint without a spec (any save_pretrained model) cannot be checked.
    """
    experiment = (spec or {}).get("experiment") or {}
    differ = [
        name
        for name in ("world", "tasks")
        if name in experiment and _canonical(experiment[name]) != _canonical(dataset_specs[name])
    ]
    if differ:
        details = "; ".join(
            f"{name}: checkpoint {json.dumps(experiment[name], sort_keys=True, default=str)}, "
            f"dataset {json.dumps(dataset_specs[name], sort_keys=True, default=str)}"
            for name in differ
        )
        raise ValueError(
            f"The dataset at {data} was generated from another {' and '.join(differ)} than the "
            f"checkpoint ({details}). Probe without --data to regenerate the checkpoint's own "
            f"inputs, or generate a dataset from the checkpoint's config."
        )


def _canonical(spec_dict: Mapping) -> str:
    """A spec dict as compared: key order does not matter."""
    return json.dumps(dict(spec_dict), sort_keys=True, default=str)


def _known(saved: Mapping) -> dict:
    names = set(ProbeConfig.__dataclass_fields__)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names}


def _replace(cfg: ProbeConfig, **changes) -> ProbeConfig:
    import dataclasses

    return dataclasses.replace(cfg, **changes)
