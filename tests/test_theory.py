"""Known-answer tests for probekit.theory.predictions and the `probekit theory` command."""

from __future__ import annotations

import argparse
import json
from itertools import combinations

import numpy as np
import pytest

from probekit.commands import theory as theory_cmd
from probekit.theory.predictions import EXPECTED, classify_distribution, predict, predict_specs
from synthetic.bits import cube, to_index
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import World, WorldSpec


def _brute_degree(table: np.ndarray, d: int) -> int:
    """Least j such that monomials of degree ≤ j interpolate the table (no FWHT)."""
    z = cube(d).astype(np.float64)
    cols = [np.ones(z.shape[0])]
    for j in range(d + 1):
        if j:
            cols += [np.prod(z[:, list(s)], axis=1) for s in combinations(range(d), j)]
        a = np.stack(cols, axis=1)
        sol, *_ = np.linalg.lstsq(a, table, rcond=None)
        if np.max(np.abs(a @ sol - table)) < 1e-8:
            return j
    return d


def test_identity_psi_keeps_every_degree_and_saves_nothing():
    p = predict_specs(WorldSpec(d=5, observation="identity"), TaskSpec(n=12, k=2))
    assert p["exact"] is True
    for row in p["per_task"]:
        assert row["degree_x"] == row["degree_z"]
        assert row["saved"] == 0
    assert p["total_saving"] == 0
    assert p["psi_inverse_degree"] == {"sum": 5, "max": 1, "per_coordinate": [1] * 5}
    assert p["input_decodable"] is True
    assert p["threshold"]["n_star"] is None  # no saving per task, no threshold


@pytest.mark.parametrize("observation", ["gf2_linear", "random_bijection"])
def test_scrambling_psi_saves_degree(observation):
    p = predict_specs(WorldSpec(d=6, observation=observation), TaskSpec(n=16, k=2))
    assert p["total_saving"] > 0
    assert p["psi_inverse_degree"]["max"] > 1
    assert p["input_decodable"] is False
    assert p["total_saving"] == sum(r["saved"] for r in p["per_task"])


def test_degrees_in_x_match_a_brute_force_interpolation():
    d = 4
    world = World(WorldSpec(d=d, observation="random_bijection", seed=3))
    spec = TaskSpec(family="walsh", n=5, k=2, target="real", seed=1)
    p = predict_specs(world.spec, spec)
    g = TaskSet.from_spec(spec, world).truth_tables()
    h = np.empty_like(g)
    h[:, to_index(world.cube_x())] = g  # h(ψ(z)) = g(z)
    for i, row in enumerate(p["per_task"]):
        assert row["degree_z"] == _brute_degree(g[i], d) == 2
        assert row["degree_x"] == _brute_degree(h[i], d)


def test_single_task_predicts_no_recovery():
    p = predict_specs(WorldSpec(d=6), TaskSpec(n=1, k=2))
    assert p["expected_recovery"] == "no"
    assert "result 1" in p["theory_result"]
    # n = 1 is too few for a mean: the saving is pooled with resampled task sets.
    assert p["threshold"]["n_tasks_used"] >= 64
    assert "resampled" in p["threshold"]["source"]
    assert p["cube_check"]["cheaper"] == "flat"


def test_uniform_tasks_are_not_singled_out():
    p = predict_specs(WorldSpec(d=6), TaskSpec(family="uniform", n=64))
    assert p["distribution"]["kind"] == "uniform"
    assert p["expected_recovery"] == "not_singled_out"
    assert "result 3" in p["theory_result"]


def test_many_low_degree_tasks_predict_recovery():
    p = predict_specs(WorldSpec(d=6), TaskSpec(family="walsh", n=64, k=2))
    assert p["distribution"]["kind"] == "low_degree"
    assert p["total_saving"] > 36 == p["d_squared"]
    assert p["saving_exceeds_d_squared"] is True
    assert p["cube_check"]["cheaper"] == "hierarchical"
    assert p["expected_recovery"] == "yes"
    assert p["theory_result"] == "docs/theory.md §3 results 2 and 4"
    assert p["threshold"]["source"] == "task set"
    assert p["threshold"]["n_star"] == int(np.ceil(36 / p["threshold"]["mean_saving_per_task"]))


