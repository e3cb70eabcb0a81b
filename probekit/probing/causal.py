"""`intervene_checkpoint`: does the model use what the probe finds? (`probekit intervene`)

For every site and latent z_i of a task-head checkpoint (mlp, gpt2, llama, bert), on inputs
held out from the probe, the state is edited along what a linear probe of z_i finds
(`probekit.probing.interventions`: steer, erase, interchange, and a random direction of the
same norm), the rest of the model runs on the edited state (`probekit.probing.hooks`), and
every task's answer is compared with the world's exact counterfactual g_t(z with z_i
flipped) (`probekit.probing.counterfactuals`).

The inputs and their splits are the probe's (`probekit.probing.controls.probe_splits`
with the probe seed, so the same as `probekit probe`'s): probes and LEACE erasers are
fitted on `fit`, the steering scale is chosen on `val_<scope>` (the scale with the highest
counterfactual accuracy, pooled over latents) and every number is reported on
`test_<scope>`. Scopes as for the probe: `unseen` (inputs the model never trained on, the
headline when some were held out) and `seen` (the model's training inputs, held out from
the probe). Controls: the random direction, the same interventions on a randomly
initialised copy (`random_init`), and the embedding site `embed`, where the input itself
is edited. The summary (`probekit.probing.causal_summary`) is documented in
docs/probing.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from probekit.config import ProbeConfig
from probekit.models.checkpoints import load_checkpoint, random_init_copy
from probekit.models.factory import REPRESENTATION_SITE
from probekit.probing.activations import (
    check_sites,
    extract_activations,
    is_token_model,
    site_names,
)
from probekit.probing.causal_summary import CausalReport, summarize_causal, write_causal_report
from probekit.probing.controls import probe_splits
from probekit.probing.counterfactuals import (
    counterfactual,
    counterfactual_scores,
    erasure_scores,
    signs,
    task_influence,
    world_and_tasks,
)
from probekit.probing.hooks import edited_logits, model_feed
from probekit.probing.inputs import inputs_from_spec
from probekit.probing.interventions import (
    DEFAULT_SCALES,
    POSITION_MODES,
    Placement,
    eraser_fn,
    fit_eraser,
    fit_latent_probes,
    interchange_shift,
    interchange_sources,
    map_edit,
    random_normals,
    shift_edit,
    steer_shift,
)
from probekit.probing.positions import tokenizer_roles

TASK_HEAD_KINDS = ("mlp", "gpt2", "llama", "bert")


def check_supported(model, spec: Mapping | None) -> None:
    """Refuse what cannot be scored against counterfactuals, saying why and what works."""
    kind = (((spec or {}).get("experiment") or {}).get("model") or {}).get("kind")
    if kind is not None and kind not in TASK_HEAD_KINDS or not hasattr(model.config, "n_tasks"):
        raise ValueError(
            f"`probekit intervene` scores the task heads of {', '.join(TASK_HEAD_KINDS)} "
            f"checkpoints; this one is {kind or type(model).__name__}. Next-token checkpoints "
            "(gpt2-lm, llama-lm, bert-mlm) are not supported: they answer a query with a "
            "token after it, and only the first answer of a sequence depends on x alone. "
            "Train the same world with model.kind=gpt2 (or llama, bert) to intervene."
        )
    if getattr(model.config, "target", "sign") != "sign":
        raise ValueError(
            "Counterfactual accuracy needs ±1 tasks (tasks.target=sign); this checkpoint's "
            f"tasks are {model.config.target!r}."
        )


def _probe_config(spec: Mapping, seed: int | None) -> ProbeConfig:
    saved = (spec.get("experiment") or {}).get("probe") or {}
    names = set(ProbeConfig.__dataclass_fields__)
    known = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names}
    cfg = ProbeConfig(**known)
    return cfg if seed is None else dataclasses.replace(cfg, seed=seed)


def _subsample(rows: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None or len(rows) <= n:
        return rows
    return np.sort(rng.choice(rows, size=n, replace=False))


def intervene_site(
    model,
    feed: Mapping[str, np.ndarray],
    acts: np.ndarray,
    z: np.ndarray,
    tasks,
    *,
    site: str,
    fit: np.ndarray,
    scopes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    place: Placement | None = None,
    latents: Sequence[int] | None = None,
    scales: Sequence[float] = DEFAULT_SCALES,
    influence: Mapping[int, np.ndarray] | None = None,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    cv: int = 3,
    seed: int = 0,
) -> dict[str, dict]:
    """Every intervention at one site, per scope: {scope: result}.

    `acts` (N, H) are the site's probed vectors for all N rows of `feed` (the read-out token,
    the mean of the x tokens, or the state itself, as `place` says); `z` (N, d) the latents;
    `tasks` evaluates g on z. Probes and erasers are fitted on rows `fit`; each scope gives
    (validation rows, test rows): the steering scale is chosen on the first, every number is
    reported on the second. Interchange sources are drawn from all N rows.
    """
    acts = np.asarray(acts, np.float64)
    z = np.asarray(z)
    latents = list(range(z.shape[1]) if latents is None else latents)
    if influence is None:
        influence = {i: task_influence(tasks, z.shape[1], i) for i in latents}
    probes = fit_latent_probes(acts[fit], z[fit][:, latents], Cs=Cs, cv=cv, seed=seed)
    ctx = {
        "model": model,
        "feed": feed,
        "site": site,
        "place": place or Placement("none"),
        "z": z,
        "tasks": tasks,
        "latents": latents,
        "scales": tuple(scales),
        "influence": influence,
        "pool": np.arange(len(z)),
        "probes": probes,
        "erasers": [fit_eraser(acts[fit], z[fit, i]) for i in latents],
        "random": random_normals(acts.shape[1], len(latents), np.random.default_rng([seed, 17])),
    }
    out = {}
    for k, (scope, (val, test)) in enumerate(scopes.items()):
        ctx["rng"] = np.random.default_rng([seed, 19, k])
        out[scope] = _score_site(ctx, acts, val, test)
    return out


def _score_site(ctx: dict, acts: np.ndarray, rows_val, rows_test) -> dict:
    """Every intervention at one site on one scope: per latent and pooled over latents."""
    probes, erasers, rnd = ctx["probes"], ctx["erasers"], ctx["random"]
    z, tasks, latents, scales, rng = (ctx[k] for k in ("z", "tasks", "latents", "scales", "rng"))

    def run(rows, factory=None):
        """±1 answers on `rows`; `factory(placement of rows)` builds the edit, None: unedited."""
        make = None if factory is None else factory(ctx["place"].rows(rows))
        return signs(edited_logits(ctx["model"], ctx["feed"], rows, ctx["site"], make))

    def steer(rows, k, scale, direction=None):
        shift = steer_shift(z[rows, latents[k]], probes[k], scale, direction)
        return run(rows, lambda place: shift_edit(shift, place))

    # The scale: the best counterfactual accuracy pooled over latents on validation inputs.
    val_acc = {}
    for s in scales:
        hits = [
            (steer(rows_val, k, s) == counterfactual(tasks, z[rows_val], i)[1]).mean()
            for k, i in enumerate(latents)
        ]
        val_acc[s] = float(np.mean(hits))
    scale = max(scales, key=lambda s: (val_acc[s], -s))  # ties: the smaller push

    rows, v = rows_test, acts[rows_test]
    base = run(rows)
    names = ("none", "steer", "interchange", "random_direction")
    pooled = {name: ([], [], []) for name in (*names, "erase")}
    by_scale = {s: [] for s in scales}
    per_latent, probe_hits = [], []
    for k, i in enumerate(latents):
        target, cf = counterfactual(tasks, z[rows], i)
        src = ctx["pool"][interchange_sources(z[rows, i], z[ctx["pool"], i], rng)]
        swap = interchange_shift(v, acts[src], probes[k])
        answers = {
            "none": base,
            "steer": steer(rows, k, scale),
            "interchange": run(rows, lambda place, sh=swap: shift_edit(sh, place)),
            "random_direction": steer(rows, k, scale, rnd[k]),
        }
        for s in scales:
            by_scale[s].append((answers["steer"] if s == scale else steer(rows, k, s)) == cf)
        erased = run(rows, lambda place, e=erasers[k]: map_edit(eraser_fn(e), place))
        hits = (probes[k].decision(v) > 0) == (z[rows, i] > 0)
        probe_hits.append(hits)
        entry = {"latent": int(i), "acc_z": float(hits.mean())}
        for name in names:
            entry[name] = counterfactual_scores(answers[name], target, cf, rng)
            for part, arr in zip(pooled[name], (answers[name], target, cf), strict=True):
                part.append(arr)
        depends = ctx["influence"][i] > 0
        entry["erase"] = erasure_scores(base, erased, target, cf, depends, rng)
        pooled["erase"][0].append(erased)
        per_latent.append(entry)
    out = {
        name: counterfactual_scores(*(np.concatenate(p, axis=1) for p in pooled[name]), rng)
        for name in names
    }
    # Pooled over latents the pairs are (input, latent, task): one column per (latent, task).
    target, cf = (np.concatenate(p, axis=1) for p in pooled["none"][1:])
    depends = np.concatenate([ctx["influence"][i] > 0 for i in latents])
    before = np.concatenate([base] * len(latents), axis=1)
    after = np.concatenate(pooled["erase"][0], axis=1)
    out["erase"] = erasure_scores(before, after, target, cf, depends, rng)
    out["steer"]["scale"] = out["random_direction"]["scale"] = scale
    return {
        "interventions": out,
        "per_latent": per_latent,
        "task_acc": float((base == tasks.evaluate(z[rows])).mean()),
        "steer_val_by_scale": val_acc,
        "steer_by_scale": {s: float(np.mean(by_scale[s])) for s in scales},
        "probe_hits": np.stack(probe_hits, axis=1),
    }


def intervene_checkpoint(
    checkpoint,
    *,
    out: str | Path | None = None,
    sites: Sequence[str] | None = None,
    positions: Sequence[str] | None = None,
    scales: Sequence[float] = DEFAULT_SCALES,
    latents: Sequence[int] | None = None,
    seed: int | None = None,
    max_inputs: int | None = 256,
    controls: Sequence[str] = ("random_init",),
    revision: str | None = None,
    progress: bool = True,
) -> CausalReport:
    """Steer, erase and interchange every latent at every site; score against counterfactuals."""
    ckpt = load_checkpoint(checkpoint, revision, progress=progress)
    model, spec = ckpt.model, ckpt.spec
    check_supported(model, spec)
    cfg = _probe_config(spec or {}, seed)
    scales = tuple(float(s) for s in scales)
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"--scales must be positive numbers, got {list(scales)}.")
    inputs = inputs_from_spec(spec or {}, cfg)
    world, tasks = world_and_tasks(spec)
    z = world.decode(np.asarray(inputs.feed["x"]).astype(np.int8))
    rng = np.random.default_rng(cfg.seed)
    splits = probe_splits(inputs.split_key, inputs.unseen, cfg.test_fraction, rng)
    fit = splits["fit"]
    varying = [i for i in range(world.d) if np.ptp(z[fit, i]) > 0]
    latents = list(varying if latents is None else latents)
    bad = [i for i in latents if i not in varying]
    if bad or not latents:
        raise ValueError(
            f"Latent(s) {bad or latents} cannot be intervened on: choose among {varying} "
            "(latents 0..d-1 that vary on the probe's fit inputs)."
        )
    token = is_token_model(model)
    all_sites = check_sites(sites, site_names(model))
    modes = list(positions or (POSITION_MODES if token else ("none",)))
    unknown = [p for p in modes if p not in (POSITION_MODES if token else ("none",))]
    if unknown:
        choices = ", ".join(POSITION_MODES) if token else "none (the MLP has no tokens)"
        raise ValueError(f"Unknown position(s) {unknown}; choose among {choices}.")
    feed = model_feed(model, inputs.feed)
    roles = None
    if token:
        if ckpt.tokenizer is None:
            raise ValueError("Token positions need the checkpoint's tokenizer files (none found).")
        roles = tokenizer_roles(ckpt.tokenizer, feed["input_ids"], feed.get("attention_mask"))
    scopes = ["unseen", "seen"] if len(splits["test_unseen"]) else ["seen"]
    sub_rng = np.random.default_rng([cfg.seed, 13])
    eval_rows = {
        s: (
            _subsample(splits[f"val_{s}"], max_inputs, sub_rng),
            _subsample(splits[f"test_{s}"], max_inputs, sub_rng),
        )
        for s in scopes
    }
    influence = {i: task_influence(tasks, world.d, i) for i in latents}
    models = {"trained": model}
    if "random_init" in controls:
        models["random_init"] = random_init_copy(model, seed=cfg.seed)
    results: dict = {}
    for name, m in models.items():
        for mode in modes:
            position = {"readout": _readout(m), "x": "mean_x", "none": "sep"}[mode]
            mode_sites = [s for s in all_sites if not (mode == "x" and s == REPRESENTATION_SITE)]
            acts = extract_activations(
                m,
                feed,
                sites=mode_sites,
                position=position,
                roles=roles,
                batch_size=cfg.batch_size,
                progress=progress,
            ).arrays
            for site in mode_sites:
                by_scope = intervene_site(
                    m,
                    feed,
                    acts[site],
                    z,
                    tasks,
                    site=site,
                    fit=fit,
                    scopes=eval_rows,
                    place=_placement(mode, site, roles, position),
                    latents=latents,
                    scales=scales,
                    influence=influence,
                    Cs=cfg.Cs,
                    cv=cfg.cv,
                    seed=cfg.seed,
                )
                for scope, res in by_scope.items():
                    results[(name, mode, scope, site)] = res
    summary, rows = summarize_causal(
        results, latents=latents, scales=scales, scopes=scopes, seed=cfg.seed
    )
    summary.update(
        checkpoint=str(ckpt.path),
        positions=modes,
        n_inputs={
            f"{k}_{s}": int(len(r))
            for s, (v, t) in eval_rows.items()
            for k, r in (("val", v), ("test", t))
        },
        n_fit=int(len(fit)),
        controls=["random_direction", "embed", *[c for c in controls if c == "random_init"]],
        task_influence={str(i): influence[i].tolist() for i in latents},
    )
    report = CausalReport(rows, summary, None)
    if out is not None:
        write_causal_report(report, out)
    return report


def _readout(model) -> str:
    backbone = getattr(model.config, "backbone_type", None) or model.config.model_type
    return "cls" if backbone == "bert" else "sep"


def _placement(mode: str, site: str, roles, position: str) -> Placement:
    """Where the probed vector sits in the site's state: `repr` and the MLP's states are it."""
    if mode == "none" or site == REPRESENTATION_SITE or roles is None:
        return Placement("none")
    if mode == "x":
        return Placement("x", x_mask=roles.x_mask)
    return Placement("readout", pos=roles.cls if position == "cls" else roles.sep)
