"""The report's account of `probekit intervene`: does the model use what the probe finds?

`causal_blocks(name, intervene_dir)` reads RUN/intervene/summary.json (written by
`probekit.probing.causal`) and returns the paragraphs, the per-site table and the plot a run's
section shows; nothing when the run was not intervened on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from probekit.report.render import Figure, Table

HEADER = [
    "site",
    "probe z",
    "task acc",
    "steer (scale)",
    "interchange",
    "random direction",
    "no change",
    "flips: steer / interchange / random",
    "erase: dependent tasks before → after (reachable)",
    "erase: other tasks before → after",
    "random init: steer",
]


def _f(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(value, ci) -> str:
    return _f(value) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def causal_rows(summary: dict, key: str = "sites") -> list[list[str]]:
    """One row per site of the headline view (`sites`) or of the training inputs
    (`sites_seen`), with the random-init copy's steer (headline scope) beside it."""
    untrained = summary.get("random_init") or {} if key == "sites" else {}
    rows = []
    for site, e in summary[key].items():
        rows.append(
            [
                site + (" (decodable, not used)" if e.get("decodable_not_used") else ""),
                _ci(e["acc_z"], e.get("acc_z_ci")),
                _f(e.get("task_acc")),
                f"{_ci(e['steer_cf_acc'], e.get('steer_cf_acc_ci'))} ({e['scale']:g})",
                _ci(e["interchange_cf_acc"], e.get("interchange_cf_acc_ci")),
                _ci(e["random_direction_cf_acc"], e.get("random_direction_cf_acc_ci")),
                _f(e["none_cf_acc"]),
                " / ".join(
                    _f(e[f"{n}_flip"]) for n in ("steer", "interchange", "random_direction")
                ),
                f"{_f(e['erase_acc_dep_before'])} → {_f(e['erase_acc_dep'])} "
                f"({_f(e['erase_reachable_dep'])})",
                f"{_f(e['erase_acc_indep_before'])} → {_f(e['erase_acc_indep'])}",
                _f((untrained.get(site) or {}).get("steer_cf_acc")),
            ]
        )
    return rows


def causal_blocks(name: str, intervene_dir: Path) -> list:
    """Paragraphs, the per-site table and the plot of RUN/intervene; [] when it is missing."""
    path = Path(intervene_dir) / "summary.json"
    if not path.exists():
        return []
    summary = json.loads(path.read_text())
    head = summary["headline"]
    blocks: list = [
        f"Causal tests (`probekit intervene`, position {head['position']}, {head['scope']} "
        "inputs): at each site the state is steered across a linear probe's boundary for z_i, "
        "has z_i erased (LEACE), or has its component along the probe's normal swapped with an "
        "input whose z_i differs; every task's answer is compared with the world's exact "
        "counterfactual g_t(z with z_i flipped). Counterfactual accuracy is over (input, latent, "
        "task) pairs; 'flips' is the share of answers that should flip and do. 'No change' is "
        "the unedited model scored against the counterfactual: the baseline an intervention "
        "that does nothing gets."
    ]
    blocks.append(Table(HEADER, causal_rows(summary)))
    if summary.get("sites_seen"):
        blocks.append(
            "The same on the model's own training inputs, held out from the probe (behind a "
            "random bijection the only inputs on which the model knows its tasks):"
        )
        blocks.append(Table(HEADER, causal_rows(summary, "sites_seen")))
    flagged = summary.get("decodable_not_used") or []
    if flagged:
        blocks.append(
            "Decodable but not used (probe and task accuracy ≥ "
            f"{summary['thresholds']['decodable']}, fewer than "
            f"{summary['thresholds']['used']} of the answers flip under steering and "
            "interchange): "
            + "; ".join(f"{f['site']} ({f['position']}, {f['scope']})" for f in flagged)
            + "."
        )
    else:
        blocks.append("No site is decodable (≥ 0.8) and unused by these criteria.")
    png = Path(intervene_dir) / "causal_vs_probe.png"
    if png.exists():
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{name}-causal").strip("-")
        caption = (
            f"{name}: probe accuracy and counterfactual accuracy by layer (top) and the share "
            "of answers that flip as they should, with LEACE's erase effect (bottom)."
        )
        blocks.append(Figure(slug, caption, png.read_bytes()))
    return blocks
