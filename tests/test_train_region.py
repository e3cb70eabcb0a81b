"""`data.train_region`: a structured part of the cube to train on, the rest held out.

One rule (`synthetic.holdout.heldout_mask`: hash OR outside the region) decides for the
training stream, the evaluation sets, dataset splits and probing's `unseen` inputs.
"""

from __future__ import annotations

import itertools
import json
from math import comb
from pathlib import Path

import numpy as np
import pytest
import yaml

import probekit.probing.pipeline as probing
from probekit.config import ExperimentConfig, ProbeConfig, load_experiment
from probekit.models import build_model
from probekit.training.batches import StreamSource, eval_examples
from synthetic.bits import cube
from synthetic.data_spec import DataSpec, GenerateConfig
from synthetic.dataset import generate_dataset
from synthetic.holdout import hash_mask, heldout_mask, region_mask
from synthetic.sequences import example_stream
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import build_tokenizer
from synthetic.world import World, WorldSpec

REPO = Path(__file__).resolve().parents[1]
LATENT = {"kind": "latent_fixed", "latent": 0, "value": 1}
FAST = ProbeConfig(Cs=(1.0,), cv=2, z_pairs=False)


def outside(z: np.ndarray, region: dict) -> np.ndarray:
    """The region's complement, written out independently of synthetic.holdout."""
    if region["kind"] == "latent_fixed":
        return z[:, region["latent"]] != region.get("value", 1)
    center = np.asarray(region.get("center") or [1] * z.shape[1])
    return np.abs(z - center).sum(axis=1) / 2 > region["radius"]


# --------------------------------------------------------------------------- the mask


@pytest.mark.parametrize("latent,value", itertools.product(range(4), (1, -1)))
def test_latent_fixed_mask_is_the_complement(latent, value):
    z = cube(4)
    region = {"kind": "latent_fixed", "latent": latent, "value": value}
    held = heldout_mask(z, 0.0, 0, region)
    np.testing.assert_array_equal(held, z[:, latent] != value)
    assert held.sum() == 8
    spec = DataSpec(holdout_fraction=0, train_region=region)
    np.testing.assert_array_equal(spec.heldout_mask(z), held)


@pytest.mark.parametrize("radius", range(5))
@pytest.mark.parametrize("center", [None, [1, -1, -1, 1, -1]])
def test_hamming_ball_mask_is_the_complement(radius, center):
    z = cube(5)
    region = {"kind": "hamming_ball", "radius": radius, "center": center}
    held = heldout_mask(z, 0.0, 0, region)
    np.testing.assert_array_equal(held, outside(z, region))
    assert (~held).sum() == sum(comb(5, k) for k in range(radius + 1))
    assert not held[np.all(z == np.asarray(center or [1] * 5), axis=1)].any()  # center kept


def test_hash_and_region_combine_by_or_and_no_region_is_the_old_hash():
    z = cube(8)
    region = {"kind": "hamming_ball", "radius": 5}
    np.testing.assert_array_equal(
        heldout_mask(z, 0.3, 7, region), hash_mask(z, 0.3, 7) | ~region_mask(z, region)
    )
    np.testing.assert_array_equal(heldout_mask(z, 0.3, 7), hash_mask(z, 0.3, 7))
    np.testing.assert_array_equal(
        DataSpec(holdout_fraction=0.3, seed=7).heldout_mask(z), hash_mask(z, 0.3, 7)
    )
    assert not heldout_mask(z, 0.0, 0).any() and not DataSpec(holdout_fraction=0).holds_out


# ------------------------------------------------------------------ streams and eval sets


def world_tasks(d: int = 6):
    world = World(WorldSpec(d=d, observation="random_bijection", seed=0))
    return world, TaskSet.from_spec(TaskSpec(n=4, k=2, seed=0), world)


@pytest.mark.parametrize(
    "region,fraction",
    [(LATENT, 0.0), ({"kind": "hamming_ball", "radius": 2, "center": None}, 0.0), (LATENT, 0.3)],
)
def test_training_stream_and_eval_sets_never_cross_the_rule(region, fraction):
    world, tasks = world_tasks()
    data = DataSpec(format="array", holdout_fraction=fraction, seed=1, train_region=region)
    source = StreamSource(world, tasks, data, seed=0)
    drawn = np.concatenate([source.batch(step, 0, 0, 64)["z"] for step in range(20)])
    assert not data.heldout_mask(drawn).any() and not outside(drawn, region).any()
    assert len(np.unique(drawn, axis=0)) > 1
    for batch in itertools.islice(example_stream(world, tasks, data, 64, seed=0), 5):
        assert not data.heldout_mask(batch["z"]).any()
    assert not data.heldout_mask(eval_examples(world, tasks, data, 256, 0)["z"]).any()
    held = eval_examples(world, tasks, data, 256, 0, heldout=True)["z"]
    assert data.heldout_mask(held).all()
    if fraction == 0:  # the shift alone: the held-out set is exactly the outside
        assert outside(held, region).all()


