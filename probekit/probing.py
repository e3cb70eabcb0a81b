"""A probe sweep: sites × target families × probes × controls -> tidy rows, a summary, plots.

`probe_checkpoint` is the whole pipeline behind `probekit probe`:

1. inputs: regenerated from the checkpoint's `probekit_spec.json` (the whole cube for
   small d), read from a generated dataset, or taken from any labelled text dataset;
2. targets, by family: `z` (the latents), `x` (observed bits), `tasks` (task values),
   `z_pairs` (the degree-2 characters z_i z_j), `user` (given arrays or label columns),
   and the controls `recoding` (a random invertible recoding T(z)) and `control_task`
   (random labels per distinct input, Hewitt & Liang);
3. representations: the checkpoint (`trained`), the same architecture randomly
   initialised (`random_init`) and the raw input itself (`input`: x, or a bag of
   tokens for text);
4. one seeded split by distinct inputs; linear probes batched over all sites and
   targets at once (`fit_linear_probes`), optionally an MLP probe per family;
5. `results.jsonl` (one row per model × site × target × probe × metric),
   `summary.json` and PNG plots, each written atomically.

Identification error and MCC (THEORY.md §6) are computed from the held-out decision
values of the d probes for z (one direction per latent), matched to the latents by
the Hungarian assignment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from probekit.activations import (
    check_inputs,
    check_sites,
    extract_activations,
    is_token_model,
    load_checkpoint,
    random_init_copy,
    site_names,
    tokenizer_roles,
)
from probekit.config import ProbeConfig
from probekit.controls import control_task_labels, random_recoding, split_by_distinct_inputs
from probekit.metrics import identification_error, matched_correlation
from probekit.probes import MLPProbe, fit_linear_probes

MODELS = ("trained", "random_init", "input")
CONTROLS = ("random_init", "input", "recoding", "control_task")
PROBES = ("linear", "mlp")
FAMILIES = ("z", "recoding", "control_task", "x", "tasks", "z_pairs", "user")
# Families an MLP probe is fitted on (the others are cheap linear read-outs only).
MLP_FAMILIES = ("z", "recoding", "control_task", "user")
_CHUNK_BYTES = 256 << 20  # float64 activations per batched linear fit


@dataclass
class ProbeInputs:
    """What a sweep probes: the model feed, target families and the key of distinct inputs."""

    feed: dict[str, np.ndarray]
    families: dict[str, tuple[list[str], np.ndarray]]
    split_key: np.ndarray
    input_rep: np.ndarray | None
    primary: str  # the family the headline numbers are about: z, else user
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.split_key)


# --------------------------------------------------------------------------- inputs


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
    return ProbeInputs(
        feed, _synthetic_families(cols, cfg.z_pairs), x, x.astype(np.float32), "z", meta
    )


def inputs_from_spec(spec: Mapping, cfg: ProbeConfig) -> ProbeInputs:
    """Regenerate world, tasks and probe inputs from a checkpoint's `probekit_spec.json`."""
    from synthetic.dataset import DataSpec
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
    meta = {"source": "spec", "d": world.d, "m": world.m, "n_tasks": tasks.n, "cube": on_cube}
    return _synthetic_inputs(cols, cfg, meta)


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
    return _synthetic_inputs(cols, cfg, meta)


