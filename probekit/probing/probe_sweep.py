"""The probe sweep: every probe fitted on every (model, site) representation, as tidy rows.

`probe_sweep` takes representations `reps[model][site]` and `ProbeInputs`, batches the
linear probes over sites of equal width and all targets at once (`fit_linear_probes`),
optionally fits an MLP probe per family, and returns one row per model × site × target
× probe × metric. Probe-free rows (`probe: "units"`) hold the docs/theory.md §6 numbers of
each site's own units for z and for the alternative basis: the identification error and
MCC (matched on the probe's train rows, scored on its held-out rows) and the orthogonal
Procrustes correlation; the matched |correlation| matrices of the units are kept for the
plots. The controls `alt_basis` and `control_task` are added to the target families
here, and constant targets are checked before any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from probekit.config import ProbeConfig
from probekit.probing.controls import (
    alt_basis,
    alt_basis_recoding,
    control_task_labels,
    control_types,
)
from probekit.probing.estimators import MLPProbe
from probekit.probing.inputs import ProbeInputs
from probekit.probing.metrics import identification_error, matched_correlation, procrustes_corr
from probekit.probing.probes import fit_linear_probes

MODELS = ("trained", "random_init", "input")
CONTROLS = ("random_init", "input", "alt_basis", "control_task")
PROBES = ("linear", "mlp")
FAMILIES = ("z", "alt_basis", "control_task", "x", "tasks", "z_pairs", "user")
UNIT_FAMILIES = ("z", "alt_basis")  # families whose §6 numbers are computed on a site's units
# Families an MLP probe is fitted on (the others are cheap linear read-outs only).
MLP_FAMILIES = ("z", "alt_basis", "control_task", "user")
_CHUNK_BYTES = 256 << 20  # float64 activations per batched linear fit


def _add_controls(inputs: ProbeInputs, cfg: ProbeConfig, rng: np.random.Generator) -> None:
    names, primary = inputs.families[inputs.primary]
    # A basis of pair products needs d ≥ 3 (an invertible recoding with no single-bit row).
    if (
        "alt_basis" in cfg.controls
        and "z" in inputs.families
        and inputs.families["z"][1].shape[1] >= 3
    ):
        z = inputs.families["z"][1].astype(np.int8)
        recoding = inputs.alt_basis_recoding
        if recoding is None:
            recoding = alt_basis_recoding(z.shape[1], rng, weight=cfg.alt_basis_weight)
        inputs.meta["alt_basis_recoding"] = np.asarray(recoding).astype(int).tolist()
        inputs.families["alt_basis"] = (
            [f"T{i}" for i in range(z.shape[1])],
            alt_basis(z, recoding).astype(np.float64),
        )
    if "control_task" in cfg.controls:
        types = inputs.control_types
        if types is None:
            if "x" not in inputs.feed:
                raise ValueError(
                    "control_task needs control types or raw inputs x to draw them from."
                )
            types = control_types(inputs.feed["x"], cfg.control_type_bits, rng)
        inputs.meta["control_types"] = int(len(np.unique(types)))
        inputs.families["control_task"] = (
            list(names),
            control_task_labels(types, primary.shape[1], rng).astype(np.float64),
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


def _site_layer(site: str, sites: Sequence[str] = ()) -> int:
    """Layer number of a site: embed/input 0, layer.i i; any other site (the representation
    layer `repr`) comes after the last layer listed in `sites`."""
    if site in ("embed", "input"):
        return 0
    if site.startswith("layer."):
        return int(site.split(".")[1])
    return 1 + max((int(s.split(".")[1]) for s in sites if s.startswith("layer.")), default=0)


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
    """Rows of results.jsonl, per-input correctness for intervals, and the matched |corr| matrices.

    `correct[(model, site, probe, family, split)]` is (n_split, k) bool: whether each
    classification target was right on each input of that split (NaN-free; ridge targets
    are left out). `splits` holds the row indices of every split.
    """

    rows: list[dict]
    correlations: dict[tuple[str, str, str], np.ndarray]
    correct: dict[tuple[str, str, str, str, str], np.ndarray]
    splits: dict[str, np.ndarray]
    # (model, site) -> the fitted linear probes of every target: weight (T, F), bias (T,);
    # `targets` names them as "family/target", in the same order.
    weights: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.splits["fit"])

    @property
    def n_test(self) -> int:
        return len(self.splits[self.reported_split])

    @property
    def scope(self) -> str:
        """`unseen` when some inputs were held out of the model's training, else `seen`."""
        return "unseen" if len(self.splits.get("test_unseen", ())) else "seen"

    @property
    def reported_split(self) -> str:
        return f"test_{self.scope}"


EVAL_SPLITS = ("val_seen", "test_seen", "val_unseen", "test_unseen")


