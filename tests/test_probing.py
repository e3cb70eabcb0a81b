"""The probe sweep: known answers on identity and product representations, controls, errors."""

import json
from itertools import combinations

import numpy as np
import pytest

import probekit.probing.inputs as probe_inputs
import probekit.probing.pipeline as probing
from probekit.config import ExperimentConfig, ProbeConfig, load_experiment
from probekit.models import build_model
from probekit.probing.controls import probe_splits
from probekit.probing.inputs import ProbeInputs
from probekit.probing.pipeline import probe_checkpoint
from probekit.probing.probe_sweep import probe_sweep
from probekit.probing.summary import summarize
from synthetic.bits import cube
from synthetic.tokenizer import build_tokenizer

FAST = ProbeConfig(Cs=(1.0, 100.0), cv=2, z_pairs=False)


def _checkpoint(tmp_path, overrides, *, m_model=None, vocab_delta=0, name="run"):
    """A randomly initialised checkpoint in RUN/final with the spec of `overrides`."""
    cfg = load_experiment(
        None, ["model.hidden=16", "model.n_layers=2", "model.n_heads=2", "tasks.n=4", *overrides]
    )
    m = cfg.world.n_observed
    tok = build_tokenizer(m, cfg.tasks.n)
    model = build_model(
        cfg.model,
        vocab_size=len(tok) + vocab_delta,
        n_tasks=cfg.tasks.n,
        seq_len=m + 2,
        m=m_model or m,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
        seed=123,
    )
    final = tmp_path / name / "final"
    model.save_pretrained(final)
    tok.save_pretrained(final)
    (final / "probekit_spec.json").write_text(json.dumps({"experiment": cfg.to_dict()}))
    return tmp_path / name


IDENTITY_MLP = ["world.d=6", "world.observation=identity", "model.kind=mlp", "data.format=array"]


