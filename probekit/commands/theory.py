"""`probekit theory`: what the theory predicts for a world and task set (a table or JSON)."""

from __future__ import annotations

import argparse
import json
from typing import Any

MAX_TASK_ROWS = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit theory`."""
    parser.add_argument("--config", help="experiment YAML (default: built-in defaults)")
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")
    parser.add_argument(
        "--max-exact-d",
        type=int,
        default=None,
        help="largest d for the exact checks on the whole cube (default 12)",
    )
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. world.d=8 tasks.n=64")


def run(args: argparse.Namespace) -> int:
    """Load the config, predict, print."""
    from probekit.config import load_experiment
    from probekit.theory.predictions import MAX_EXACT_D, predict

    cfg = load_experiment(args.config, args.overrides)
    max_d = MAX_EXACT_D if args.max_exact_d is None else args.max_exact_d
    pred = predict(cfg, max_exact_d=max_d)
    print(json.dumps(pred, indent=2, ensure_ascii=False) if args.json else format_prediction(pred))
    return 0


def format_prediction(p: dict[str, Any]) -> str:
    """A human-readable table of a prediction dict."""
    w, t = p["world"], p["tasks"]
    lines = [
        f"world: d={p['d']} m={p['m']} observation={w['observation']} seed={w['seed']}",
        f"tasks: family={t['family']} n={p['n']} k={t['k']} target={t['target']} seed={t['seed']}",
        f"distribution: {p['distribution']['kind']} ({p['distribution']['reason']})",
        "",
    ]
    if p["per_task"] is not None:
        lines.append(f"{'task':>6} {'deg z':>6} {'deg x':>6} {'saved':>6}")
        for row in p["per_task"][:MAX_TASK_ROWS]:
            lines.append(
                f"{row['task']:>6} {row['degree_z']:>6} {row['degree_x']:>6} {row['saved']:>6}"
            )
        if p["n"] > MAX_TASK_ROWS:
            lines.append(f"{'…':>6} ({p['n'] - MAX_TASK_ROWS} more tasks; --json lists all)")
        dz, dx = p["degree_z"], p["degree_x"]
        lines.append(
            f"{'mean':>6} {dz['mean']:>6.2f} {dx['mean']:>6.2f} {dx['mean'] - dz['mean']:>6.2f}"
        )
        lines.append("")
    else:
        lines += [f"exact checks skipped: {p['exact_skipped_reason']}", ""]
    phi = p["psi_inverse_degree"]
    if phi is not None:
        lines.append(f"deg ψ⁻¹ (as a function of x): sum {phi['sum']}, max {phi['max']}")
    verb = "exceeds" if p["saving_exceeds_d_squared"] else "does not exceed"
    lines.append(
        f"total saving Σ deg(h_i | ψ⁻¹) = {p['total_saving']:g} {verb} d² = {p['d_squared']}"
    )
    check = p["cube_check"]
    if check is not None:
        lines.append(
            f"cube check: hierarchical {check['psi_inverse_degree_sum']} + "
            f"{check['task_degree_z_sum']} = {check['hierarchical_total']} vs flat "
            f"{check['flat_total']} -> {check['cheaper']} cheaper"
        )
    thr = p["threshold"]
    n_star = "none (no saving per task)" if thr["n_star"] is None else f"≈ {thr['n_star']}"
    lines.append(
        f"threshold n* = d² / mean saving {thr['mean_saving_per_task']:.3g} {n_star}"
        + (f" (deg ψ⁻¹ / mean saving ≈ {thr['n_star_exact']})" if thr["n_star_exact"] else "")
    )
    lines.append(f"  mean saving from: {thr['source']}")
    for note in p["notes"]:
        lines.append(f"note: {note}")
    lines += [
        "",
        f"expected recovery: {p['expected_recovery']}  [{p['theory_result']}]",
        f"  {p['reason']}",
    ]
    return "\n".join(lines)
