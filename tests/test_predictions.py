"""Known answers for the rules of `probekit theory`: forced latents claim only what they force,
result 4 only for distributions that favour low degree, exact degrees through GF(2) at any d,
an input that already holds z, grounds for every rule, and prediction.json written once."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from probekit.commands import theory as theory_cmd
from probekit.config import ExperimentConfig
from probekit.theory.predictions import (
    PREDICTION_FILE,
    classify_distribution,
    predict_specs,
    read_prediction,
    write_prediction,
)
from probekit.theory.rules import INPUT_ACCURACY_CUTOFF
from probekit.theory.spectrum import mean_level, uniform_levels
from synthetic.observation import gf2_inverse
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec

# ---------------------------------------------------------------- forced latents


@pytest.mark.parametrize(
    "tasks",
    [
        TaskSpec(family="parity", n=2, k=1),
        TaskSpec(family="walsh", n=2, k=1, params={"n_terms": 1}, allow_single_latent=True),
    ],
)
def test_two_single_latent_tasks_force_two_latents_not_all(tasks):
    world = WorldSpec(d=8)
    p = predict_specs(world, tasks)
    forced = TaskSet.from_spec(tasks, World(world)).latents_equal_to_tasks()
    assert len(forced) == 2
    assert p["latents"]["forced_by_tasks"] == forced
    assert p["expected_recovery"] != "yes"
    assert p["expected_recovery_detail"].startswith("partial: 2 of 8 latents forced")
    assert p["reason"].startswith("partial: 2 of 8 latents forced")
    rule = {r["rule"]: r for r in p["rules"]}["forced_latents"]
    assert rule["applies"] is True and rule["latents"] == forced
    assert [row["single_latent"] for row in p["per_task"]] == [
        r["single_latent"] for r in TaskSet.from_spec(tasks, World(world)).task_report()
    ]


def test_tasks_that_are_every_latent_force_recovery():
    p = predict_specs(WorldSpec(d=8), TaskSpec(family="parity", n=8, k=1))
    assert p["latents"]["forced_by_tasks"] == list(range(8))
    assert p["expected_recovery"] == "yes"
    assert p["decided_by"] == ["forced_latents"]
    assert "not a §3 result" in p["theory_result"]


# ---------------------------------------------------------------- result 4's hypothesis


def test_uniform_reference_levels_and_mean():
    for d in (1, 4, 9):
        levels = uniform_levels(d)
        assert levels == [math.comb(d, k) / 2**d for k in range(d + 1)]
        assert mean_level(np.array(levels)) == pytest.approx(d / 2)


def test_degree_d_minus_1_tasks_are_not_cited_as_result_4():
    d = 8
    assert classify_distribution("walsh", d - 1, {}, d)[0] == "other"
    p = predict_specs(WorldSpec(d=d), TaskSpec(family="walsh", n=64, k=d - 1))
    spectrum = p["distribution"]["spectrum"]
    assert p["distribution"]["kind"] != "low_degree"
    assert spectrum["verdict"] == "favours_high_degree"
    assert spectrum["mean_level"] > d / 2 == spectrum["uniform_mean_level"]
    assert "4" not in p["theory_result"]
    rule = {r["rule"]: r for r in p["rules"]}["low_degree_preference"]
    assert rule["applies"] is False and "result 4" in rule["rests_on"]


@pytest.mark.parametrize(
    "tasks",
    [
        TaskSpec(family="degree_weighted", n=64, k=6, params={"rho": 2.0}),
        TaskSpec(family="parity", n=64, k=4),  # all weight at d/2: no low-degree preference
    ],
)
def test_families_without_a_low_degree_preference_do_not_cite_result_4(tasks):
    p = predict_specs(WorldSpec(d=8), tasks)
    assert p["distribution"]["kind"] == "other"
    assert "4" not in p["theory_result"]
    assert p["expected_recovery"] != "yes"


def test_low_degree_tasks_and_mixtures_cite_result_4():
    p = predict_specs(WorldSpec(d=8), TaskSpec(family="parity", n=64, k=2))
    assert p["distribution"]["spectrum"]["mean_level"] == pytest.approx(2.0)
    assert p["distribution"]["spectrum"]["standard_error"] == pytest.approx(0.0)
    mix = predict_specs(
        WorldSpec(d=8), TaskSpec(family="mixture", n=64, k=2, params={"epsilon": 0.3})
    )
    assert mix["distribution"]["kind"] == "low_degree"
    # The uniform component enters with its exact mean level d/2.
    assert 2 < mix["distribution"]["spectrum"]["mean_level"] < 4


# ---------------------------------------------------------------- exact degrees at any d


def test_gf2_linear_at_d24_degrees_in_x_are_row_weights_of_the_inverse():
    d = 24
    world_spec = WorldSpec(d=d, observation="gf2_linear", seed=5)
    world = World(world_spec)
    inv = gf2_inverse(world.psi.matrix)
    weights = inv.sum(axis=1).astype(int).tolist()
    # Tasks z_j themselves: deg_x z_j = |row j of A⁻¹|.
    spec = TaskSpec(family="parity", n=d, k=1, seed=2)
    p = predict_specs(world_spec, spec)
    assert p["exact"] is True
    assert p["psi_inverse_degree"]["per_coordinate"] == weights
    assert p["psi_inverse_degree"]["sum"] == sum(weights)
    latent_of = [r["single_latent"] for r in TaskSet.from_spec(spec, world).task_report()]
    assert [r["degree_x"] for r in p["per_task"]] == [weights[j] for j in latent_of]
    assert "GF(2)" in p["degree_methods"]["tasks_x"]
    # Real-valued polynomial tasks: deg_x = max over monomials of |⊕_{j∈S} row_j(A⁻¹)|.
    spec = TaskSpec(family="walsh", n=12, k=3, target="real", seed=1)
    p = predict_specs(world_spec, spec)
    polys = TaskSet.from_spec(spec, world).polynomials
    for row, poly in zip(p["per_task"], polys, strict=True):
        expected = max(int((np.bitwise_xor.reduce(inv[list(s)], axis=0)).sum()) for s in poly)
        assert row["degree_x"] == expected
        assert row["degree_z"] == max(len(s) for s in poly)
    assert p["input_decodable"] is (max(weights) == 1)
    assert p["input_decodable_latents"] == [j for j, w in enumerate(weights) if w == 1]


# ---------------------------------------------------------------- the input already holds z


def test_depth3_circuit_of_not_gates_leaves_z_in_the_input():
    world = WorldSpec(
        d=12, observation="reversible_circuit", observation_params={"depth": 3}, seed=34
    )
    assert (World(world).psi.gates[:, 1] < 0).all()  # three NOT gates: ψ⁻¹ = ±x_j
    p = predict_specs(world, TaskSpec(n=64, k=2))
    assert p["input_decodable"] is True
    assert p["input_decodable_latents"] == list(range(12))
    assert p["expected_recovery"] == "yes" and p["decided_by"] == ["input_decodable"]
    assert "raw input x already holds z" in p["reason"]
    assert {r["rule"]: r for r in p["rules"]}["input_decodable"]["heuristic"] is False


@pytest.mark.parametrize("d", [12, 30])
def test_depth3_circuit_with_gates_reports_the_decodable_latents(d):
    seed = 0
    world = WorldSpec(
        d=d, observation="reversible_circuit", observation_params={"depth": 3}, seed=seed
    )
    gates = World(world).psi.gates
    # A CNOT or Toffoli target becomes x_t ⊕ (…), not the sign of an affine function of x;
    # every other wire is ±x_j.
    targets = {int(t) for t, c1, _ in gates if c1 >= 0}
    assert targets and not any(int(c) in targets for _, c1, c2 in gates for c in (c1, c2) if c >= 0)
    p = predict_specs(world, TaskSpec(n=32, k=2))
    assert p["input_decodable_latents"] == [j for j in range(d) if j not in targets]
    acc = p["input_linear_probe"]["mean_accuracy"]
    assert acc >= INPUT_ACCURACY_CUTOFF
    assert p["input_decodable"] is True and p["expected_recovery"] == "yes"
    rule = {r["rule"]: r for r in p["rules"]}["input_decodable"]
    assert rule["heuristic"] is True and rule["latents"] == p["input_decodable_latents"]
    assert p["heuristic"] is True


def test_random_bijection_input_does_not_hold_z():
    p = predict_specs(WorldSpec(d=8), TaskSpec(n=64, k=2))
    assert p["input_decodable"] is False and p["input_decodable_latents"] == []
    assert p["input_linear_probe"]["mean_accuracy"] < INPUT_ACCURACY_CUTOFF


# ---------------------------------------------------------------- grounds of every rule


def test_every_rule_names_its_grounds_and_heuristics_are_labelled(capsys):
    p = predict_specs(WorldSpec(d=6), TaskSpec(n=64, k=2))
    assert p["rules"]
    for r in p["rules"]:
        assert r["rests_on"].startswith("docs/theory.md §")
        assert isinstance(r["heuristic"], bool) and isinstance(r["applies"], bool)
    rules = {r["rule"]: r for r in p["rules"]}
    assert rules["threshold"]["heuristic"] is True and p["threshold"]["heuristic"] is True
    assert rules["cube_check"]["rests_on"] == "docs/theory.md §3 result 2"
    assert set(p["decided_by"]) <= set(rules)
    text = theory_cmd.format_prediction(p)
    assert "threshold: n* = ⌈d² / mean saving⌉" in text and "[heuristic]" in text
    assert "rests on docs/theory.md §3 result 2" in text


# ---------------------------------------------------------------- prediction.json


def _cfg(**world):
    return ExperimentConfig(world=WorldSpec(**{"d": 5, **world}), tasks=TaskSpec(n=8, k=2))


def test_write_prediction_once_and_read_it_back(tmp_path):
    run = tmp_path / "runs" / "a"  # created on demand
    assert read_prediction(run) is None
    path = write_prediction(run, _cfg())
    assert path == run / PREDICTION_FILE
    first = path.read_bytes()
    record = read_prediction(run)
    assert record["prediction"] == json.loads(
        json.dumps(predict_specs(WorldSpec(d=5), TaskSpec(n=8, k=2)))
    )
    assert record["config"]["world"]["d"] == 5 and record["toolkit_version"]
    assert write_prediction(run, _cfg()) == path
    assert path.read_bytes() == first  # unchanged, byte for byte
    # Another training setup of the same world and tasks is the same prediction.
    other = _cfg().replace(train=_cfg().train.__class__(steps=7))
    assert write_prediction(run, other) == path and path.read_bytes() == first
    assert not list(run.glob("*.tmp*"))


def test_write_prediction_refuses_a_different_world(tmp_path):
    path = write_prediction(tmp_path, _cfg())
    before = path.read_bytes()
    with pytest.raises(ValueError, match="different world/tasks") as err:
        write_prediction(tmp_path, _cfg(observation="identity"))
    assert "random_bijection" in str(err.value) and "identity" in str(err.value)
    assert path.read_bytes() == before


def test_cli_run_dir_stores_the_prediction(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    theory_cmd.add_arguments(parser)
    args = parser.parse_args(["--run-dir", str(tmp_path / "r"), "world.d=5", "tasks.n=8"])
    assert theory_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "expected recovery:" in out and "prediction.json" in out
    assert read_prediction(tmp_path / "r")["prediction"]["d"] == 5