def test_a_small_region_still_fills_batches():
    world, tasks = world_tasks(d=10)
    data = DataSpec(
        format="array", holdout_fraction=0, train_region={"kind": "hamming_ball", "radius": 0}
    )
    z = StreamSource(world, tasks, data, seed=0).batch(0, 0, 0, 256)["z"]
    assert z.shape == (256, 10) and (z == 1).all()  # the one point of the ball: all +1


# --------------------------------------------------------------------------- datasets


def test_dataset_ood_split_is_exactly_outside_the_region():
    region = {"kind": "hamming_ball", "radius": 2, "center": [1, 1, -1, -1, 1]}
    cfg = GenerateConfig(
        world=WorldSpec(d=5, seed=0),
        tasks=TaskSpec(n=4, k=2, seed=0),
        data=DataSpec(
            format="array",
            n_train=200,
            n_validation=40,
            holdout_fraction=0,
            seed=2,
            train_region=region,
        ),
    )
    dd = generate_dataset(cfg, progress=False)
    assert set(dd) == {"train", "validation", "probe", "ood"}
    z = {split: np.asarray(dd[split]["z"][:]) for split in dd}
    for split in ("train", "validation"):
        assert not outside(z[split], region).any()
        assert not np.asarray(dd[split]["heldout"][:]).any()
    assert outside(z["ood"], region).all() and len(z["ood"]) == 40
    np.testing.assert_array_equal(dd["probe"]["heldout"][:], outside(cube(5), region))


# --------------------------------------------------------------------------- probing


def _checkpoint(tmp_path, overrides):
    """A randomly initialised MLP checkpoint in RUN/final with the spec of `overrides`."""
    cfg = load_experiment(None, ["model.hidden=16", "model.n_layers=2", "tasks.n=4", *overrides])
    m = cfg.world.n_observed
    tok = build_tokenizer(m, cfg.tasks.n)
    model = build_model(
        cfg.model,
        vocab_size=len(tok),
        n_tasks=cfg.tasks.n,
        seq_len=m + 2,
        m=m,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
        seed=123,
    )
    final = tmp_path / "run" / "final"
    model.save_pretrained(final)
    tok.save_pretrained(final)
    (final / "probekit_spec.json").write_text(json.dumps({"experiment": cfg.to_dict()}))
    return tmp_path / "run"


@pytest.mark.parametrize(
    "region",
    [LATENT, {"kind": "hamming_ball", "radius": 3, "center": None}],
    ids=["latent_fixed", "hamming_ball"],
)
def test_probing_marks_exactly_the_inputs_outside_the_region_unseen(tmp_path, monkeypatch, region):
    run = _checkpoint(
        tmp_path,
        [
            "world.d=6",
            "world.observation=identity",  # x = z, so the split key is z itself
            "model.kind=mlp",
            "data.format=array",
            "data.holdout_fraction=0",
            f"data.train_region={json.dumps(region)}",
        ],
    )
    seen = {}
    original = probing.probe_splits

    def spy(key, unseen, *args, **kwargs):
        seen["key"], seen["unseen"] = np.asarray(key), np.asarray(unseen)
        return original(key, unseen, *args, **kwargs)

    monkeypatch.setattr(probing, "probe_splits", spy)
    report = probing.probe_checkpoint(
        run, config=FAST, sites=["layer.2"], controls=[], progress=False
    )
    z = seen["key"]
    assert len(np.unique(z, axis=0)) == 64  # the whole d = 6 cube
    np.testing.assert_array_equal(seen["unseen"], outside(z, region))
    splits = report.summary["splits"]
    n_out = int(outside(cube(6), region).sum())
    assert splits["val_unseen"] + splits["test_unseen"] == n_out
    assert splits["fit"] + splits["val_seen"] + splits["test_seen"] == 64 - n_out
    assert report.summary["scope"] == "unseen"
    # A latent the region fixes never varied in training: the probe, fitted on seen inputs,
    # cannot be trained on it, so it leaves the z family and the summary says so.
    meta = report.summary["inputs"]
    best = report.summary["best_layer"]["linear"]
    if region["kind"] == "latent_fixed":
        assert meta["latents_fixed_in_training"] == [0] and meta["probed_latents"] == [
            1,
            2,
            3,
            4,
            5,
        ]
        assert len(best["acc_z_per_latent"]) == 5 and report.summary["families"]["z"] == 5
    else:
        assert "latents_fixed_in_training" not in meta and len(best["acc_z_per_latent"]) == 6
    assert "seen" in report.summary and report.summary["seen"]["scope"] == "seen"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "region,match",
    [
        ([0, 1], "train_region.*expected dict"),
        ({"kind": "box"}, "kind must be one of latent_fixed, hamming_ball"),
        ({"kind": "latent_fixed"}, "needs 'latent'"),
        ({"kind": "latent_fixed", "latent": 0, "radius": 1}, "Unknown key 'radius'"),
        ({"kind": "latent_fixed", "latent": -1}, "'latent' must be an integer"),
        ({"kind": "latent_fixed", "latent": 6}, "out of range for d=6"),
        ({"kind": "latent_fixed", "latent": 0, "value": 0}, "'value' must be 1 or -1"),
        ({"kind": "hamming_ball"}, "needs 'radius'"),
        ({"kind": "hamming_ball", "radius": -1}, "'radius' must be an integer ≥ 0"),
        ({"kind": "hamming_ball", "radius": 6}, r"whole d=6 cube.*\[0, 6\)"),
        ({"kind": "hamming_ball", "radius": 1, "center": [1, 1]}, "'center' has 2 bits"),
        ({"kind": "hamming_ball", "radius": 1, "center": [1, 0, 1, 1, 1, 1]}, "list of ±1"),
    ],
)
def test_invalid_regions_fail_up_front(region, match):
    with pytest.raises(ValueError, match=match):
        load_experiment(
            None,
            ["world.d=6", "data.holdout_fraction=0", f"data.train_region={json.dumps(region)}"],
        )


