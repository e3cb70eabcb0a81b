"""The rules behind `expected_recovery`, each naming the statement of docs/theory.md it rests on.

`decide(p)` reads the numbers `predict_specs` computed and returns `rules` (every rule,
whether it applies, what it says, `rests_on`, `heuristic`) and the decision:
`expected_recovery` ("yes" / "no" / "not_singled_out", the values `verdict` judges),
`reason`, `theory_result`, `decided_by`, `heuristic` and `expected_recovery_detail`.

Order of precedence:

1. The raw input already holds z (`input_decodable`): every latent is linearly decodable
   from x, or a least-squares probe on x already reaches `INPUT_ACCURACY_CUTOFF` (the
   verdict's recovery level; a cut-off of the toolkit, flagged heuristic). Not a §3 result:
   a probe of z cannot tell learning from the input then.
2. Tasks that are latents (`forced_latents`): a task equal to ±z_j, fitted by a linear
   head, makes z_j linearly decodable. This rule claims only the latents it forces: "yes"
   when it forces all d of them; otherwise the decision for z comes from the theory's
   rules below and the detail reads "partial: k of d latents forced".
3. The theory: tasks drawn in a recoded basis (results 4 and 5), uniform tasks (result 3),
   one task (result 1), then the cost comparison (result 2) combined with result 4's
   hypothesis (the tasks put more weight than uniform on low degree in z; `spectrum`).
   Without that hypothesis a cheaper route through ψ⁻¹ does not single out z: the toolkit
   then expects "not_singled_out" (its reading, flagged heuristic).
"""

from __future__ import annotations

from typing import Any

INPUT_ACCURACY_CUTOFF = 0.8
RESULT = "docs/theory.md §3 result {}"
INPUT_GROUNDS = (
    "docs/theory.md §1 (ψ⁻¹ of degree 1 is a signed permutation) and §6 (the raw-input "
    "control); a check of the input, not a §3 result"
)
FORCED_GROUNDS = (
    "docs/theory.md §1 (a task equal to ±z_j is a coordinate of a signed permutation, so a "
    "linear head that fits it reads z_j linearly); a fact about linear heads, not a §3 result"
)
THRESHOLD_GROUNDS = "docs/theory.md §3 result 2 (its rough threshold n ≳ d² / mean saving)"
INPUT_CITE = "docs/theory.md §1 and §6 (a check of the input, not a §3 result)"
FORCED_CITE = "docs/theory.md §1 (linear heads on single-latent tasks, not a §3 result)"


def rule(name: str, rests_on: str, applies: bool, says: str, heuristic: bool = False, **extra):
    """One rule of the output."""
    return {
        "rule": name,
        "rests_on": rests_on,
        "heuristic": bool(heuristic),
        "applies": bool(applies),
        "says": says,
        **extra,
    }


def _names(latents: list[int], limit: int = 12) -> str:
    shown = ", ".join(f"z_{j}" for j in latents[:limit])
    return shown + (f", … ({len(latents)} in all)" if len(latents) > limit else "")


def input_rule(p: dict) -> dict:
    d, probe = p["d"], p["input_linear_probe"]
    dec, acc = p["input_decodable_latents"], probe["mean_accuracy"]
    every = len(dec) == d
    by_cutoff = not every and acc is not None and acc >= INPUT_ACCURACY_CUTOFF
    acc_text = "unknown" if acc is None else f"{acc:.3f}"
    if every:
        says = "every latent is linearly decodable from the raw input x: the input already holds z"
    elif dec:
        says = (
            f"{len(dec)} of {d} latents are linearly decodable from x ({_names(dec)}); a "
            f"least-squares probe on x reaches mean accuracy {acc_text}"
        )
        if by_cutoff:
            says += (
                f" ≥ {INPUT_ACCURACY_CUTOFF:g}, the verdict's recovery level: the raw input "
                "already holds z as far as a probe can tell (the cut-off is the toolkit's)"
            )
    else:
        says = f"no latent is linearly decodable from x (least-squares probe accuracy {acc_text})"
    if probe["unknown"]:
        says += f"; unknown for {_names(probe['unknown'])}"
    return rule("input_decodable", INPUT_GROUNDS, every or by_cutoff, says, by_cutoff, latents=dec)


