"""Verdicts decided per latent from intervals: every outcome, and when the theory loses."""

import pytest

from probekit.theory.verdict import OUTCOMES, recovery_outcome, verdict


def m(k, d=10, n_test=200, task_acc=1.0, **extra):
    """A hand-made measurement: k of d latents above every control."""
    return {"latents_recovered": k, "d": d, "n_test": n_test, "task_acc": task_acc, **extra}


YES, NO, NSO = ({"expected_recovery": e} for e in ("yes", "no", "not_singled_out"))


@pytest.mark.parametrize(
    "prediction, measured, outcome, agrees",
    [
        (YES, m(10), "recovered", True),
        (YES, m(0), "not_recovered", False),  # the theory loses
        (YES, m(6), "partial", None),
        (NO, m(0), "not_recovered", True),
        (NO, m(10), "recovered", False),  # the theory loses
        (NO, m(2), "partial", False),  # two latents decoded beyond every control: not "no"
        (YES, m(10, n_test=19), "undecided", None),  # a d = 6 cube leaves ~19 test inputs
        (NO, m(0, task_acc=0.55), "undecided", None),  # did not fit its tasks
        (NSO, m(4, alt_latents_recovered=0), "partial", False),  # z singled out
        (NSO, m(0, alt_latents_recovered=0), "not_recovered", True),
        (NSO, m(10, alt_latents_recovered=10), "recovered", True),
    ],
)
def test_each_outcome_and_whether_it_agrees(prediction, measured, outcome, agrees):
    out = verdict(prediction, measured)
    assert out["verdict"] == outcome and out["agrees"] is agrees
    assert out["verdict"] in OUTCOMES
    assert "random_init" in out["reason"] and "raw_input" in out["reason"]  # names the controls


def test_six_of_ten_perfect_latents_is_partial_not_agreement():
    # The old rule said "agrees (observed)" for a mean of 0.80 made of 6 perfect latents and 4
    # at chance; per latent it is partial, and a "no" prediction loses to it.
    assert verdict(YES, m(6))["agrees"] is None
    assert verdict(NO, m(6))["agrees"] is False
    assert "6 of 10" in verdict(NO, m(6))["reason"]


def test_input_decodable_is_undecided():
    out = verdict({"expected_recovery": "yes", "input_decodable": True}, m(10))
    assert out["verdict"] == "undecided" and "raw input already holds z" in out["reason"]


def test_the_reason_says_which_inputs_were_scored():
    assert "never saw" in recovery_outcome(m(3))[1]
    assert "training inputs" in recovery_outcome(m(3, scope="seen"))[1]


@pytest.mark.parametrize(
    "prediction, measured, match",
    [
        ({}, m(1), "expected_recovery"),
        ({"expected_recovery": "maybe"}, m(1), "expected_recovery"),
        (YES, {"d": 10, "n_test": 100, "task_acc": 1.0}, "latents_recovered"),
        (YES, m(11), "exceeds"),
        (YES, m(1, task_acc=1.5), "task_acc"),
        (NSO, m(1), "alt_latents_recovered"),
    ],
)
def test_bad_input_is_named(prediction, measured, match):
    with pytest.raises(ValueError, match=match):
        verdict(prediction, measured)


def test_a_no_prediction_is_judged_on_the_latents_tasks_do_not_force():
    # Two tasks equal z_0 and z_3: a linear head recovers those; "no" is about the rest.
    pred = {"expected_recovery": "no", "latents": {"forced_by_tasks": [0, 3]}}
    others = [1, 2, 4, 5, 6, 7, 8, 9]
    assert verdict(pred, m(2, recovered_latents=[0, 3], absent_latents=others))["agrees"] is True
    unsure = verdict(pred, m(2, recovered_latents=[0, 3], absent_latents=others[1:]))
    assert unsure["agrees"] is None and "[1] neither recovered nor ruled out" in unsure["reason"]
    out = verdict(pred, m(3, recovered_latents=[0, 3, 5]))
    assert out["agrees"] is False and "[5]" in out["reason"]


def test_no_latent_recovered_is_not_recovered_only_when_every_latent_is_ruled_out():
    # Few test inputs: nothing clears the controls, but nothing is ruled out either. That is
    # not evidence against "yes": it is undecided.
    assert verdict(YES, m(0, latents_absent=10))["agrees"] is False
    out = verdict(YES, m(0, latents_absent=3))
    assert out["verdict"] == "undecided" and out["agrees"] is None
    assert "3 of 10 latents ruled out" in out["reason"]