def test_a_hash_that_swallows_the_region_is_refused():
    z = cube(6)
    ball = {"kind": "hamming_ball", "radius": 0}
    seed = next(s for s in range(100) if hash_mask(z[:1], 0.5, s)[0])  # hashes out all +1
    with pytest.raises(ValueError, match="holds out every point.*larger region"):
        load_experiment(
            None,
            [
                "world.d=6",
                "data.holdout_fraction=0.5",
                f"data.seed={seed}",
                f"data.train_region={json.dumps(ball)}",
            ],
        )
    with pytest.raises(ValueError, match="n_validation sizes the ood split"):
        DataSpec(holdout_fraction=0, n_validation=0, train_region=LATENT)


# --------------------------------------------------------------------------- configs


def test_old_specs_load_unchanged_and_regions_round_trip():
    old = DataSpec().to_dict()
    assert "train_region" not in old  # an old spec's dict, config.yaml and fingerprints
    assert DataSpec.from_dict(old).train_region is None
    default = load_experiment(REPO / "configs" / "default.yaml")
    assert default.data.train_region is None and "train_region" not in default.to_dict()["data"]
    assert ExperimentConfig.from_dict(default.to_dict()) == default
    # YAML mapping, JSON override and dotted keys all give the same region.
    a = load_experiment(None, ["data.train_region={kind: latent_fixed, latent: 0, value: 1}"])
    b = load_experiment(
        None,
        [
            "data.train_region.kind=latent_fixed",
            "data.train_region.latent=0",
            "data.train_region.value=1",
        ],
    )
    assert a.data.train_region == b.data.train_region == LATENT
    again = ExperimentConfig.from_dict(yaml.safe_load(yaml.safe_dump(a.to_dict())))
    assert again == a and again.data.holds_out


def test_the_ood_sweep_preset_builds_every_point():
    from probekit.sweeps.spec import load_sweep, validate

    spec = load_sweep(REPO / "configs" / "sweeps" / "ood.yaml")
    configs = validate(spec, spec.points())
    ns = sorted({cfg.tasks.n for cfg in configs.values()})
    assert ns[0] <= 4 and ns[-1] >= 64  # models that do not recover z, and models that do
    for cfg in configs.values():
        assert cfg.data.train_region == LATENT and cfg.data.holdout_fraction == 0
        assert cfg.world.observation == "reversible_circuit" and cfg.model.kind == "mlp"


def test_training_logs_task_accuracy_on_the_shift(tmp_path):
    from probekit.training.loop import Trainer, train

    cfg = ExperimentConfig.from_dict(
        {
            "world": {"d": 6, "observation": "reversible_circuit", "seed": 0},
            "tasks": {"n": 8, "k": 2, "seed": 0},
            "data": {"format": "array", "holdout_fraction": 0, "train_region": LATENT},
            "model": {"kind": "mlp", "hidden": 16, "n_layers": 2},
            "train": {"steps": 4, "batch_size": 32, "eval_every": 4, "eval_examples": 64},
        }
    )
    trainer = Trainer(cfg, tmp_path / "probe-sets", progress=False)
    assert outside(trainer.heldout_set["z"], LATENT).all()
    assert not outside(trainer.eval_set["z"], LATENT).any()
    np.testing.assert_array_equal(
        trainer.probe_set["heldout"], outside(trainer.probe_set["z"], LATENT)
    )
    result = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(result.metrics["eval_acc_heldout"])
    spec = json.loads((result.final_dir / "probekit_spec.json").read_text())
    assert spec["experiment"]["data"]["train_region"] == LATENT
