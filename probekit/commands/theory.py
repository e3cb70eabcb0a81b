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
        help="largest d whose whole cube is enumerated (default 20); above it degrees are "
        "computed through ψ⁻¹'s GF(2) form or on small sub-cubes where possible",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="also store the prediction as RUN_DIR/prediction.json (never rewritten; an "
        "existing file made from another world/tasks config is an error)",
    )
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. world.d=8 tasks.n=64")


def run(args: argparse.Namespace) -> int:
    """Load the config, predict, print (and store with --run-dir)."""
    from probekit.config import load_experiment
    from probekit.theory.predictions import MAX_EXACT_D, predict, read_prediction, write_prediction

    cfg = load_experiment(args.config, args.overrides)
    max_d = MAX_EXACT_D if args.max_exact_d is None else args.max_exact_d
    if args.run_dir is not None:
        path = write_prediction(args.run_dir, cfg)
        pred = read_prediction(args.run_dir)["prediction"]
        note = f"prediction stored in {path}"
    else:
        pred, note = predict(cfg, max_exact_d=max_d), None
    print(json.dumps(pred, indent=2, ensure_ascii=False) if args.json else format_prediction(pred))
    if note and not args.json:
        print(note)
    return 0


def _deg(v: Any) -> str:
    return "?" if v is None else str(v)


def format_prediction(p: dict[str, Any]) -> str:
    """A human-readable table of a prediction dict."""
    w, t = p["world"], p["tasks"]
    dist = p["distribution"]
    lines = [
        f"world: d={p['d']} m={p['m']} observation={w['observation']} seed={w['seed']}",
        f"tasks: family={t['family']} n={p['n']} k={t['k']} target={t['target']} seed={t['seed']}",
        f"distribution: {dist['kind']} ({dist['reason']})",
        "",
    ]
    rows = p["per_task"]
    lines.append(f"{'task':>6} {'deg z':>6} {'deg x':>6} {'saved':>6}  single latent")
    for row in rows[:MAX_TASK_ROWS]:
        lat = "" if row["single_latent"] is None else f"z_{row['single_latent']}"
        lines.append(
            f"{row['task']:>6} {_deg(row['degree_z']):>6} {_deg(row['degree_x']):>6} "
            f"{_deg(row['saved']):>6}  {lat}"
        )
    if p["n"] > MAX_TASK_ROWS:
        more = p["n"] - MAX_TASK_ROWS
        lines.append(f"{'…':>6} ({more} more task{'' if more == 1 else 's'}; --json lists all)")
    dz, dx = p["degree_z"], p["degree_x"]
    if dz is not None and dx is not None:
        lines.append(f"{'mean':>6} {dz['mean']:>6.2f} {dx['mean']:>6.2f}")
    methods = p["degree_methods"]
    lines += [
        f"degrees in z: {methods['tasks_z']}",
        f"degrees in x: {methods['tasks_x']}",
    ]
    if not p["exact"]:
        lines.append(f"not exact: {p['exact_skipped_reason']}")
    lines.append("")
    phi = p["psi_inverse_degree"]
    per = ", ".join(_deg(v) for v in phi["per_coordinate"])
    lines.append(
        f"deg ψ⁻¹ as a function of x ({methods['psi_inverse']}): sum of coordinate degrees "
        f"{_deg(phi['sum'])}, max {_deg(phi['max'])}  [per coordinate: {per}]"
    )
    probe = p["input_linear_probe"]
    acc = probe["mean_accuracy"]
    lines.append(
        f"input decodable: {str(p['input_decodable']).lower()}; latents linearly decodable from x: "
        f"{p['input_decodable_latents'] or 'none'}"
        + ("" if acc is None else f"; least-squares probe on x, mean accuracy {acc:.3f}")
    )
    forced = p["latents"]["forced_by_tasks"]
    lines.append(f"latents forced by tasks (a task = ±z_j): {forced or 'none'}")
    verb = "exceeds" if p["saving_exceeds_d_squared"] else "does not exceed"
    approx = "" if p["total_saving_exact"] else "≈ "
    lines.append(
        f"total saving Σ deg(h_i | ψ⁻¹) = {approx}{p['total_saving']:g} {verb} d² = {p['d_squared']}"
        + ("" if p["total_saving_exact"] else " (estimate)")
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
        + (
            f" (sum of deg ψ⁻¹'s coordinate degrees / mean saving ≈ {thr['n_star_exact']})"
            if thr["n_star_exact"]
            else ""
        )
        + "  [heuristic]"
    )
    lines.append(f"  mean saving from: {thr['source']}")
    for note in p["notes"]:
        lines.append(f"note: {note}")
    lines += [
        "",
        "rules (✓ applies; [heuristic] = the toolkit's rule or cut-off, not the theory's):",
    ]
    for r in p["rules"]:
        mark = "✓" if r["applies"] else "·"
        tag = "  [heuristic]" if r["heuristic"] else ""
        lines.append(f"  {mark} {r['rule']}: {r['says']}{tag}")
        lines.append(f"      rests on {r['rests_on']}")
    tag = "  [heuristic: the toolkit's rule, not the theory's]" if p["heuristic"] else ""
    lines += ["", f"expected recovery: {p['expected_recovery']}  [{p['theory_result']}]{tag}"]
    detail = p["expected_recovery_detail"]
    if detail != p["expected_recovery"] and not p["reason"].startswith(detail):
        lines.append(f"  {detail}")
    lines.append(f"  {p['reason']}")
    return "\n".join(lines)
