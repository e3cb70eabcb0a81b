"""Interventions scored against the world's exact counterfactuals: known answers on hand-built models.

The hand-built models are probekit MLPs (x = z, the identity world) whose weights are set
by hand: layer 1 is the one-hot code of the cube point (unit k fires iff z is point k), so
the representation layer `repr` can hold any code of z we choose, and a decoder of
indicator units reads a code back and the heads answer with the tasks' truth tables.
"""

import numpy as np
import pytest
import torch

from probekit.models.mlp import MLPConfig, MLPModel
from probekit.probing.activations import extract_activations
from probekit.probing.causal import intervene_site
from probekit.probing.causal_summary import summarize_causal
from probekit.probing.counterfactuals import (
    counterfactual,
    counterfactual_scores,
    reachable_without,
    task_influence,
)
from synthetic.bits import cube
from synthetic.tasks import TaskSet

D = 6
WIDTH = 512  # representation units: a random direction is nearly orthogonal to z's 6
# Signs of polynomials whose terms never cancel (no subset of 1, 0.5, 0.3 sums to zero).
POLYS = [
    {(0, 1): 1.0},
    {(2, 3): 1.0, (4,): 0.5},
    {(1,): 1.0, (2, 5): 0.5},
    {(3, 4): 1.0, (5,): 0.3},
    {(0,): 1.0, (1, 2): 0.5, (3, 5): 0.3},
    {(4, 5): 1.0, (0, 2): 0.5},
]


def _tasks():
    return TaskSet.from_polynomials(POLYS, D)


def _orthonormal(rows, cols, rng):
    q, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q  # (rows, cols), orthonormal columns


def _parity_code(z):
    """An invertible code of z in which no latent is linear: z_j z_{j+1}, and z_0 z_1 z_2."""
    pairs = [z[:, j] * z[:, j + 1] for j in range(D - 1)]
    return np.stack([*pairs, z[:, 0] * z[:, 1] * z[:, 2]], axis=1).astype(np.float64)


def hand_built(read_code, unread_code=None, seed=0):
    """repr = [A read_code(z); B unread_code(z)]; the decoder reads only the A block.

    Decoder unit k fires (1.5) when the read code is point k's, and a code half way between
    two points (one coordinate 0) fires both at 0.5: the heads then answer their mean.
    """
    rng = np.random.default_rng(seed)
    points = cube(D).astype(np.float64)  # (2^D, D)
    n_points = len(points)
    read = read_code(points)  # (2^D, D) ±1
    blocks = [read] + ([unread_code(points)] if unread_code else [])
    basis = _orthonormal(WIDTH, D * len(blocks), rng)
    A = basis[:, :D]
    codes = np.concatenate(blocks, axis=1) @ basis.T  # (2^D, WIDTH): repr of each point
    tasks = _tasks()
    config = MLPConfig(
        m=D,
        hidden=n_points,
        n_layers=1,
        n_tasks=tasks.n,
        representation_dim=WIDTH,
        decoder_layers=1,
    )
    model = MLPModel(config).eval()
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor(points))  # unit k: u_k · z
        model.layers[0].bias.fill_(-(D - 1))  # 1 at point k, 0 elsewhere
        model.representation.layer.weight.copy_(torch.tensor(codes.T))
        model.representation.layer.bias.zero_()
        model.representation.decoder[0].weight.copy_(torch.tensor(read @ A.T))
        model.representation.decoder[0].bias.fill_(-(D - 1.5))
        model.head.weight.copy_(torch.tensor(tasks.evaluate(points.astype(np.int8)).T))
        model.head.bias.fill_(0.01)  # a tie (a code half way between two points) answers +1
    return model, tasks


def _run(model, tasks, fit=None, rows=None):
    z = cube(D)
    feed = {"x": z.astype(np.float32)}
    acts = extract_activations(model, feed, sites=["repr"]).arrays["repr"]
    every = np.arange(len(z))
    res = intervene_site(
        model,
        feed,
        acts,
        z,
        tasks,
        site="repr",
        fit=every if fit is None else fit,
        scopes={"cube": (every if rows is None else rows,) * 2},
    )
    return res["cube"]


def test_the_hand_built_model_answers_its_tasks():
    model, tasks = hand_built(lambda z: z)
    z = cube(D)
    with torch.no_grad():
        logits = model(x=torch.tensor(z, dtype=torch.float32)).logits.numpy()
    assert (np.where(logits >= 0, 1, -1) == tasks.evaluate(z)).all()


