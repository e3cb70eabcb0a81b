"""The probe sweep: every probe fitted on every (model, site) representation, as tidy rows.

`probe_sweep` takes representations `reps[model][site]` and `ProbeInputs`, batches the
linear probes over sites of equal width and all targets at once (`fit_linear_probes`),
optionally fits an MLP probe per family, and returns one row per model × site × target
× probe × metric, plus identification error / MCC of the z probes and the matched
|correlation| matrices. The controls `recoding` and `control_task` are added to the
target families here, and constant targets are checked before any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from probekit.config import ProbeConfig
from probekit.probing.controls import control_task_labels, random_recoding
from probekit.probing.estimators import MLPProbe
from probekit.probing.inputs import ProbeInputs
from probekit.probing.metrics import identification_error, matched_correlation, predicted_latents
from probekit.probing.probes import fit_linear_probes

MODELS = ("trained", "random_init", "input")
CONTROLS = ("random_init", "input", "recoding", "control_task")
PROBES = ("linear", "mlp")
FAMILIES = ("z", "recoding", "control_task", "x", "tasks", "z_pairs", "user")
# Families an MLP probe is fitted on (the others are cheap linear read-outs only).
MLP_FAMILIES = ("z", "recoding", "control_task", "user")
_CHUNK_BYTES = 256 << 20  # float64 activations per batched linear fit


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
                ident = identification_error(predicted_latents(dec[fam]), truth)
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
                    corr[(model, site, probe)] = matched_correlation(
                        predicted_latents(dec[fam]), truth
                    )[0]

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