def forced_rule(p: dict) -> dict:
    d, lat = p["d"], p["latents"]
    forced = lat["forced_by_tasks"]
    if forced:
        says = (
            f"{len(forced)} of {d} latents forced: some task equals ±z_j for {_names(forced)} "
            "(a single latent), so a model that fits it with a linear head encodes z_j linearly"
        )
    else:
        says = "no task is a single latent ±z_j"
    if lat["unchecked_tasks"]:
        u = lat["unchecked_tasks"]
        says += f" ({u} task{'' if u == 1 else 's'} could not be checked)"
    return rule("forced_latents", FORCED_GROUNDS, bool(forced), says, latents=forced)


def _cost(p: dict) -> tuple[dict, str | None]:
    """The result-2 rule and 'hierarchical' / 'flat' / 'tie' (None: no cost known)."""
    d2, n, check = p["d_squared"], p["n"], p["cube_check"]
    if check is not None:
        cheaper = check["cheaper"]
        says = (
            f"through ψ⁻¹ the {n} task{'' if n == 1 else 's'} cost deg ψ⁻¹ (the sum of its "
            f"coordinate degrees) + Σ deg(g_i) = {check['psi_inverse_degree_sum']}"
            f" + {check['task_degree_z_sum']} = {check['hierarchical_total']} against "
            f"{check['flat_total']} flat: {cheaper}"
            + (" cheaper" if cheaper != "tie" else "")
            + " (exact degrees)"
        )
        return rule("cube_check", RESULT.format(2), True, says), cheaper
    total = p["total_saving"]
    if total is None:
        return rule("cube_check", RESULT.format(2), False, "no cost known"), None
    exceeds = total > d2
    says = (
        f"estimated total saving Σ deg(h_i | ψ⁻¹) ≈ {total:g} "
        f"{'exceeds' if exceeds else 'does not exceed'} d² = {d2} (degrees not all known: "
        "the saving per task is the toolkit's estimate)"
    )
    return rule("saving_vs_d_squared", RESULT.format(2), True, says, True), (
        "hierarchical" if exceeds else "flat"
    )


def _answer(expected, reason, results, decided_by, heuristic=False) -> dict:
    if len(results) == 1:
        cited = RESULT.format(results[0])
    else:
        cited = "docs/theory.md §3 results " + " and ".join(str(r) for r in results)
    return {
        "expected_recovery": expected,
        "reason": reason,
        "theory_result": cited,
        "decided_by": decided_by,
        "heuristic": bool(heuristic),
    }