def test_few_tasks_fall_below_the_threshold():
    p = predict_specs(WorldSpec(d=6), TaskSpec(family="walsh", n=4, k=2))
    assert p["expected_recovery"] == "no"
    assert p["threshold"]["n_star"] > 4


def test_cube_check_totals_by_hand():
    # d = 3, identity ψ, the three parities of degree 2: deg(ψ⁻¹) = 1+1+1 = 3,
    # Σ deg(g_i) = 2+2+2 = 6 -> hierarchical 9; flat Σ deg(h_i) = 6.
    p = predict_specs(
        WorldSpec(d=3, observation="identity"), TaskSpec(family="parity", n=3, k=2, target="real")
    )
    assert p["cube_check"] == {
        "psi_inverse_degree_sum": 3,
        "task_degree_z_sum": 6,
        "hierarchical_total": 9,
        "flat_total": 6,
        "cheaper": "flat",
    }


def test_mixture_classification_follows_epsilon():
    assert classify_distribution("mixture", 2, {"epsilon": 0.2}, 6)[0] == "low_degree"
    assert classify_distribution("mixture", 2, {"epsilon": 0.0}, 6)[0] == "uniform"
    assert classify_distribution("walsh", 6, {}, 6)[0] == "other"
    assert classify_distribution("degree_weighted", 2, {"rho": 1.0, "max_degree": 6}, 6)[0] == (
        "uniform"
    )
    p = predict_specs(WorldSpec(d=6), TaskSpec(family="mixture", n=8, params={"epsilon": 0.0}))
    assert p["expected_recovery"] == "not_singled_out"


def test_redundant_bits_are_handled_and_noted():
    p = predict_specs(WorldSpec(d=6, m=9), TaskSpec(n=64, k=2))
    base = predict_specs(WorldSpec(d=6), TaskSpec(n=64, k=2))
    assert p["m"] == 9
    assert any("m = 9 > d = 6" in note for note in p["notes"])
    # ψ on the first d bits is the same, so the degrees on those bits are too.
    assert p["per_task"] == base["per_task"]


@pytest.mark.parametrize(
    "world,tasks",
    [
        (WorldSpec(d=16, observation="gf2_linear"), TaskSpec(n=8, k=2)),
        (WorldSpec(d=30, observation="gf2_linear"), TaskSpec(n=256, k=3)),
        (WorldSpec(d=30, observation="identity"), TaskSpec(n=1, k=2)),
    ],
)
def test_large_d_degrees_are_exact_through_the_gf2_form(world, tasks):
    # ψ⁻¹ is GF(2)-linear (or the identity): degrees in x follow from its matrix at any d.
    p = predict_specs(world, tasks)
    assert p["exact"] is True and p["exact_skipped_reason"] is None
    assert p["cube_check"] is not None
    assert all(r["degree_x"] is not None and r["degree_z"] is not None for r in p["per_task"])
    assert p["total_saving"] == sum(r["saved"] for r in p["per_task"])
    assert p["expected_recovery"] in EXPECTED
    json.dumps(p)


def test_large_d_without_structure_says_unknown_and_heuristic():
    # A deep circuit at d = 40: every z_j reaches more than 20 x bits, so no degree in x
    # can be computed; the saving is the toolkit's assumption and says so.
    world = WorldSpec(d=40, observation="reversible_circuit", observation_params={"depth": 400})
    p = predict_specs(world, TaskSpec(n=16, k=2))
    assert p["exact"] is False and p["exact_skipped_reason"].startswith("unknown")
    assert p["cube_check"] is None and p["total_saving_exact"] is False
    assert all(r["degree_x"] is None for r in p["per_task"])
    assert all(r["degree_z"] is not None for r in p["per_task"])  # sub-cube of its latents
    assert p["psi_inverse_degree"]["sum"] is None
    assert p["threshold"]["source"].startswith("assumed (heuristic)")
    rules = {r["rule"]: r for r in p["rules"]}
    assert rules["saving_vs_d_squared"]["heuristic"] is True
    assert p["heuristic"] is True
    json.dumps(p)


