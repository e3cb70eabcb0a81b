"""What `probekit intervene` writes: tidy rows, a per-site summary and the causal-vs-probe plot.

`summarize_causal` turns the per-(model, position, scope, site) results of
`probekit.probing.causal` into `results.jsonl` rows (one per model × site × position ×
scope × latent × intervention × scale × metric) and `summary.json` (docs/probing.md,
"What `probekit intervene` writes"); `write_causal_report` writes both and
`causal_vs_probe.png`, each atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probekit.probing.intervals import CONFIDENCE, mean_accuracy_interval
from synthetic.config import write_atomic

# A site "holds z_i decodably but the model does not use it" (the toolkit's own cut-offs):
# probe accuracy at least DECODABLE, task accuracy on those inputs at least DECODABLE, and
# neither steering nor interchange flips more than USED of the answers that should flip.
DECODABLE = 0.8
USED = 0.5
CF_METRICS = ("cf_acc", "cf_acc_flip", "cf_acc_stay")
ERASE_METRICS = (
    "acc_dep",
    "acc_dep_before",
    "acc_indep",
    "acc_indep_before",
    "reachable_dep",
    "erase_effect",
)


@dataclass
class CausalReport:
    """The outcome of `intervene_checkpoint`: tidy rows, the summary and where they were written."""

    rows: list[dict]
    summary: dict
    out: Path | None


def _layer(site: str, n_sites: int) -> int:
    if site == "embed":
        return 0
    if site.startswith("layer."):
        return int(site.split(".", 1)[1])
    return n_sites  # repr: after the last layer


def _rows_of(key, res, layer, scales) -> list[dict]:
    model, position, scope, site = key
    base = {"model": model, "site": site, "layer": layer, "position": position, "scope": scope}
    out = []

    def add(split, latent, intervention, scale, metric, value):
        if value is not None:
            out.append(
                {
                    **base,
                    "split": split,
                    "latent": latent,
                    "intervention": intervention,
                    "scale": scale,
                    "metric": metric,
                    "value": float(value),
                }
            )

    test = f"test_{scope}"
    for latent, scores in [
        ("all", res["interventions"]),
        *[(e["latent"], e) for e in res["per_latent"]],
    ]:
        for name in ("none", "steer", "interchange", "random_direction"):
            scale = (
                res["interventions"]["steer"]["scale"]
                if name in ("steer", "random_direction")
                else None
            )
            for metric in CF_METRICS:
                add(test, latent, name, scale, metric, scores[name][metric])
        for metric in ERASE_METRICS:
            add(test, latent, "erase", None, metric, scores["erase"][metric])
    for latent, entry in ((e["latent"], e) for e in res["per_latent"]):
        add(test, latent, "probe", None, "acc_z", entry["acc_z"])
    for s in scales:
        add(f"val_{scope}", "all", "steer", s, "cf_acc", res["steer_val_by_scale"][s])
        add(test, "all", "steer_sweep", s, "cf_acc", res["steer_by_scale"][s])
    return out


def _entry(res: dict, layer: int, rng: np.random.Generator) -> dict:
    iv = res["interventions"]
    hits = res["probe_hits"]
    lo, hi = mean_accuracy_interval(hits, rng)
    entry = {
        "layer": layer,
        "acc_z": float(hits.mean()),
        "acc_z_ci": [lo, hi],
        "acc_z_per_latent": [float(v) for v in hits.mean(axis=0)],
        "task_acc": res["task_acc"],
        "causal_acc": iv["steer"]["cf_acc"],
        "causal_acc_ci": iv["steer"]["cf_acc_ci"],
        "causal_acc_flip": iv["steer"]["cf_acc_flip"],
        "causal_acc_stay": iv["steer"]["cf_acc_stay"],
        "scale": iv["steer"]["scale"],
        "interventions": iv,
        "steer_by_scale": {str(s): v for s, v in res["steer_by_scale"].items()},
        "steer_val_by_scale": {str(s): v for s, v in res["steer_val_by_scale"].items()},
        "per_latent": res["per_latent"],
    }
    flips = [iv[n]["cf_acc_flip"] for n in ("steer", "interchange")]
    entry["decodable_not_used"] = bool(
        entry["acc_z"] >= DECODABLE
        and res["task_acc"] >= DECODABLE
        and all(f is not None and f < USED for f in flips)
    )
    return entry


def headline_row(entry: dict) -> dict:
    """The numbers of one site that tables show: probe, causal accuracies, controls."""
    iv = entry["interventions"]
    return {
        "layer": entry["layer"],
        "acc_z": entry["acc_z"],
        "acc_z_ci": entry["acc_z_ci"],
        "task_acc": entry["task_acc"],
        "causal_acc": entry["causal_acc"],
        "causal_acc_ci": entry["causal_acc_ci"],
        **{
            f"{n}_cf_acc": iv[n]["cf_acc"]
            for n in ("steer", "interchange", "random_direction", "none")
        },
        **{
            f"{n}_cf_acc_ci": iv[n]["cf_acc_ci"]
            for n in ("steer", "interchange", "random_direction", "none")
        },
        **{
            f"{n}_flip": iv[n]["cf_acc_flip"]
            for n in ("steer", "interchange", "random_direction", "none")
        },
        "erase_acc_dep": iv["erase"]["acc_dep"],
        "erase_acc_dep_ci": iv["erase"]["acc_dep_ci"],
        "erase_acc_dep_before": iv["erase"]["acc_dep_before"],
        "erase_reachable_dep": iv["erase"]["reachable_dep"],
        "erase_acc_indep": iv["erase"]["acc_indep"],
        "erase_acc_indep_before": iv["erase"]["acc_indep_before"],
        "erase_effect": iv["erase"]["erase_effect"],
        "scale": entry["scale"],
        "decodable_not_used": entry["decodable_not_used"],
    }


def summarize_causal(
    results: dict,
    *,
    latents: Sequence[int],
    scales: Sequence[float],
    scopes: Sequence[str],
    seed: int,
) -> tuple[dict, list[dict]]:
    """(summary, rows) from {(model, position, scope, site): result of one site and scope}."""
    rng = np.random.default_rng([seed, 23])
    sites_of = {}
    for model, position, _, site in results:
        sites_of.setdefault((model, position), []).append(site)
    models: dict = {}
    rows: list[dict] = []
    for key, res in results.items():
        model, position, scope, site = key
        layer = _layer(site, len(dict.fromkeys(sites_of[(model, position)])))
        rows += _rows_of(key, res, layer, scales)
        entry = _entry(res, layer, rng)
        models.setdefault(model, {}).setdefault(position, {}).setdefault(scope, {})[site] = entry
    trained = models.get("trained", {})
    position = next(iter(trained), None)
    headline = {"model": "trained", "position": position, "scope": scopes[0]}
    view = trained.get(position, {}).get(scopes[0], {})
    flagged = [
        {
            "model": m,
            "position": p,
            "scope": s,
            "site": site,
            "acc_z": e["acc_z"],
            "steer_flip": e["interventions"]["steer"]["cf_acc_flip"],
            "interchange_flip": e["interventions"]["interchange"]["cf_acc_flip"],
        }
        for m, by_pos in models.items()
        if m == "trained"
        for p, by_scope in by_pos.items()
        for s, by_site in by_scope.items()
        for site, e in by_site.items()
        if e["decodable_not_used"]
    ]
    summary = {
        "scope": scopes[0],
        "scopes": list(scopes),
        "latents": [int(i) for i in latents],
        "scales": [float(s) for s in scales],
        "seed": seed,
        "confidence": CONFIDENCE,
        "thresholds": {"decodable": DECODABLE, "used": USED},
        "headline": headline,
        "sites": {site: headline_row(e) for site, e in view.items()},
        # The model's own training inputs (held out from the probe), when the headline is unseen:
        # behind a random bijection the only scope where the model knows anything.
        "sites_seen": {
            site: headline_row(e) for site, e in trained.get(position, {}).get("seen", {}).items()
        }
        if scopes[0] != "seen"
        else {},
        "random_init": {
            s: headline_row(e)
            for s, e in models.get("random_init", {}).get(position, {}).get(scopes[0], {}).items()
        },
        "decodable_not_used": flagged,
        "models": models,
    }
    return summary, rows


def plot_causal(summary: dict) -> bytes:
    """PNG: per position and scope of the trained model, probe accuracy and causal accuracy by layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = summary["models"].get("trained", {})
    panels = [(p, s) for p in trained for s in summary["scopes"] if s in trained[p]]
    fig, axes = plt.subplots(2, len(panels), figsize=(4.6 * len(panels), 6.4), squeeze=False)
    styles = {
        "steer": ("tab:blue", "-"),
        "interchange": ("tab:orange", "-"),
        "random_direction": ("tab:gray", "--"),
        "none": ("black", ":"),
    }
    for col, (position, scope) in enumerate(panels):
        sites = trained[position][scope]
        names = list(sites)
        xs = np.arange(len(names))
        top, bottom = axes[0, col], axes[1, col]
        top.plot(xs, [sites[s]["acc_z"] for s in names], "k-o", label="probe acc z")
        for name, (color, ls) in styles.items():
            iv = [sites[s]["interventions"][name] for s in names]
            top.plot(xs, [v["cf_acc"] for v in iv], ls, color=color, marker=".", label=name)
            flip = [np.nan if v["cf_acc_flip"] is None else v["cf_acc_flip"] for v in iv]
            bottom.plot(xs, flip, ls, color=color, marker=".", label=name)
        effect = [sites[s]["interventions"]["erase"]["erase_effect"] for s in names]
        bottom.plot(
            xs,
            [np.nan if e is None else e for e in effect],
            "-",
            color="tab:green",
            marker="s",
            label="erase effect",
        )
        top.set_title(f"{position}, {scope} inputs", fontsize=9)
        top.set_ylabel("counterfactual acc (all pairs)")
        bottom.set_ylabel("answers that flip as they should")
        for ax in (top, bottom):
            ax.set_xticks(xs, names, rotation=30, fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        if col == 0:
            top.legend(fontsize=7)
            bottom.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_causal_report(report: CausalReport, out: str | Path) -> Path:
    """results.jsonl, summary.json and causal_vs_probe.png into `out`, each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.jsonl", "".join(json.dumps(r) + "\n" for r in report.rows))
    write_atomic(out / "summary.json", json.dumps(report.summary, indent=2, default=_jsonable))
    write_atomic(out / "causal_vs_probe.png", plot_causal(report.summary))
    report.out = out
    return out


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