def theory_answer(p: dict, rules: list[dict]) -> dict:
    """What the theory's results say about z (all latents), appending the rules used."""
    n, kind, spec = p["n"], p["distribution"]["kind"], p["distribution"]["spectrum"]
    dist = p["distribution"]["reason"]
    if kind == "recoded":
        rules.append(rule("task_basis", "docs/theory.md §3 results 4 and 5", True, dist))
        return _answer(
            "no",
            f"{dist}; z is not a linear function of T(z), so z itself is not expected to be "
            "linearly decodable (the task basis is T(z), not z)",
            [4, 5],
            ["task_basis"],
        )
    if kind == "uniform":
        rules.append(rule("no_free_lunch", RESULT.format(3), True, dist))
        return _answer(
            "not_singled_out",
            f"{dist}: every invertible recoding T(z) costs the same, so z should be no more "
            "linearly decodable than T(z)",
            [3],
            ["no_free_lunch"],
        )
    low = kind == "low_degree"
    spec_h = bool(spec and spec["heuristic"])
    rules.append(
        rule(
            "low_degree_preference",
            spec["rests_on"] if spec else RESULT.format(4),
            low,
            dist,
            spec_h if low else False,
        )
    )
    if n == 1:
        rules.append(
            rule(
                "single_task",
                RESULT.format(1),
                True,
                "one task: its flat realisation is never dearer, deg(h) ≤ deg(Φ) + deg(g)",
            )
        )
        return _answer(
            "no",
            "a single task is realised most cheaply flat, deg(h) ≤ deg(Φ) + deg(g)",
            [1],
            ["single_task"],
        )
    cost, cheaper = _cost(p)
    rules.append(cost)
    thr = p["threshold"]
    n_star = thr["n_star_exact"] or thr["n_star"]
    need = (
        f"about n* ≈ {n_star} task{'' if n_star == 1 else 's'} would be needed (the toolkit's "
        "rough threshold)"
        if n_star
        else "no number of tasks suffices"
    )
    if cheaper is None:
        return _answer(
            "no",
            "no degree is known, so no route through ψ⁻¹ can be shown cheaper",
            [2],
            [cost["rule"]],
            True,
        )
    if cheaper == "hierarchical" and low:
        return _answer(
            "yes",
            f"{cost['says']}, and the tasks favour low degree in z ({dist})",
            [2, 4],
            [cost["rule"], "low_degree_preference"],
            cost["heuristic"] or spec_h,
        )
    if cheaper == "hierarchical":
        return _answer(
            "not_singled_out",
            f"{cost['says']}, but the tasks do not put more weight than uniform on low degree in "
            f"z ({dist}), so result 4 does not apply and nothing singles out z among recodings "
            "T(z) (the toolkit's reading)",
            [2],
            [cost["rule"], "low_degree_preference"],
            True,
        )
    return _answer(
        "no",
        f"{cost['says']}, so the flat realisations are no dearer; {need}",
        [2],
        [cost["rule"]],
        cost["heuristic"],
    )


def decide(p: dict) -> dict[str, Any]:
    """rules + the decision (see the module docstring)."""
    d = p["d"]
    rules = [input_rule(p), forced_rule(p)]
    theory = theory_answer(p, rules)
    thr = p["threshold"]
    rules.append(
        rule(
            "threshold",
            THRESHOLD_GROUNDS,
            thr["n_star"] is not None,
            f"n* = ⌈d² / mean saving⌉ = {thr['n_star']}"
            + (
                f", ⌈deg ψ⁻¹ (sum of coordinate degrees) / mean saving⌉ = {thr['n_star_exact']}"
                if thr["n_star_exact"]
                else ""
            )
            + f" (mean saving {thr['mean_saving_per_task']:.3g} from {thr['source']})",
            True,
        )
    )
    forced = p["latents"]["forced_by_tasks"]
    inp = rules[0]
    if inp["applies"]:
        out = _answer(
            "yes",
            f"the raw input x already holds z: {inp['says']}; a probe of z cannot "
            "tell learning from the input",
            [],
            ["input_decodable"],
            inp["heuristic"],
        )
        out["theory_result"] = INPUT_CITE
        detail = "yes: the raw input already holds z"
    elif len(forced) == d:
        out = _answer(
            "yes",
            "every latent is forced by a single latent task (some task equals "
            "±z_j for every j), so a model that fits them with linear heads encodes "
            "all of z linearly, whatever the learner prefers",
            [],
            ["forced_latents"],
        )
        out["theory_result"] = FORCED_CITE
        detail = f"yes: all {d} latents forced by tasks"
    else:
        out = theory
        detail = theory["expected_recovery"]
        if forced:
            detail = (
                f"partial: {len(forced)} of {d} latents forced ({_names(forced)}); "
                f"the other {d - len(forced)}: {theory['expected_recovery']}"
            )
            out["reason"] = f"{detail}. For z as a whole: {theory['reason']}"
            out["decided_by"] = ["forced_latents", *theory["decided_by"]]
        dec = p["input_decodable_latents"]
        if dec:
            out["reason"] += f"; note: {_names(dec)} already linearly decodable from x"
    out["reason"] = out["reason"].rstrip(".") + "."
    out["expected_recovery_detail"] = detail
    out["input_decodable"] = inp["applies"]
    out["rules"] = rules
    return out
