"""Compare a theory prediction (`probekit.theory.predictions.predict`) with a measurement.

The measurement is decided per latent, from intervals (`probekit.probing.summary`): a
latent is *recovered* at a site when the 95 % interval of its held-out probe accuracy
lies wholly above the intervals of the controls that read the same latent from another
representation: the untrained copy at the same site and the raw input. The outcome (`verdict`) is then

- `undecided`: the evidence cannot decide: fewer than `min_test` (25) reported test
  inputs, or the model did not fit its tasks on the inputs the outcome is reported on
  (task accuracy < `min_task_acc`, 0.9; docs/theory.md §5: a no-recovery result is only
  meaningful when the model fits its tasks), or the raw input already holds z
  (`input_decodable`), so no control can tell learning from the input;
- `recovered`: every latent recovered;
- `not_recovered`: no latent recovered, and every latent ruled out: its interval's upper
  end lies below the best control's accuracy + 0.1 (`latents_absent`); when some latents
  can be neither claimed nor ruled out, the outcome is `undecided`;
- `partial`: k of d latents recovered.

`agrees` compares it with the prediction: "yes" agrees with `recovered` and disagrees
with `not_recovered`; "no" agrees with `not_recovered` and disagrees with `recovered`
and with `partial` (latents decoded beyond the controls are what "no" rules out),
except that latents a task equals (`latents.forced_by_tasks` of the prediction) are
forced by the heads and left out of a "no";
"not_singled_out" (uniform tasks, result 3) disagrees when more latents of z are
recovered than of the alternative basis T(z), and agrees otherwise; `undecided` and a
"yes" meeting `partial` give `agrees: null`. Every reason names the controls compared
with and the numbers that decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OUTCOMES = ("recovered", "partial", "not_recovered", "undecided")
REQUIRED = ("latents_recovered", "d", "n_test", "task_acc")
# The controls a latent must clear: the same target read from other representations. The
# control task is reported beside (selectivity) but is another target: on these layers a
# linear probe fits a random labelling of 16 input-bit types at 0.9 and more, a simpler
# function of x than any z_i behind a non-linear psi, so it would gate out every latent.
CONTROLS_COMPARED = ("random_init", "raw_input")
MIN_TEST = 25
MIN_TASK_ACC = 0.9


def _int(measured: Mapping[str, Any], key: str) -> int:
    value = measured.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"measured[{key!r}] must be a non-negative integer, got {value!r}; a verdict "
            f"needs {', '.join(REQUIRED)} (see docs/probing.md)."
        )
    return value


def _accuracy(measured: Mapping[str, Any], key: str) -> float:
    value = measured.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"measured[{key!r}] must be an accuracy in [0, 1], got {value!r}.")
    return float(value)


def recovery_outcome(
    measured: Mapping[str, Any],
    prediction: Mapping[str, Any] | None = None,
    *,
    min_test: int = MIN_TEST,
    min_task_acc: float = MIN_TASK_ACC,
) -> tuple[str, str]:
    """One of OUTCOMES, with the numbers that decide it."""
    k, d, n_test = (_int(measured, key) for key in ("latents_recovered", "d", "n_test"))
    if k > d:
        raise ValueError(f"latents_recovered={k} exceeds d={d}.")
    task_acc = _accuracy(measured, "task_acc")
    scope = measured.get("scope", "unseen")
    where = "inputs the model never saw" if scope == "unseen" else "the model's training inputs"
    nums = f"{k} of {d} latents above the controls ({', '.join(CONTROLS_COMPARED)}) on {n_test} test inputs ({where})"
    why = []
    if (prediction or {}).get("input_decodable"):
        why.append(
            "the raw input already holds z, so no control separates learned from given latents"
        )
    if n_test < min_test:
        why.append(f"too few test inputs to decide ({n_test} < {min_test})")
    if task_acc < min_task_acc:
        why.append(
            f"the model did not fit its tasks on {where} (task accuracy {task_acc:.3f} < "
            f"{min_task_acc:g})"
        )
    if why:
        return "undecided", "; ".join(why) + f"; {nums}"
    if k == d:
        return "recovered", nums
    absent = measured.get("latents_absent")
    if k == 0 and (absent is None or absent == d):
        return "not_recovered", nums
    if k == 0:  # some latents can be neither claimed nor ruled out
        return "undecided", (
            f"too few test inputs to tell: {absent} of {d} latents ruled out (interval below "
            f"the best control + 0.1), none above the controls, the rest undetermined; {nums}"
        )
    return "partial", nums


def verdict(
    prediction: Mapping[str, Any],
    measured: Mapping[str, Any],
    *,
    min_test: int = MIN_TEST,
    min_task_acc: float = MIN_TASK_ACC,
) -> dict[str, Any]:
    """{"verdict": one of OUTCOMES, "agrees": True / False / None, "reason": ..., ...}."""
    expected = prediction.get("expected_recovery") if isinstance(prediction, Mapping) else None
    if expected not in ("yes", "no", "not_singled_out"):
        raise ValueError(
            f"prediction['expected_recovery'] must be 'yes', 'no' or 'not_singled_out', got "
            f"{expected!r}; pass the dict returned by probekit.theory.predictions.predict."
        )
    outcome, detail = recovery_outcome(
        measured, prediction, min_test=min_test, min_task_acc=min_task_acc
    )
    k, d = measured["latents_recovered"], measured["d"]
    if outcome == "undecided":
        agrees, why = None, "cannot be decided"
    elif expected == "not_singled_out":
        alt = measured.get("alt_latents_recovered")
        if alt is None:
            raise ValueError(
                "a not_singled_out prediction needs measured['alt_latents_recovered']."
            )
        agrees = k <= alt
        why = f"z {k} vs alternative basis T(z) {alt} latents recovered: z is " + (
            "not singled out" if agrees else "singled out"
        )
    elif expected == "yes":
        agrees = {"recovered": True, "not_recovered": False}.get(outcome)
        why = {
            "recovered": "recovery predicted and observed",
            "not_recovered": "recovery predicted, none observed",
        }.get(outcome, f"recovery predicted, partial ({k} of {d})")
    else:  # "no"
        # Latents a task equals are forced by the linear heads: the prediction says so
        # (`latents.forced_by_tasks`), and "no" is about the others only.
        forced = set(((prediction.get("latents") or {}).get("forced_by_tasks")) or [])
        recovered = measured.get("recovered_latents")
        if forced and recovered is not None:
            others = sorted(set(recovered) - forced)
            absent = measured.get("absent_latents")
            open_ = [] if absent is None else sorted(set(range(d)) - forced - set(absent))
            agrees = False if others else (None if open_ else True)
            why = f"no recovery predicted beyond the {len(forced)} latents tasks force" + (
                f", latents {others} recovered"
                if others
                else f", latents {open_} neither recovered nor ruled out"
                if open_
                else ", none observed"
            )
        else:
            agrees = outcome == "not_recovered"
            why = "no recovery predicted" + (
                ", none observed" if agrees else f", {k} of {d} latents recovered"
            )
    return {
        "verdict": outcome,
        "agrees": agrees,
        "reason": f"{why}: {detail}.",
        "expected_recovery": expected,
        "compared_with": list(CONTROLS_COMPARED),
        "measured": {
            key: measured.get(key)
            for key in (*REQUIRED, "scope", "acc_z", "acc_z_ci", "alt_latents_recovered")
            if key in measured
        },
        "thresholds": {"min_test": min_test, "min_task_acc": min_task_acc, "interval": 0.95},
    }


def measurement(
    probe_summary: Mapping[str, Any] | None, probe: str = "linear", scope: str | None = None
) -> dict[str, Any]:
    """What a verdict reads, from a `probekit probe` summary's best layer (docs/probing.md).

    `scope` None reads the summary's headline scope (`unseen` when the model held inputs
    out of training); "seen" reads the same numbers on the model's own training inputs.
    Also carries the headline numbers that tables print beside the verdict. Keys whose
    source is missing are None; `judge` turns that into an undecided verdict naming them.
    """
    summary = dict(probe_summary or {})
    if scope is not None and summary.get("scope") != scope:
        summary.update(summary.get(scope) or {"best_layer": {}, "scope": scope})
    best_layers = summary.get("best_layer") or {}
    best = best_layers.get(probe) or next(iter(best_layers.values()), None) or {}
    primary = summary.get("primary_family", "z")
    controls = best.get("controls") or {}
    per_latent = best.get(f"acc_{primary}_per_latent") or []
    return {
        "scope": summary.get("scope"),
        "site": best.get("site"),
        "latents_recovered": best.get("latents_recovered"),
        "latents_absent": best.get("latents_absent"),
        "absent_latents": best.get("absent_latents"),
        "recovered_latents": best.get("recovered_latents"),
        "alt_latents_recovered": best.get("alt_latents_recovered"),
        "d": len(per_latent) if per_latent else None,
        "n_test": best.get("n_test"),
        "task_acc": best.get("task_acc"),
        "task_acc_seen": summary.get("task_acc_seen"),
        "acc_z": best.get(f"acc_{primary}"),
        "acc_z_ci": best.get(f"acc_{primary}_ci"),
        "acc_z_min": best.get(f"acc_{primary}_min"),
        "acc_alt_basis": best.get("acc_alt_basis"),
        "acc_random_init": controls.get("random_init"),
        "acc_raw_input": controls.get("raw_input"),
        "acc_control_task": controls.get("control_task"),
        "mcc_units": best.get("mcc_units"),
        "rung": best.get("rung"),
    }


def judge(
    prediction: Mapping[str, Any] | None, measured: Mapping[str, Any], hint: str = ""
) -> dict[str, Any]:
    """`verdict`, or an undecided verdict naming what is missing (no prediction, no probe)."""
    if prediction is None:
        return {
            "verdict": "undecided",
            "agrees": None,
            "reason": "no prediction (the config did not load).",
        }
    missing = [k for k in REQUIRED if measured.get(k) is None]
    if (
        prediction.get("expected_recovery") == "not_singled_out"
        and measured.get("alt_latents_recovered") is None
    ):
        missing.append("alt_latents_recovered")
    if missing:
        return {
            "verdict": "undecided",
            "agrees": None,
            "reason": f"missing measurements: {', '.join(missing)}.{hint}",
        }
    return verdict(prediction, measured)
