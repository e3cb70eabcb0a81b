"""DataSpec validation, deterministic generation, holdout splits, atomic save and reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import synthetic.dataset as dataset_mod
from synthetic.bits import cube
from synthetic.data_spec import DataSpec, GenerateConfig, load_generate_config, replace_data
from synthetic.dataset import generate_dataset, load_dataset_dir, read_metadata, save_dataset
from synthetic.sequences import heldout_mask
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.tokenizer import TokenLayout, ids_to_text
from synthetic.world import World, WorldSpec


def tiny(fmt="multitask", **data) -> GenerateConfig:
    data.setdefault("n_train", 200)
    data.setdefault("n_validation", 40)
    return GenerateConfig(
        WorldSpec(d=5, m=6, seed=3),
        TaskSpec(family="walsh", n=4, k=2, seed=1),
        DataSpec(format=fmt, queries_per_sequence=2, **data),
    )


def _arrays(dsdict):
    return {
        (split, col): np.asarray(dsdict[split][col][:])
        for split in dsdict
        for col in dsdict[split].column_names
    }


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(format="lstm"), "Unknown sequence format 'lstm'"),
        (dict(n_train=0), "n_train"),
        (dict(holdout_fraction=1.0), "holdout_fraction"),
        (dict(probe_set="all"), "probe_set"),
        (dict(bits_per_token=1.5), "bits_per_token"),
    ],
)
def test_dataspec_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        DataSpec(**bad)


def test_dataspec_json_round_trip():
    spec = DataSpec(format="qa", bits_per_token=2, queries_per_sequence=3, holdout_fraction=0.25)
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="Unknown key 'shuffle'"):
        DataSpec.from_dict({**spec.to_dict(), "shuffle": True})


def test_generate_config_cross_checks():
    with pytest.raises(ValueError, match="target=sign"):
        GenerateConfig(WorldSpec(d=4), TaskSpec(n=3, k=2, target="real"), DataSpec(format="qa"))
    with pytest.raises(ValueError, match="queries_per_sequence"):
        GenerateConfig(
            WorldSpec(d=4), TaskSpec(n=3, k=2), DataSpec(format="qa", queries_per_sequence=4)
        )
    with pytest.raises(ValueError, match="bits_per_token"):
        GenerateConfig(WorldSpec(d=4), TaskSpec(n=3, k=2), DataSpec(bits_per_token=5))
    # real targets are fine for the head formats
    GenerateConfig(WorldSpec(d=4), TaskSpec(n=3, k=2, target="real"), DataSpec(format="multitask"))


def test_splits_and_probe_cube():
    cfg = tiny()
    dd = generate_dataset(cfg, progress=False)
    # The default holds a quarter of the latents out of training: they make the ood split.
    assert {k: len(v) for k, v in dd.items()} == {
        "train": 200,
        "validation": 40,
        "probe": 32,
        "ood": 40,
    }
    assert (
        not np.asarray(dd["train"]["heldout"][:]).any()
        and np.asarray(dd["ood"]["heldout"][:]).all()
    )
    np.testing.assert_array_equal(np.asarray(dd["probe"]["z"][:]), cube(5))
    sampled = generate_dataset(replace_data(cfg, probe_set="sample", n_probe=50), progress=False)
    assert len(sampled["probe"]) == 50


def test_generation_is_deterministic():
    cfg = tiny("qa")
    a, b = generate_dataset(cfg, progress=False), generate_dataset(cfg, progress=False)
    arr_a, arr_b = _arrays(a), _arrays(b)
    assert arr_a.keys() == arr_b.keys()
    for key in arr_a:
        np.testing.assert_array_equal(arr_a[key], arr_b[key])
    fp = dataset_mod.dataset_fingerprint
    assert fp(a, cfg) == fp(b, cfg)
    other = replace_data(cfg, seed=1)
    assert fp(generate_dataset(other, progress=False), other) != fp(a, cfg)


def test_holdout_goes_to_ood_only():
    cfg = tiny(holdout_fraction=0.25, seed=2)
    dd = generate_dataset(cfg, progress=False)
    assert set(dd) == {"train", "validation", "probe", "ood"}
    z = {s: np.asarray(dd[s]["z"][:]) for s in dd}
    assert not heldout_mask(z["train"], 0.25, 2).any()
    assert not heldout_mask(z["validation"], 0.25, 2).any()
    assert heldout_mask(z["ood"], 0.25, 2).all() and len(z["ood"]) == 40
    train_points = {tuple(r) for r in z["train"].tolist()}
    assert not train_points & {tuple(r) for r in z["ood"].tolist()}
    np.testing.assert_array_equal(dd["probe"]["heldout"][:], heldout_mask(cube(5), 0.25, 2))


def test_save_load_rebuilds_world(tmp_path):
    cfg = tiny("encoder", holdout_fraction=0.2)
    dd = generate_dataset(cfg, progress=False)
    out = save_dataset(dd, cfg, tmp_path / "ds")
    loaded, cfg2, tok = load_dataset_dir(out)
    assert cfg2 == cfg
    meta = read_metadata(out)
    assert meta["fingerprint"] == dataset_mod.dataset_fingerprint(loaded, cfg2)
    assert meta["splits"] == {"train": 200, "validation": 40, "probe": 32, "ood": 40}
    # the stored specs alone rebuild the world and the tasks
    world = World(WorldSpec.from_dict(meta["config"]["world"]))
    tasks = TaskSet.from_dict(meta["task_set"])
    for split in loaded:
        x, z = np.asarray(loaded[split]["x"][:]), np.asarray(loaded[split]["z"][:])
        np.testing.assert_array_equal(world.decode(x), z)
        np.testing.assert_array_equal(tasks.evaluate(z), loaded[split]["targets"][:])
    ids = np.asarray(loaded["train"]["input_ids"][:20])
    layout = TokenLayout(6, 4, 1)
    assert tok(ids_to_text(ids, layout))["input_ids"] == ids.tolist()
    assert meta["positions"]["mask"] == 6 + 3
    for pkg in ("numpy", "datasets", "transformers"):
        assert meta["versions"][pkg]


def test_overwrite_rules(tmp_path):
    cfg = tiny()
    dd = generate_dataset(cfg, progress=False)
    out = save_dataset(dd, cfg, tmp_path / "ds")
    with pytest.raises(FileExistsError, match="overwrite"):
        save_dataset(dd, cfg, out)
    cfg2 = replace_data(cfg, seed=9)
    save_dataset(generate_dataset(cfg2, progress=False), cfg2, out, overwrite=True)
    assert load_dataset_dir(out)[1].data.seed == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temp or old dirs left
    # never replace a directory that is not a dataset, even when asked to
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a probekit dataset"):
        save_dataset(dd, cfg, other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_crash_leaves_no_half_written_dataset(tmp_path, monkeypatch):
    cfg = tiny()
    dd = generate_dataset(cfg, progress=False)
    out = save_dataset(dd, cfg, tmp_path / "ds")
    before = read_metadata(out)["fingerprint"]

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(dataset_mod, "build_tokenizer", boom)
    with pytest.raises(RuntimeError):
        save_dataset(dd, replace_data(cfg, seed=5), out, overwrite=True)
    with pytest.raises(RuntimeError):
        save_dataset(dd, cfg, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert read_metadata(out)["fingerprint"] == before


def test_load_generate_config_sections(tmp_path):
    path = Path(tmp_path) / "exp.yaml"
    path.write_text(
        "world: {d: 5}\ntasks: {n: 3, k: 2}\ndata: {format: qa, queries_per_sequence: 2}\n"
        "model: {kind: gpt2}\ntrain: {lr: 0.001}\n"
    )
    with pytest.raises(ValueError, match="Unknown key 'model'"):
        load_generate_config(path)
    cfg = load_generate_config(
        path, ["world.d=6", "train.lr=0.1"], allow_sections={"model", "train"}
    )
    assert cfg.world.d == 6 and cfg.data.format == "qa"
    with pytest.raises(ValueError, match="Unknown key 'data.formt'"):
        load_generate_config(path, ["data.formt=qa"], allow_sections={"model", "train"})