def probe_sweep(
    reps: Mapping[str, Mapping[str, np.ndarray]],
    inputs: ProbeInputs,
    *,
    cfg: ProbeConfig,
    probes: Sequence[str] = ("linear",),
    position: str = "sep",
    splits: Mapping[str, np.ndarray],
    progress: bool = True,
) -> SweepResult:
    """Fit every probe on every (model, site) representation; `reps[model][site]` is (N, F).

    Probes are fitted on `splits["fit"]` and scored on every other non-empty split; each
    row of the result names its `split`.
    """
    families = list(inputs.families.items())
    Y = np.concatenate([v for _, (_, v) in families], axis=1)
    spans, start = {}, 0
    for fam, (names, v) in families:
        spans[fam] = (names, slice(start, start + v.shape[1]))
        start += v.shape[1]
    fit_idx = np.asarray(splits["fit"])
    evals = {s: np.asarray(splits[s]) for s in EVAL_SPLITS if len(splits.get(s, ()))}
    test_idx = np.concatenate(list(evals.values()))
    where = {}  # split -> positions of its rows within test_idx
    offset = 0
    for s, idx in evals.items():
        where[s] = np.arange(offset, offset + len(idx))
        offset += len(idx)
    jobs = [(m, g) for m, arrays in reps.items() for g in _width_groups(arrays, inputs.n)]
    n_mlp = sum(len(a) for a in reps.values()) * sum(f in MLP_FAMILIES for f in spans)
    bar = tqdm(
        total=len(jobs) * ("linear" in probes) + n_mlp * ("mlp" in probes),
        desc="probes",
        disable=not progress,
    )
    rows, corr, correct, weights = [], {}, {}, {}

    def common(model, site, probe, split):
        pos = "none" if model == "input" or position == "none" else position
        layer = _site_layer(site, reps[model])
        return {
            "model": model,
            "site": site,
            "layer": layer,
            "position": pos,
            "probe": probe,
            "split": split,
        }

    def record(model, site, probe, pred, kinds):
        """pred (n_test_rows, T) in the targets' own coding, or predicted values (ridge)."""
        for split, pos in where.items():
            y = Y[test_idx[pos]]
            for fam, (names, sl) in spans.items():
                if fam not in kinds:
                    continue
                k = kinds[fam]
                p, yt = pred[fam][pos], y[:, sl]
                hit = p == yt
                logistic = np.array([kind == "logistic" for kind in k])
                if logistic.any():
                    correct[(model, site, probe, fam, split)] = hit[:, logistic]
                for i, name in enumerate(names):
                    if logistic[i]:
                        metric, value = "accuracy", hit[:, i].mean()
                    else:
                        ss = max(((yt[:, i] - yt[:, i].mean()) ** 2).sum(), 1e-30)
                        metric, value = "r2", 1 - ((yt[:, i] - p[:, i]) ** 2).sum() / ss
                    rows.append({**common(model, site, probe, split), "target_family": fam,
                                 "target": name, "metric": metric, "value": float(value)})  # fmt: skip

    for model, arrays in reps.items():
        for site, a in arrays.items():
            a = np.asarray(a, dtype=np.float64)
            for fam in UNIT_FAMILIES:
                if fam not in inputs.families:
                    continue
                truth = inputs.families[fam][1]
                for split, idx in evals.items():
                    if np.any(np.ptp(truth[idx], axis=0) == 0):
                        continue  # a target constant on a tiny split: no correlation to score
                    units = identification_error(
                        a[idx], truth[idx], match_on=(a[fit_idx], truth[fit_idx])
                    )
                    ortho = procrustes_corr(a[fit_idx], truth[fit_idx], a[idx], truth[idx])
                    values = {
                        "identification_error": units["identification_error"],
                        "mcc": units["mcc"],
                        "procrustes_corr": ortho["procrustes_corr"],
                    }
                    for metric, value in values.items():
                        rows.append({**common(model, site, "units", split), "target_family": fam,
                                     "target": "all", "metric": metric, "value": float(value)})  # fmt: skip
                if fam == "z":
                    reported = evals.get("test_unseen", evals.get("test_seen"))
                    corr[(model, site, "units")] = matched_correlation(
                        a[reported], truth[reported]
                    )[0]

    for model, sites in jobs:
        if "linear" not in probes:
            break
        arrays = reps[model]
        res = fit_linear_probes(
            [np.asarray(arrays[s]) for s in sites],
            Y,
            fit_idx,
            test_idx,
            Cs=cfg.Cs,
            cv=cfg.cv,
            seed=cfg.seed,
            groups=inputs.split_key,
        )
        for li, site in enumerate(sites):
            pred = {f: res.predictions[li][:, sl] for f, (_, sl) in spans.items()}
            kinds = {f: res.kinds[sl] for f, (_, sl) in spans.items()}
            record(model, site, "linear", pred, kinds)
            weights[(model, site)] = {"weight": res.weights[li], "bias": res.intercepts[li]}
        bar.update(1)
    if "mlp" in probes:
        for model, arrays in reps.items():
            for site, a in arrays.items():
                a = np.asarray(a)
                pred, kinds = {}, {}
                for fam, (_, sl) in spans.items():
                    if fam not in MLP_FAMILIES:
                        continue
                    probe = MLPProbe(
                        hidden=cfg.mlp_hidden, max_iter=cfg.mlp_steps, random_state=cfg.seed
                    ).fit(a[fit_idx], Y[fit_idx, sl])
                    out = np.asarray(probe.predict(a[test_idx])).reshape(len(test_idx), -1)
                    pred[fam], kinds[fam] = out, probe.kinds_
                    bar.update(1)
                record(model, site, "mlp", pred, kinds)
    bar.close()
    targets = [f"{fam}/{name}" for fam, (names, _) in spans.items() for name in names]
    split_rows = {k: np.asarray(v) for k, v in splits.items()}
    return SweepResult(rows, corr, correct, split_rows, weights, targets)
