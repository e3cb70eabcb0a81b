"""Compare a theory prediction (`probekit.theory.predictions.predict`) with a measured outcome.

Rules (every threshold is a keyword argument with the default shown):

- The *control* level is max(probe_acc_recoding, probe_acc_random_init): how well a
  linear probe reads a random recoding T(z), or z from an untrained copy.
- Recovery is **observed** when probe_acc_z ≥ `min_probe_acc` (0.8) and exceeds the
  control by more than `margin` (0.15); **not observed** when |probe_acc_z − control|
  ≤ `null_margin` (0.1); anything else is **ambiguous**.
- expected "yes": observed → agrees; not observed → disagrees, unless the model did
  not fit its tasks (task_acc < `min_task_acc`, 0.9), which makes it inconclusive;
  ambiguous → inconclusive.
- expected "no": observed → disagrees; not observed → agrees only if the model fits
  its tasks (docs/theory.md §5: a no-recovery control is only meaningful then), else
  inconclusive; ambiguous → inconclusive.
- expected "not_singled_out" (uniform tasks, result 3): probe_acc_z − probe_acc_recoding
  > `margin` → disagrees; otherwise agrees if the model fits its tasks, else
  inconclusive.
- A prediction flagged `input_decodable` (ψ⁻¹ of degree 1: z is a signed permutation
  of x) is always inconclusive: the controls cannot tell learning from the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

REQUIRED = ("task_acc", "probe_acc_z", "probe_acc_recoding", "probe_acc_random_init")
OPTIONAL = ("identification_error", "mcc")
VERDICTS = ("agrees", "disagrees", "inconclusive")


def _number(measured: Mapping[str, Any], key: str) -> float:
    if key not in measured or measured[key] is None:
        raise ValueError(
            f"measured[{key!r}] is missing; a verdict needs {', '.join(REQUIRED)} "
            "(accuracies in [0, 1])."
        )
    value = measured[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"measured[{key!r}] must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"measured[{key!r}] must be an accuracy in [0, 1], got {value!r}.")
    return value


def recovery_status(
    measured: Mapping[str, Any],
    *,
    margin: float = 0.15,
    min_probe_acc: float = 0.8,
    null_margin: float = 0.1,
) -> tuple[str, str]:
    """'observed', 'not_observed' or 'ambiguous', with the numbers that decide it."""
    z = _number(measured, "probe_acc_z")
    rec = _number(measured, "probe_acc_recoding")
    rand = _number(measured, "probe_acc_random_init")
    control = max(rec, rand)
    gap = z - control
    nums = (
        f"probe_acc_z = {z:.3f} vs control max(recoding {rec:.3f}, random init {rand:.3f}) "
        f"= {control:.3f}, gap {gap:+.3f}"
    )
    if gap > margin and z >= min_probe_acc:
        return "observed", f"{nums} > {margin:g} and probe_acc_z ≥ {min_probe_acc:g}"
    if abs(gap) <= null_margin:
        return "not_observed", f"{nums}, within ±{null_margin:g} of the control"
    if gap > margin:
        return "ambiguous", f"{nums} > {margin:g} but probe_acc_z < {min_probe_acc:g}"
    return "ambiguous", f"{nums}, neither > {margin:g} nor within ±{null_margin:g}"


def verdict(
    prediction: Mapping[str, Any],
    measured: Mapping[str, Any],
    *,
    margin: float = 0.15,
    min_probe_acc: float = 0.8,
    null_margin: float = 0.1,
    min_task_acc: float = 0.9,
) -> dict[str, Any]:
    """'agrees', 'disagrees' or 'inconclusive' for a prediction and a measurement, with why."""
    expected = prediction.get("expected_recovery") if isinstance(prediction, Mapping) else None
    if expected not in ("yes", "no", "not_singled_out"):
        raise ValueError(
            f"prediction['expected_recovery'] must be 'yes', 'no' or 'not_singled_out', got "
            f"{expected!r}; pass the dict returned by probekit.theory.predictions.predict."
        )
    for name, value in (("margin", margin), ("null_margin", null_margin)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value!r}.")
    task_acc = _number(measured, "task_acc")
    status, detail = recovery_status(
        measured, margin=margin, min_probe_acc=min_probe_acc, null_margin=null_margin
    )
    fits = task_acc >= min_task_acc
    unfit = f"the model did not fit its tasks (task_acc = {task_acc:.3f} < {min_task_acc:g})"

    if prediction.get("input_decodable"):
        result, reason = (
            "inconclusive",
            "z is a signed permutation of the input x, so probe controls cannot separate "
            f"learned from given latents ({detail})",
        )
    elif expected == "not_singled_out":
        z = _number(measured, "probe_acc_z")
        rec = _number(measured, "probe_acc_recoding")
        gap = z - rec
        nums = f"probe_acc_z − probe_acc_recoding = {z:.3f} − {rec:.3f} = {gap:+.3f}"
        if gap > margin:
            result, reason = "disagrees", f"z is singled out: {nums} > {margin:g}"
        elif not fits:
            result, reason = "inconclusive", f"{nums} ≤ {margin:g}, but {unfit}"
        else:
            result, reason = "agrees", f"z is not singled out: {nums} ≤ {margin:g}"
    elif expected == "yes":
        if status == "observed":
            result, reason = "agrees", f"recovery observed: {detail}"
        elif status == "not_observed" and not fits:
            result, reason = "inconclusive", f"recovery not observed ({detail}), but {unfit}"
        elif status == "not_observed":
            result, reason = "disagrees", f"recovery predicted but not observed: {detail}"
        else:
            result, reason = "inconclusive", f"recovery ambiguous: {detail}"
    else:  # "no"
        if status == "observed":
            result, reason = "disagrees", f"no recovery predicted but observed: {detail}"
        elif status == "not_observed" and not fits:
            result, reason = "inconclusive", f"recovery not observed ({detail}), but {unfit}"
        elif status == "not_observed":
            result, reason = "agrees", f"no recovery, as predicted: {detail}"
        else:
            result, reason = "inconclusive", f"recovery ambiguous: {detail}"

    numbers = {key: _number(measured, key) for key in REQUIRED}
    for key in OPTIONAL:
        if measured.get(key) is not None:
            numbers[key] = float(measured[key])
    return {
        "verdict": result,
        "reason": reason + ".",
        "expected_recovery": expected,
        "recovery": status,
        "model_fits_tasks": fits,
        "measured": numbers,
        "thresholds": {
            "margin": margin,
            "min_probe_acc": min_probe_acc,
            "null_margin": null_margin,
            "min_task_acc": min_task_acc,
        },
    }