def test_identity_input_recovers_z_unit_by_unit_and_the_alt_basis_stays_low(tmp_path):
    run = _checkpoint(tmp_path, IDENTITY_MLP)
    report = probe_checkpoint(run, out=tmp_path / "out", config=FAST, progress=False)
    raw = report.summary["models"]["input"]["linear"]["input"]
    assert raw["acc_z"] == 1.0 and raw["acc_z_min"] == 1.0  # x = z: one coordinate each
    # The units of x are the latents: the §6 numbers and the ladder say so.
    assert raw["mcc_units"] > 0.95 and raw["identification_error_units"] < 0.1
    assert raw["rung"] == "signed_permutation"
    assert raw["acc_alt_basis"] < 0.8  # T_i = z_a z_b is not linear in z
    assert raw["alt_basis_ladder"]["rung"] == "none"
    assert raw["selectivity"] == pytest.approx(1.0 - raw["acc_control_task"])
    controls = report.summary["models"]["trained"]["linear"]["layer.2"]["controls"]
    assert set(controls) == {"random_init", "raw_input", "alt_basis", "control_task"}
    assert controls["raw_input"] == raw["acc_z"]
    # The tidy rows hold every model, family and metric, with the documented columns.
    rows = report.rows
    assert {r["model"] for r in rows} == {"trained", "random_init", "input"}
    assert {r["target_family"] for r in rows} == {"z", "alt_basis", "control_task", "x", "tasks"}
    assert {r["probe"] for r in rows} == {"linear", "units"}
    assert set(rows[0]) == {
        "model",
        "site",
        "layer",
        "position",
        "target_family",
        "target",
        "probe",
        "split",
        "metric",
        "value",
    }
    # The model's training inputs, the probe's fit inputs, the inputs that choose the layer
    # and the inputs reported are disjoint; the split is the checkpoint's own holdout.
    splits = report.summary["splits"]
    assert report.summary["scope"] == "unseen" and splits["test_unseen"] > 0
    assert {r["split"] for r in rows} == {"val_seen", "test_seen", "val_unseen", "test_unseen"}
    trained_sites = {r["site"] for r in rows if r["model"] == "trained"}
    assert trained_sites == {"embed", "layer.1", "layer.2"}
    # The MLP's embed site is x itself, so it scores exactly like the input control.
    embed = report.summary["models"]["trained"]["linear"]["embed"]
    assert embed["acc_z"] == raw["acc_z"] and embed["acc_alt_basis"] == raw["acc_alt_basis"]
    assert embed["mcc_units"] == raw["mcc_units"]
    out = tmp_path / "out"
    written = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert written == rows
    assert json.loads((out / "summary.json").read_text())["best_layer"]["linear"]["acc_z"] == 1.0
    for png in ("accuracy_linear.png", "correlation_linear.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_same_seed_same_numbers_and_the_cache_is_reused(tmp_path, monkeypatch):
    run = _checkpoint(tmp_path, IDENTITY_MLP)
    cache = tmp_path / "cache"
    first = probe_checkpoint(run, cache_dir=cache, config=FAST, progress=False)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 2  # trained and random_init

    calls = []
    original = probing.extract_activations

    def spy(*args, **kwargs):
        acts = original(*args, **kwargs)
        calls.append(acts.from_cache)
        return acts

    monkeypatch.setattr(probing, "extract_activations", spy)
    second = probe_checkpoint(run, cache_dir=cache, config=FAST, progress=False)
    assert calls == [True, True] and sorted(p.name for p in cache.iterdir()) == entries
    assert second.rows == first.rows
    other = probe_checkpoint(run, config=FAST, seed=5, progress=False)
    assert other.rows != first.rows  # the seed moves the split and the controls


def test_degree_two_characters_are_linear_only_where_products_are_represented():
    z = cube(6).astype(np.float64)
    pairs = np.stack([z[:, i] * z[:, j] for i, j in combinations(range(6), 2)], 1)
    inputs = ProbeInputs(
        feed={},
        families=probe_inputs._synthetic_families({"z": z, "x": z}, z_pairs=True),
        split_key=z,
        input_rep=z,
        primary="z",
    )
    reps = {"trained": {"layer.1": np.concatenate([z, pairs], 1)}, "input": {"input": z}}
    splits = probe_splits(z, None, 0.3, np.random.default_rng(0))
    sweep = probe_sweep(reps, inputs, cfg=FAST, splits=splits, progress=False)
    summary = summarize(sweep, inputs, ["linear"])
    assert summary["models"]["trained"]["linear"]["layer.1"]["acc_z_pairs"] == 1.0
    assert summary["models"]["input"]["linear"]["input"]["acc_z_pairs"] < 0.7
    assert summary["models"]["input"]["linear"]["input"]["acc_z"] == 1.0
    names = {r["target"] for r in sweep.rows if r["target_family"] == "z_pairs"}
    assert len(names) == 15 and "z0*z5" in names


def test_user_targets_and_mlp_probe(tmp_path):
    run = _checkpoint(tmp_path, IDENTITY_MLP)
    z = cube(6)
    xor = z[:, 0] * z[:, 1]
    cfg = ProbeConfig(Cs=(1.0,), cv=2, z_pairs=False, controls=("input",), mlp_steps=200)
    report = probe_checkpoint(
        run, user_targets={"z0_xor_z1": xor}, probes=["linear", "mlp"], config=cfg, progress=False
    )
    raw = report.summary["models"]["input"]
    # An XOR is invisible to a linear probe of z and easy for a small MLP probe.
    assert raw["linear"]["input"]["acc_user"] < 0.75
    assert raw["mlp"]["input"]["acc_user"] >= 0.9
    assert {r["probe"] for r in report.rows} == {"linear", "mlp", "units"}


def _no_forward(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("heavy work started before the input was checked")

    monkeypatch.setattr(probing, "extract_activations", boom)


def test_bad_input_fails_before_any_forward_pass(tmp_path, monkeypatch):
    _no_forward(monkeypatch)
    run = _checkpoint(tmp_path, IDENTITY_MLP)
    with pytest.raises(ValueError, match=r"Unknown site\(s\) 'layer.9'.*embed, layer.1, layer.2"):
        probe_checkpoint(run, sites=["layer.9"], config=FAST, progress=False)
    with pytest.raises(ValueError, match="single class"):
        probe_checkpoint(run, user_targets={"flat": np.ones(64)}, config=FAST, progress=False)
    wide = _checkpoint(tmp_path, IDENTITY_MLP, m_model=7, name="wide")
    with pytest.raises(ValueError, match="input width m=7"):
        probe_checkpoint(wide, config=FAST, progress=False)
    small = _checkpoint(
        tmp_path,
        ["world.d=6", "model.kind=gpt2", "data.format=multitask"],
        vocab_delta=-5,
        name="small_vocab",
    )
    with pytest.raises(ValueError, match="vocabulary has"):
        probe_checkpoint(small, config=FAST, progress=False)
    with pytest.raises(ValueError, match="position='middle' is unknown"):
        probe_checkpoint(small, position="middle", config=FAST, progress=False)
    (run / "final" / "probekit_spec.json").unlink()
    with pytest.raises(ValueError, match="no probekit_spec.json"):
        probe_checkpoint(run, config=FAST, progress=False)


def test_spec_probe_section_sets_the_defaults(tmp_path):
    run = _checkpoint(
        tmp_path,
        [
            *IDENTITY_MLP,
            "probe.seed=3",
            "probe.controls=[input]",
            "probe.cv=2",
            "probe.z_pairs=false",
        ],
    )
    report = probe_checkpoint(run, progress=False)
    assert report.summary["seed"] == 3 and report.summary["controls"] == ["input"]
    assert {r["model"] for r in report.rows} == {"trained", "input"}
    assert (
        ExperimentConfig.from_dict(
            json.loads((run / "final" / "probekit_spec.json").read_text())["experiment"]
        ).probe.seed
        == 3
    )


@pytest.mark.slow
def test_trained_mlp_recovers_z_far_above_controls(tmp_path):
    from probekit.training.loop import train

    cfg = load_experiment(
        None,
        [
            "world.d=8",
            "tasks.n=256",
            "model.kind=mlp",
            "data.format=array",
            "model.hidden=128",
            "model.n_layers=2",
            "train.steps=800",
            "train.batch_size=256",
            "train.warmup_steps=20",
            "train.eval_every=800",
            "train.checkpoint_every=800",
            "train.lr=3e-3",
            "train.recovery_probe=false",
        ],
    )
    result = train(cfg, tmp_path / "run", progress=False)
    report = probe_checkpoint(tmp_path / "run", config=FAST, progress=False)
    models = report.summary["models"]
    last = models["trained"]["linear"]["layer.2"]
    # On the model's training inputs (held out from the probe): with no task equal to a
    # latent, 256 tasks and 800 steps give z about 0.75 at the last layer, against 0.50
    # untrained and 0.66 for the alternative basis (a product of two latents, partly linear
    # in a layer that holds z).
    on_seen = report.summary["seen"]["models"]
    seen, untrained = (on_seen[m]["linear"]["layer.2"] for m in ("trained", "random_init"))
    assert seen["acc_z"] > untrained["acc_z"] + 0.2
    # On inputs it never saw, a random bijection gives the model nothing to generalise from:
    # z is at chance there, and the tasks too, so the verdict must be undecided.
    assert last["acc_z"] < 0.6 and report.summary["task_acc_heldout"] < 0.6
    assert report.summary["task_metrics"] == pytest.approx(result.metrics)


def test_auto_position_reads_where_the_model_answers():
    from probekit.config import ModelConfig
    from probekit.models import build_model
    from probekit.probing.pipeline import readout_position

    common = dict(
        vocab_size=20,
        n_tasks=2,
        seq_len=8,
        m=4,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
    )
    tiny = dict(hidden=16, n_layers=1, n_heads=2)
    assert readout_position(build_model(ModelConfig(kind="bert", **tiny), **common)) == "cls"
    assert readout_position(build_model(ModelConfig(kind="bert-mlm", **tiny), **common)) == "cls"
    assert readout_position(build_model(ModelConfig(kind="gpt2", **tiny), **common)) == "sep"
    assert readout_position(build_model(ModelConfig(kind="llama-lm", **tiny), **common)) == "sep"


def test_the_heat_map_says_it_is_matched_absolute_correlation(tmp_path, monkeypatch):
    import matplotlib.axes

    from probekit.probing import plots

    titles = []
    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(
        matplotlib.axes.Axes, "set_title", lambda ax, t, **kw: titles.append(t) or real(ax, t, **kw)
    )
    path = plots.plot_correlation_matrix(np.eye(4), tmp_path / "c.png", site="layer.2 (trained)")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert titles == [
        "|correlation| of the units of layer.2 (trained) with z,\n"
        "after matching units to latents one to one"
    ]
