"""`probekit fourier`: Fourier–Walsh degrees of the tasks in z and in x.

probekit fourier --config configs/default.yaml [--json] [tasks.n=8 ...]
probekit fourier --world configs/worlds/d10.yaml --tasks configs/tasks/walsh_k2.yaml
"""

from __future__ import annotations

import argparse
import json

from probekit.commands.generate import add_config_arguments, config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit fourier`."""
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _weights(ws: list[float]) -> str:
    return " ".join(f"{w:.2f}" for w in ws)


def _flag(t: dict, k: int | None) -> str:
    """`=-z3` for a task equal to -z_3, `<k` for one of degree below k, `=T2` for ±T_2(z)."""
    flags = []
    if t.get("single_latent") is not None:
        flags.append(f"={'-' if t['sign'] < 0 else '+'}z{t['single_latent']}")
    if t.get("basis_coordinate") is not None:
        flags.append(f"=T{t['basis_coordinate']}")
    if t.get("below_k"):
        flags.append(f"<k={k}")
    return ",".join(flags) or "-"


def format_report(rep: dict) -> str:
    """The fourier report as a plain-text table with a summary."""
    d, m = rep["d"], rep["m"]
    k = rep.get("k")
    wz = f"W_k in z (k=0..{d})"
    wx = f"W_k in x (k=0..{m})"
    width_z = max(len(wz), 5 * (d + 1) - 1)
    flags = [_flag(t, k) for t in rep["tasks"]]
    width_f = max([len("flag")] + [len(f) for f in flags])
    lines = [
        f"world d={d} m={m} observation={rep['observation']}; "
        f"{rep['n_tasks']} task{'' if rep['n_tasks'] == 1 else 's'}, target={rep['target']}",
    ]
    if rep.get("task_summary"):
        lines.append(f"tasks ({rep['family']}, k={k}): {rep['task_summary']}")
    lines += [
        "deg z is the exact Fourier-Walsh degree of each task (its label for target=sign) in z",
        "",
        f"{'task':>4}  {'deg z':>5}  {'deg x':>5}  {'saving':>6}  {'flag':<{width_f}}  "
        f"{wz:<{width_z}}  {wx}",
    ]
    for t, flag in zip(rep["tasks"], flags, strict=True):
        lines.append(
            f"{t['task']:>4}  {t['degree_z']:>5}  {t['degree_x']:>5}  {t['saving']:>6}  "
            f"{flag:<{width_f}}  "
            f"{_weights(t['level_weights_z']):<{width_z}}  {_weights(t['level_weights_x'])}"
        )
    phi = rep["psi_inverse_degree"]
    verdict = "exceeds" if rep["saving_exceeds_d_squared"] else "does not exceed"
    needed = rep["tasks_needed_estimate"]
    n = rep["n_tasks"]
    latents = rep.get("latents_equal_to_tasks") or []
    count = (
        f"single-latent tasks (=±z_j): {rep.get('n_single_latent', 0)} of {n}"
        + (f" (latents {', '.join(str(j) for j in latents)})" if latents else "")
        + f"; degree in z below k={k}: {rep.get('n_below_k', 0)} of {n}"
    )
    if rep.get("basis") is not None:
        count += f"; equal to a basis coordinate ±T_r(z): {rep.get('n_basis_coordinate', 0)}"
    lines += [
        "",
        count,
        f"sum of degrees: in z {rep['sum_degree_z']} (mean {rep['mean_degree_z']:.2f}), "
        f"in x {rep['sum_degree_x']} (mean {rep['mean_degree_x']:.2f})",
        f"deg(psi^-1) in x: sum of coordinate degrees {phi['sum']}, max {phi['max']}",
        f"total saving {rep['total_saving']} {verdict} d^2 = {rep['d_squared']}",
        f"cost flat {rep['flat_cost']} vs through z {rep['hierarchical_cost']}",
        "tasks needed (d^2 / mean saving): "
        + ("n/a (no saving)" if needed is None else f"{needed:.0f}"),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Build the world and tasks and print their Fourier report."""
    from synthetic.task_degrees import fourier_report

    cfg = config_from_args(args, sections=("data", "model", "train", "probe"))
    world, tasks = cfg.build()
    rep = fourier_report(world, tasks)
    print(json.dumps(rep, indent=2) if args.json else format_report(rep))
    return 0