def test_steering_along_the_read_direction_moves_every_answer_to_its_counterfactual():
    model, tasks = hand_built(lambda z: z)
    res = _run(model, tasks)
    iv = res["interventions"]
    assert np.mean(res["probe_hits"]) == 1.0
    assert (
        iv["none"]["cf_acc_flip"] == 0.0
    )  # nothing changed: every answer that should flip did not
    assert iv["steer"]["cf_acc"] > 0.97 and iv["steer"]["cf_acc_flip"] > 0.95
    assert iv["interchange"]["cf_acc"] > 0.97
    # The same push along a random direction stays at the no-change baseline.
    assert abs(iv["random_direction"]["cf_acc"] - iv["none"]["cf_acc"]) < 0.03
    assert iv["random_direction"]["cf_acc_flip"] < 0.05
    assert iv["steer"]["cf_acc_ci"][0] > iv["random_direction"]["cf_acc_ci"][1]


def test_a_decodable_copy_the_heads_never_read_has_no_causal_effect():
    # The heads read a parity code (no latent is linear in it); z itself sits unread beside it.
    model, tasks = hand_built(_parity_code, unread_code=lambda z: z)
    res = _run(model, tasks)
    iv = res["interventions"]
    assert np.mean(res["probe_hits"]) == 1.0  # the probe decodes every latent
    for name in ("steer", "interchange", "random_direction"):
        assert iv[name]["cf_acc_flip"] < 0.02, name  # ...and moving it changes nothing
        assert abs(iv[name]["cf_acc"] - iv["none"]["cf_acc"]) < 0.02, name
    assert iv["erase"]["acc_dep"] == iv["erase"]["acc_dep_before"] == 1.0
    summary, _ = summarize_causal(
        {("trained", "none", "cube", "repr"): res},
        latents=range(D),
        scales=(1.0,),
        scopes=["cube"],
        seed=0,
    )
    assert summary["sites"]["repr"]["decodable_not_used"]
    assert [f["site"] for f in summary["decodable_not_used"]] == ["repr"]


def test_the_read_copy_is_not_flagged_as_unused():
    model, tasks = hand_built(lambda z: z)
    summary, rows = summarize_causal(
        {("trained", "none", "cube", "repr"): _run(model, tasks)},
        latents=range(D),
        scales=(0.5, 1.0, 2.0, 4.0),
        scopes=["cube"],
        seed=0,
    )
    assert not summary["sites"]["repr"]["decodable_not_used"]
    assert summary["sites"]["repr"]["causal_acc"] > 0.97
    assert {r["intervention"] for r in rows} >= {"steer", "erase", "interchange", "probe"}


def test_erasure_takes_dependent_tasks_to_what_is_reachable_without_the_latent():
    # Fitted on the whole cube, where the latents are uncorrelated, LEACE sets z_i's
    # coordinate to its mean and leaves the others as they were.
    model, tasks = hand_built(lambda z: z)
    res = _run(model, tasks)
    for entry in res["per_latent"]:
        erase = entry["erase"]
        assert erase["acc_dep_before"] == 1.0
        # On the whole cube, the best guess without z_i: 1 - influence / 2 per task.
        assert erase["reachable_dep"] < 1.0
        assert abs(erase["acc_dep"] - erase["reachable_dep"]) < 0.02, entry["latent"]
        assert erase["erase_effect"] == pytest.approx(1.0, abs=0.05)
        if erase["n_indep_tasks"]:
            assert erase["acc_indep"] == erase["acc_indep_before"] == 1.0


def test_reachable_accuracy_is_one_minus_half_the_influence_on_the_cube():
    tasks = _tasks()
    z = cube(D)
    for i in range(D):
        target, cf = counterfactual(tasks, z, i)
        assert np.allclose(reachable_without(target, cf), 1 - task_influence(tasks, D, i) / 2)
    # Task 0 is z0 z1: flipping z0 flips it everywhere, flipping z2 never.
    assert task_influence(tasks, D, 0)[0] == 1.0 and task_influence(tasks, D, 2)[0] == 0.0


def test_counterfactual_scores_split_pairs_that_flip_from_pairs_that_stay():
    target = np.array([[1, 1], [1, -1], [-1, -1]])
    cf = np.array([[-1, 1], [1, 1], [-1, 1]])  # flips: (0,0), (1,1), (2,1)
    rng = np.random.default_rng(0)
    s = counterfactual_scores(cf, target, cf, rng)  # answering the counterfactual exactly
    assert s["cf_acc"] == s["cf_acc_flip"] == s["cf_acc_stay"] == 1.0
    s = counterfactual_scores(target, target, cf, rng)  # answering as before
    assert s["cf_acc_flip"] == 0.0 and s["cf_acc_stay"] == 1.0 and s["cf_acc"] == 0.5
    assert s["n_pairs_flip"] == 3 and s["n_pairs_stay"] == 3
    assert 0.0 <= s["cf_acc_ci"][0] <= 0.5 <= s["cf_acc_ci"][1] <= 1.0
