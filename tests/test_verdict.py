"""Verdict tables: one row per rule in probekit.theory.verdict."""

from __future__ import annotations

import pytest

from probekit.theory.verdict import recovery_status, verdict


def m(z, rec=0.5, rand=0.5, task=0.99, **extra):
    return {
        "task_acc": task,
        "probe_acc_z": z,
        "probe_acc_recoding": rec,
        "probe_acc_random_init": rand,
        **extra,
    }


@pytest.mark.parametrize(
    "measured,status",
    [
        (m(0.90), "observed"),
        (m(0.90, rand=0.78), "ambiguous"),  # gap 0.12 to the larger control
        (m(0.90, rand=0.82), "not_observed"),  # gap 0.08: the control reads z too
        (m(0.70), "ambiguous"),  # clear gap but below 0.8
        (m(0.55), "not_observed"),
        (m(0.40, rec=0.45), "not_observed"),  # within 0.1 below
        (m(0.30, rec=0.50), "ambiguous"),  # far below the controls
    ],
)
def test_recovery_status(measured, status):
    assert recovery_status(measured)[0] == status


CASES = [
    # expected, measured, verdict, words that must appear in the reason
    ("yes", m(0.91), "agrees", "recovery observed"),
    ("yes", m(0.52), "disagrees", "not observed"),
    ("yes", m(0.52, task=0.55), "inconclusive", "did not fit its tasks"),
    ("yes", m(0.72), "inconclusive", "ambiguous"),
    ("no", m(0.52), "agrees", "no recovery, as predicted"),
    ("no", m(0.49, task=0.55), "inconclusive", "did not fit its tasks (task_acc = 0.550 < 0.9)"),
    ("no", m(0.95), "disagrees", "observed"),
    ("no", m(0.95, task=0.5), "disagrees", "observed"),  # recovery refutes "no" regardless
    ("no", m(0.68), "inconclusive", "ambiguous"),
    ("not_singled_out", m(0.60, rec=0.51), "agrees", "not singled out"),
    ("not_singled_out", m(0.80, rec=0.51), "disagrees", "singled out"),
    ("not_singled_out", m(0.55, rec=0.51, task=0.6), "inconclusive", "did not fit"),
]


@pytest.mark.parametrize("expected,measured,result,words", CASES)
def test_verdict_table(expected, measured, result, words):
    out = verdict({"expected_recovery": expected}, measured)
    assert out["verdict"] == result
    assert words in out["reason"]
    assert out["expected_recovery"] == expected


def test_reason_carries_the_deciding_numbers():
    out = verdict({"expected_recovery": "yes"}, m(0.91, rec=0.49, rand=0.52, mcc=0.8))
    assert "0.910" in out["reason"] and "0.520" in out["reason"] and "+0.390" in out["reason"]
    assert out["measured"]["mcc"] == 0.8
    assert out["thresholds"] == {
        "margin": 0.15,
        "min_probe_acc": 0.8,
        "null_margin": 0.1,
        "min_task_acc": 0.9,
    }


def test_thresholds_are_parameters():
    pred = {"expected_recovery": "yes"}
    assert verdict(pred, m(0.75))["verdict"] == "inconclusive"
    assert verdict(pred, m(0.75), min_probe_acc=0.7)["verdict"] == "agrees"
    assert verdict({"expected_recovery": "no"}, m(0.52, task=0.85), min_task_acc=0.8)[
        "verdict"
    ] == ("agrees")


def test_input_decodable_prediction_is_inconclusive():
    out = verdict({"expected_recovery": "yes", "input_decodable": True}, m(0.99))
    assert out["verdict"] == "inconclusive"
    assert "signed permutation" in out["reason"]


def test_works_with_a_real_prediction():
    from probekit.theory.predictions import predict_specs
    from synthetic.tasks import TaskSpec
    from synthetic.world import WorldSpec

    pred = predict_specs(WorldSpec(d=5), TaskSpec(n=1, k=2))
    assert verdict(pred, m(0.51))["verdict"] == "agrees"


@pytest.mark.parametrize(
    "prediction,measured,match",
    [
        ({}, m(0.9), "expected_recovery"),
        ({"expected_recovery": "maybe"}, m(0.9), "expected_recovery"),
        ({"expected_recovery": "yes"}, {"probe_acc_z": 0.9}, "task_acc"),
        ({"expected_recovery": "yes"}, m(1.7), "probe_acc_z"),
        ({"expected_recovery": "yes"}, m(float("nan")), "probe_acc_z"),
    ],
)
def test_bad_input_is_named(prediction, measured, match):
    with pytest.raises(ValueError, match=match):
        verdict(prediction, measured)