def _label_family(columns: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Binary columns stay one target, multi-class ones become one-vs-rest, numeric many-valued ones ridge."""
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
        elif numeric and (col.dtype.kind == "f" or len(values) > 20):
            names.append(name)
            out.append(col.astype(np.float64))
        else:
            for v in values:
                names.append(f"{name}={v}")
                out.append(np.where(col == v, 1.0, -1.0))
    return names, np.stack(out, axis=1)


def inputs_from_text(
    path: str | Path,
    tokenizer,
    *,
    text_column: str = "text",
    label_columns: Sequence[str] = (),
    split: str | None = None,
    max_length: int | None = None,
) -> ProbeInputs:
    """Probe inputs from a `datasets` dataset saved with `save_to_disk` (text + label columns)."""
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        split = split or next((s for s in ("test", "validation", "train") if s in ds), list(ds)[0])
        if split not in ds:
            raise ValueError(f"Split {split!r} is not in {path}. Available: {', '.join(ds)}")
        ds = ds[split]
    missing = [c for c in [text_column, *label_columns] if c not in ds.column_names]
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
    names, labels = _label_family({c: np.asarray(ds[c]) for c in label_columns})
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
    vocab = len(tokenizer)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    bag = np.zeros((len(ids), vocab), np.float32)
    np.add.at(bag, (rows, ids.reshape(-1)), mask.reshape(-1))
    meta = {
        "source": "text",
        "path": str(path),
        "text_column": text_column,
        "label_columns": list(label_columns),
    }
    return ProbeInputs(
        {"input_ids": ids, "attention_mask": mask},
        {"user": (names, labels)},
        key,
        bag,
        "user",
        meta,
    )


# --------------------------------------------------------------------------- the sweep


def _add_controls(inputs: ProbeInputs, controls: Sequence[str], rng: np.random.Generator) -> None:
    names, primary = inputs.families[inputs.primary]
    if "recoding" in controls and "z" in inputs.families:
        inputs.families["recoding"] = (
            [f"T{i}" for i in range(primary.shape[1])],
            random_recoding(primary.astype(np.int8), rng).astype(np.float64),
        )
    if "control_task" in controls:
        inputs.families["control_task"] = (
            list(names),
            control_task_labels(inputs.split_key, primary.shape[1], rng).astype(np.float64),
        )


def _check_targets(inputs: ProbeInputs, train_idx: np.ndarray) -> None:
    """Constant targets: an error for the primary family, silently dropped for derived ones."""
    for family, (names, values) in list(inputs.families.items()):
        constant = np.ptp(values[train_idx], axis=0) == 0
        if not constant.any():
            continue
        if family == inputs.primary:
            bad = [names[i] for i in np.flatnonzero(constant)]
            raise ValueError(
                f"Target(s) {', '.join(bad)} of family {family!r} have a single class on the "
                "training inputs; a probe cannot be trained on them. Use more examples, a "
                "world without constant latents, or drop those labels."
            )
        keep = ~constant
        inputs.families[family] = (
            [n for n, k in zip(names, keep, strict=True) if k],
            values[:, keep],
        )


def _site_layer(site: str) -> int:
    return 0 if site in ("embed", "input") else int(site.split(".")[1])


def _width_groups(arrays: Mapping[str, np.ndarray], n: int) -> list[list[str]]:
    """Sites of equal width, chunked so one batched fit holds at most _CHUNK_BYTES."""
    by_width: dict[int, list[str]] = {}
    for site, a in arrays.items():
        by_width.setdefault(a.shape[1], []).append(site)
    out = []
    for width, sites in by_width.items():
        per = max(1, _CHUNK_BYTES // max(1, n * width * 8))
        out += [sites[i : i + per] for i in range(0, len(sites), per)]
    return out


@dataclass
class SweepResult:
    """Rows of results.jsonl plus the matched |correlation| matrices per (model, site, probe)."""

    rows: list[dict]
    correlations: dict[tuple[str, str, str], np.ndarray]
    n_train: int
    n_test: int


def _score_rows(common, family, names, scores, metric_of):
    return [
        {
            **common,
            "target_family": family,
            "target": name,
            "metric": metric_of(i),
            "value": float(scores[i]),
        }
        for i, name in enumerate(names)
    ]


def probe_sweep(
    reps: Mapping[str, Mapping[str, np.ndarray]],
    inputs: ProbeInputs,
    *,
    cfg: ProbeConfig,
    probes: Sequence[str] = ("linear",),
    position: str = "sep",
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    progress: bool = True,
) -> SweepResult:
    """Fit every probe on every (model, site) representation; `reps[model][site]` is (N, F)."""
    families = list(inputs.families.items())
    Y = np.concatenate([v for _, (_, v) in families], axis=1)
    spans, start = {}, 0
    for fam, (names, v) in families:
        spans[fam] = (names, slice(start, start + v.shape[1]))
        start += v.shape[1]
    jobs = [(m, g) for m, arrays in reps.items() for g in _width_groups(arrays, inputs.n)]
    n_mlp = sum(len(a) for a in reps.values()) * sum(f in MLP_FAMILIES for f in spans)
    bar = tqdm(
        total=len(jobs) * ("linear" in probes) + n_mlp * ("mlp" in probes),
        desc="probes",
        disable=not progress,
    )
    rows, corr = [], {}
    z_test = inputs.families["z"][1][test_idx] if "z" in inputs.families else None

    def record(model, site, probe, dec, scores, kinds):
        pos = "none" if model == "input" or position == "none" else position
        common = {
            "model": model,
            "site": site,
            "layer": _site_layer(site),
            "position": pos,
            "probe": probe,
        }
        for fam, (names, _) in spans.items():
            if fam not in scores:
                continue
            kind = kinds[fam]
            rows.extend(
                _score_rows(
                    common,
                    fam,
                    names,
                    scores[fam],
                    lambda i, k=kind: "accuracy" if k[i] == "logistic" else "r2",
                )
            )
        for fam in ("z", "recoding"):
            if fam in dec and z_test is not None:
                truth = z_test if fam == "z" else inputs.families["recoding"][1][test_idx]
                ident = identification_error(dec[fam], truth)
                for metric in ("identification_error", "mcc"):
                    rows.append(
                        {
                            **common,
                            "target_family": fam,
                            "target": "all",
                            "metric": metric,
                            "value": float(ident[metric]),
                        }
                    )
                if fam == "z":
                    corr[(model, site, probe)] = matched_correlation(dec[fam], truth)[0]

    for model, sites in jobs:
        if "linear" not in probes:
            break
        arrays = reps[model]
        res = fit_linear_probes(
            [np.asarray(arrays[s]) for s in sites],
            Y,
            train_idx,
            test_idx,
            Cs=cfg.Cs,
            cv=cfg.cv,
            seed=cfg.seed,
            groups=inputs.split_key,
        )
        for li, site in enumerate(sites):
            scores = {f: res.scores[li, sl] for f, (_, sl) in spans.items()}
            dec = {f: res.decision_test[li][:, sl] for f, (_, sl) in spans.items()}
            kinds = {f: res.kinds[sl] for f, (_, sl) in spans.items()}
            record(model, site, "linear", dec, scores, kinds)
        bar.update(1)
    if "mlp" in probes:
        for model, arrays in reps.items():
            for site, a in arrays.items():
                a = np.asarray(a)
                scores, dec, kinds = {}, {}, {}
                for fam, (_, sl) in spans.items():
                    if fam not in MLP_FAMILIES:
                        continue
                    probe = MLPProbe(
                        hidden=cfg.mlp_hidden, max_iter=cfg.mlp_steps, random_state=cfg.seed
                    ).fit(a[train_idx], Y[train_idx, sl])
                    yt = Y[test_idx, sl]
                    pred = np.asarray(probe.predict(a[test_idx])).reshape(len(test_idx), -1)
                    kinds[fam] = probe.kinds_
                    scores[fam] = np.array(
                        [
                            (pred[:, i] == yt[:, i]).mean()
                            if k == "logistic"
                            else 1
                            - ((yt[:, i] - pred[:, i]) ** 2).sum()
                            / max(((yt[:, i] - yt[:, i].mean()) ** 2).sum(), 1e-30)
                            for i, k in enumerate(probe.kinds_)
                        ]
                    )
                    dec[fam] = np.asarray(probe.decision_function(a[test_idx])).reshape(
                        len(test_idx), -1
                    )
                    bar.update(1)
                record(model, site, "mlp", dec, scores, kinds)
    bar.close()
    return SweepResult(rows, corr, len(train_idx), len(test_idx))


# --------------------------------------------------------------------------- summary


def _mean(rows, **match) -> float | None:
    vals = [r["value"] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.mean(vals)) if vals else None


def summarize(sweep: SweepResult, inputs: ProbeInputs, probes: Sequence[str]) -> dict:
    """Per model, probe and site: mean accuracy on the primary family, on T(z), on control
    tasks, selectivity, identification error and MCC; and the best layer of the trained model."""
    primary = inputs.primary
    rows = [
        r for r in sweep.rows if r["metric"] in ("accuracy", "r2", "identification_error", "mcc")
    ]
    out: dict = {"primary_family": primary, "models": {}}
    for model in dict.fromkeys(r["model"] for r in rows):
        out["models"][model] = {}
        for probe in probes:
            per_site = {}
            for site in dict.fromkeys(r["site"] for r in rows if r["model"] == model):
                sel = [
                    r
                    for r in rows
                    if r["model"] == model and r["probe"] == probe and r["site"] == site
                ]
                if not sel:
                    continue
                scores = [r for r in sel if r["metric"] in ("accuracy", "r2")]
                entry = {"layer": _site_layer(site)}
                for fam in inputs.families:
                    entry[f"acc_{fam}"] = _mean(scores, target_family=fam)
                entry["selectivity"] = (
                    None
                    if entry.get("acc_control_task") is None
                    else entry[f"acc_{primary}"] - entry["acc_control_task"]
                )
                for metric in ("identification_error", "mcc"):
                    entry[metric] = _mean(sel, target_family="z", metric=metric)
                per_site[site] = {k: v for k, v in entry.items() if v is not None}
            if per_site:
                out["models"][model][probe] = per_site
    trained = out["models"].get("trained", {})
    out["best_layer"] = {}
    for probe, per_site in trained.items():
        site = max(per_site, key=lambda s: (per_site[s][f"acc_{primary}"], -per_site[s]["layer"]))
        best = {"site": site, **per_site[site]}
        for control in ("random_init", "input"):
            other = out["models"].get(control, {}).get(probe, {})
            at = other.get(site) or next(iter(other.values()), None)
            if at is not None:
                best[f"{control}_acc_{primary}"] = at[f"acc_{primary}"]
        out["best_layer"][probe] = best
    return out


# --------------------------------------------------------------------------- the pipeline


@dataclass
class ProbeReport:
    """The outcome of `probe_checkpoint`: tidy rows, the summary and where they were written."""

    rows: list[dict]
    summary: dict
    out: Path | None
    correlations: dict = field(default_factory=dict)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(report: ProbeReport, out: str | Path, probes: Sequence[str]) -> Path:
    """results.jsonl, summary.json and the PNG plots into `out`, each written atomically."""
    from probekit import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_text(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in report.rows))
    _atomic_text(out / "summary.json", json.dumps(report.summary, indent=2))
    primary = report.summary["primary_family"]
    for probe in probes:
        plots.plot_layer_accuracy(
            report.summary, out / f"accuracy_{probe}.png", probe=probe, family=primary
        )
        best = report.summary["best_layer"].get(probe)
        matrix = best and report.correlations.get(("trained", best["site"], probe))
        if matrix is not None:
            plots.plot_correlation_matrix(
                matrix,
                out / f"correlation_{probe}.png",
                title=f"trained, {best['site']}, {probe} probe",
            )
    report.out = out
    return out


def probe_checkpoint(
    checkpoint,
    *,
    data: str | Path | None = None,
    text_dataset: str | Path | None = None,
    text_column: str = "text",
    label_columns: Sequence[str] = (),
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
) -> ProbeReport:
    """Probe a checkpoint (run dir, final dir, Hub id or model) layer by layer, with controls."""
    ckpt = load_checkpoint(checkpoint, revision) if isinstance(checkpoint, (str, Path)) else None
    model = ckpt.model if ckpt else checkpoint
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
    cfg = _replace(config, **changes)  # ProbeConfig validates probes, controls, position

    if text_dataset is not None:
        inputs = inputs_from_text(
            text_dataset,
            tokenizer,
            text_column=text_column,
            label_columns=label_columns,
            split=split,
        )
    elif data is not None:
        inputs = inputs_from_dataset(data, cfg, split)
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
        {k: inputs.feed[k] for k in ("input_ids", "attention_mask") if k in inputs.feed}
        if token_model
        else {"x": inputs.feed.get("x")}
    )
    check_inputs(model, feed)
    sites = check_sites(sites, site_names(model))
    roles = None
    if token_model:
        if tokenizer is None:
            raise ValueError("Token positions need the checkpoint's tokenizer files (none found).")
        roles = tokenizer_roles(tokenizer, feed["input_ids"], feed.get("attention_mask"))
    rng = np.random.default_rng(cfg.seed)
    train_idx, test_idx = split_by_distinct_inputs(inputs.split_key, cfg.test_fraction, rng)
    _add_controls(inputs, cfg.controls, rng)
    _check_targets(inputs, train_idx)

    if cache_dir is None and out is not None:
        cache_dir = Path(out) / "cache"
    models = {"trained": model}
    if "random_init" in cfg.controls:
        models["random_init"] = random_init_copy(model, seed=cfg.seed)
    reps, position = {}, cfg.position if token_model else "none"
    for name, m in models.items():
        acts = extract_activations(
            m,
            feed,
            sites=sites,
            position=cfg.position,
            roles=roles,
            batch_size=cfg.batch_size,
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
        train_idx=train_idx,
        test_idx=test_idx,
        progress=progress,
    )
    summary = summarize(sweep, inputs, cfg.probes)
    summary.update(
        checkpoint=str(ckpt.path) if ckpt else type(model).__name__,
        position=position,
        seed=cfg.seed,
        n_examples=inputs.n,
        n_train=sweep.n_train,
        n_test=sweep.n_test,
        sites=list(sites),
        controls=list(cfg.controls),
        probes=list(cfg.probes),
        families={f: len(names) for f, (names, _) in inputs.families.items()},
        inputs=inputs.meta,
        task_metrics=(spec or {}).get("final_metrics"),
    )
    report = ProbeReport(sweep.rows, summary, None, sweep.correlations)
    if out is not None:
        write_report(report, out, cfg.probes)
    return report


def _known(saved: Mapping) -> dict:
    names = set(ProbeConfig.__dataclass_fields__)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names}


def _replace(cfg: ProbeConfig, **changes) -> ProbeConfig:
    import dataclasses

    return dataclasses.replace(cfg, **changes)