def test_whole_cube_and_local_degrees_agree():
    for world in (
        WorldSpec(d=10, observation="gf2_linear", seed=1),
        WorldSpec(d=12, observation="reversible_circuit", observation_params={"depth": 6}, seed=1),
        WorldSpec(d=10, observation="signed_permutation", seed=2, m=13),
        WorldSpec(
            d=10,
            observation="reversible_circuit",
            observation_params={"depth": 12, "gates": ["not", "cnot"]},
            seed=4,
        ),
    ):
        tasks = TaskSpec(n=24, k=2, seed=3)
        whole = predict_specs(world, tasks)
        local = predict_specs(world, tasks, max_exact_d=4)
        assert local["per_task"] == whole["per_task"]
        assert local["psi_inverse_degree"] == whole["psi_inverse_degree"]
        assert local["input_decodable_latents"] == whole["input_decodable_latents"]
        assert local["degree_methods"]["tasks_x"] != whole["degree_methods"]["tasks_x"]


def test_predict_reads_an_experiment_config_and_is_json():
    from probekit.config import load_experiment

    cfg = load_experiment(None, ["world.d=5", "tasks.n=40", "tasks.k=2"])
    p = predict(cfg)
    assert p == predict_specs(cfg.world, cfg.tasks)
    assert json.loads(json.dumps(p)) == p


def test_bad_input_raises_a_clear_error():
    with pytest.raises(ValueError, match="k=7 exceeds"):
        predict_specs(WorldSpec(d=5), TaskSpec(n=4, k=7))
    with pytest.raises(TypeError, match="WorldSpec and a TaskSpec"):
        predict_specs({"d": 5}, TaskSpec())


def _run_cli(argv, capsys):
    parser = argparse.ArgumentParser()
    theory_cmd.add_arguments(parser)
    assert theory_cmd.run(parser.parse_args(argv)) == 0
    return capsys.readouterr().out


def test_cli_json_and_table(capsys, tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("world:\n  d: 6\ntasks:\n  n: 64\n  k: 2\n")
    out = json.loads(_run_cli(["--config", str(cfg), "--json"], capsys))
    assert out["expected_recovery"] == "yes" and out["d"] == 6
    table = _run_cli(["--config", str(cfg), "tasks.n=1"], capsys)
    assert "expected recovery: no" in table
    assert "cube check: hierarchical" in table


def test_tasks_that_are_the_latents_themselves_force_recovery():
    from probekit.config import ExperimentConfig
    from probekit.theory.predictions import predict
    from synthetic.tasks import TaskSpec
    from synthetic.world import WorldSpec

    cfg = ExperimentConfig(
        world=WorldSpec(d=6, observation="random_bijection", seed=0),
        tasks=TaskSpec(family="cross_view", n=6, k=1, params={"observation": "identity"}),
    )
    p = predict(cfg)
    assert p["expected_recovery"] == "yes"
    assert "single latent" in p["reason"]


def test_tasks_in_a_parity_basis_do_not_predict_z():
    basis = {"kind": "sparse_parity", "weight": 2, "seed": 1}
    p = predict_specs(WorldSpec(d=6), TaskSpec(n=64, k=2, basis=basis))
    assert p["distribution"]["kind"] == "recoded"
    assert p["expected_recovery"] == "no"
    assert "results 4 and 5" in p["theory_result"]
    # A weight-1 basis is a permutation of z: nothing changes.
    perm = predict_specs(WorldSpec(d=6), TaskSpec(n=64, k=2, basis={**basis, "weight": 1}))
    assert perm["distribution"]["kind"] == "low_degree" and perm["expected_recovery"] == "yes"


def test_degree_wording_says_what_is_summed_and_counts_agree():
    one = theory_cmd.format_prediction(predict_specs(WorldSpec(d=6), TaskSpec(n=1, k=2)))
    assert "deg ψ⁻¹ as a function of x" in one and "sum of coordinate degrees" in one
    assert "1 tasks" not in one
    three = predict_specs(WorldSpec(d=6), TaskSpec(n=3, k=2))
    says = next(r["says"] for r in three["rules"] if r["rule"] == "cube_check")
    assert says.startswith("through ψ⁻¹ the 3 tasks cost deg ψ⁻¹ (the sum of its coordinate")
    from probekit.commands.fourier import format_report
    from synthetic.task_degrees import fourier_report

    world = World(WorldSpec(d=5))
    text = format_report(fourier_report(world, TaskSet.from_spec(TaskSpec(n=1, k=2), world)))
    assert "; 1 task, target=sign" in text and "deg(psi^-1) in x: sum of coordinate degrees" in text
