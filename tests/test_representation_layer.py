"""`model.representation_dim`: a layer of exactly D units between the trunk and the task heads,
the probe site `repr`, and what the in-training recovery probe measures on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from probekit.config import ExperimentConfig
from probekit.models import (
    MLPConfig,
    ModelConfig,
    TaskHeadsConfig,
    build_model,
    has_representation_layer,
    hidden_state_names,
    load_model,
)
from probekit.probing.activations import extract_activations, site_names
from probekit.training.recovery import final_representation, measure_recovery
from synthetic.bits import cube
from synthetic.tokenizer import TokenLayout, build_tokenizer

HEAD_KINDS = ["mlp", "gpt2", "llama", "bert"]
LM_KINDS = ["gpt2-lm", "llama-lm", "bert-mlm"]
M, N_TASKS, D, HIDDEN = 6, 3, 4, 16
LAYOUT = TokenLayout(M, N_TASKS)


def tiny(kind: str, **changes) -> ModelConfig:
    return ModelConfig(kind=kind, **{"hidden": HIDDEN, "n_layers": 2, "n_heads": 2, **changes})


def build(kind: str, seed: int = 0, **changes):
    return build_model(
        tiny(kind, **changes),
        vocab_size=LAYOUT.vocab_size,
        n_tasks=N_TASKS,
        seq_len=M + 2,
        m=M,
        pad_token_id=LAYOUT.pad_id,
        bos_token_id=LAYOUT.bos_id,
        eos_token_id=LAYOUT.eos_id,
        target="sign",
        seed=seed,
    ).eval()


def _x(n: int = 10, seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random((n, M)) < 0.5, 1, -1).astype(np.int8)


def inputs_for(kind: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """`x` for the MLP; `[BOS] x [SEP]` for decoders, `[CLS] x [SEP]` for BERT."""
    if kind == "mlp":
        return {"x": x}
    first = LAYOUT.cls_id if kind == "bert" else LAYOUT.bos_id
    n = len(x)
    ids = [np.full((n, 1), first), LAYOUT.x_token_ids(x), np.full((n, 1), LAYOUT.sep_id)]
    return {"input_ids": np.concatenate(ids, 1).astype(np.int64)}


def torch_inputs(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {
        k: torch.from_numpy(v.astype(np.int64 if k == "input_ids" else v.dtype))
        for k, v in inputs.items()
    }


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"representation_dim": 0}, "model.representation_dim must be a positive integer"),
        ({"representation_dim": -3}, "model.representation_dim must be a positive integer"),
        ({"representation_dim": True}, "model.representation_dim must be a positive integer"),
        ({"representation_dim": 2.5}, "model.representation_dim must be a positive integer"),
        ({"representation_dim": 4, "decoder_layers": -1}, "model.decoder_layers must be a non"),
        ({"representation_dim": 4, "decoder_layers": 1.0}, "model.decoder_layers must be a non"),
        ({"decoder_layers": 3}, "only applies with a representation layer; set model.repr"),
    ],
)
def test_invalid_options_name_the_field_and_the_fix(changes, match):
    with pytest.raises(ValueError, match=match):
        tiny("mlp", **changes)


@pytest.mark.parametrize("kind", LM_KINDS)
def test_lm_kinds_refuse_a_representation_layer(kind):
    with pytest.raises(ValueError, match=rf"not supported by model.kind='{kind}'.*bert, gpt2"):
        tiny(kind, representation_dim=D)
    data = {"model": {"kind": kind, "hidden": HIDDEN, "n_heads": 2, "representation_dim": D}}
    with pytest.raises(ValueError, match="In 'model'.*representation_dim"):
        ExperimentConfig.from_dict(data)


def test_model_configs_validate_and_round_trip():
    cfg = tiny("gpt2", representation_dim=D, decoder_layers=1)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="MLPConfig.representation_dim must be a positive"):
        MLPConfig(representation_dim=0)
    with pytest.raises(ValueError, match="TaskHeadsConfig.decoder_layers=1 only applies"):
        TaskHeadsConfig(decoder_layers=1)
    # Unset fields stay out of config dicts: older checkpoints and caches are unchanged.
    assert "representation_dim" not in MLPConfig().to_dict()
    assert "decoder_layers" not in TaskHeadsConfig().to_dict()
    assert MLPConfig(representation_dim=3).to_dict()["decoder_layers"] == 2


# --- the model ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_forward_shapes_and_every_parameter_trains(kind):
    model = build(kind, representation_dim=D).train()
    batch = torch_inputs(inputs_for(kind, _x(5)))
    targets = torch.ones(5, N_TASKS)
    out = model(**batch, targets=targets)
    assert out.logits.shape == (5, N_TASKS)
    assert out.representation.shape == (5, D)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert model.representation.layer.out_features == D
    assert len(model.representation.decoder) == 2
    assert all(layer.out_features == HIDDEN for layer in model.representation.decoder)
    assert model.head.in_features == HIDDEN
    loss, logits, rep = model(**batch, targets=targets, return_dict=False)  # tuple form too
    assert rep.shape == (5, D)


def test_decoder_layers_zero_puts_the_heads_on_the_representation():
    model = build("mlp", representation_dim=D, decoder_layers=0)
    assert len(model.representation.decoder) == 0 and model.head.in_features == D
    with torch.no_grad():
        out = model(**torch_inputs(inputs_for("mlp", _x(4))))
    torch.testing.assert_close(out.logits, model.head(out.representation))


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_save_and_reload_round_trip(kind, tmp_path):
    model = build(kind, representation_dim=D, decoder_layers=1)
    batch = torch_inputs(inputs_for(kind, _x(6)))
    with torch.no_grad():
        expected = model(**batch)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["representation_dim"] == D and saved["decoder_layers"] == 1
    for reloaded in (AutoModel.from_pretrained(tmp_path).eval(), load_model(tmp_path)):
        assert type(reloaded) is type(model)
        assert reloaded.config.representation_dim == D and reloaded.config.decoder_layers == 1
        with torch.no_grad():
            out = reloaded(**batch)
        torch.testing.assert_close(out.logits, expected.logits, rtol=0, atol=0)
        torch.testing.assert_close(out.representation, expected.representation, rtol=0, atol=0)


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_default_none_changes_nothing(kind, tmp_path):
    model = build(kind)
    assert not has_representation_layer(model) and model.representation is None
    assert hidden_state_names(model) == site_names(model) == ["embed", "layer.1", "layer.2"]
    assert not any(n.startswith("representation") for n in model.state_dict())
    if kind == "mlp":  # input layer, one more ReLU layer, heads
        expected = (M + 1) * HIDDEN + (HIDDEN + 1) * HIDDEN + (HIDDEN + 1) * N_TASKS
    else:
        expected = sum(p.numel() for p in model.backbone.parameters()) + (HIDDEN + 1) * N_TASKS
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.no_grad():
        assert model(**torch_inputs(inputs_for(kind, _x(3)))).representation is None
    # An old checkpoint has no representation fields in config.json; it loads without the layer.
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "representation_dim" not in saved and "decoder_layers" not in saved
    assert AutoModel.from_pretrained(tmp_path).representation is None


# --- the probe site `repr` --------------------------------------------------------------------


def _hooked_representation(model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The representation layer's output, caught by a forward hook."""
    caught = []
    handle = model.representation.layer.register_forward_hook(
        lambda module, args, output: caught.append(output.detach().clone())
    )
    try:
        with torch.no_grad():
            model(**torch_inputs(inputs))
    finally:
        handle.remove()
    return torch.cat(caught).numpy()


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_repr_is_a_site_extracted_as_the_layer_output(kind):
    model = build(kind, representation_dim=D)
    assert hidden_state_names(model) == site_names(model) == ["embed", "layer.1", "layer.2", "repr"]
    inputs = inputs_for(kind, _x(10))
    want = _hooked_representation(model, inputs)
    positions = ["sep"] if kind == "mlp" else ["sep", "last_x", "cls", "mean_x"]
    tokenizer = build_tokenizer(M, N_TASKS)
    for position in positions:  # position-free: the layer reads the model's readout position
        acts = extract_activations(
            model, inputs, position=position, tokenizer=tokenizer, batch_size=4
        )
        assert acts.sites[-1] == "repr"
        assert acts["repr"].shape == (10, D)
        np.testing.assert_allclose(acts["repr"], want, rtol=1e-5, atol=1e-6)
    only = extract_activations(model, inputs, sites=["repr"], tokenizer=tokenizer)
    np.testing.assert_allclose(only["repr"], want, rtol=1e-5, atol=1e-6)


def test_transformer_repr_is_read_at_the_readout_position():
    """For a decoder the layer reads the hidden state at SEP (the last token), whatever is asked."""
    model = build("gpt2", representation_dim=D)
    inputs = inputs_for("gpt2", _x(5))
    with torch.no_grad():
        out = model(**torch_inputs(inputs), output_hidden_states=True)
    at_sep = out.hidden_states[-1][:, -1]
    torch.testing.assert_close(out.representation, model.representation.layer(at_sep))


def test_activation_cache_keys_follow_the_site_set(tmp_path):
    model = build("mlp", representation_dim=D)
    inputs = inputs_for("mlp", _x(8))
    without = extract_activations(model, inputs, sites=["layer.2"], cache_dir=tmp_path)
    with_repr = extract_activations(model, inputs, sites=["layer.2", "repr"], cache_dir=tmp_path)
    assert without.path != with_repr.path and not with_repr.from_cache
    again = extract_activations(model, inputs, sites=["layer.2", "repr"], cache_dir=tmp_path)
    assert again.from_cache and again.path == with_repr.path
    np.testing.assert_array_equal(again["repr"], _hooked_representation(model, inputs))


# --- the in-training recovery probe -----------------------------------------------------------


def test_final_representation_is_the_representation_layer():
    for kind in ("mlp", "bert"):
        model = build(kind, representation_dim=D)
        inputs = inputs_for(kind, _x(7))
        rep = final_representation(model, torch_inputs(inputs), None, batch_size=3)
        np.testing.assert_allclose(rep, _hooked_representation(model, inputs), rtol=1e-6)


def test_recovery_scores_the_units_not_the_probe_outputs():
    z = cube(6).astype(np.float64)  # all 64 points
    rng = np.random.default_rng(0)
    signed_perm = 3.0 * z[:, rng.permutation(6)] * np.array([1, -1, 1, 1, -1, 1]) + 0.5
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    rotated = z @ rotation
    for rep in (signed_perm, rotated):
        assert measure_recovery(rep, z, z, seed=0)["probe_acc_z"] == 1.0  # both linear in z
    units = measure_recovery(signed_perm, z, z, seed=0)
    assert units["identification_error"] == pytest.approx(0.0, abs=1e-9)
    assert units["mcc"] == pytest.approx(1.0)
    # A rotation holds z linearly but not unit by unit: the unit score says so.
    mixed = measure_recovery(rotated, z, z, seed=0)
    assert mixed["identification_error"] > 0.3 and mixed["probe_acc_z"] == 1.0


def test_training_with_a_representation_layer_logs_recovery(tmp_path):
    from probekit.config import load_experiment
    from probekit.training.loop import train

    cfg = load_experiment(
        None,
        [
            "world.d=6",
            "tasks.n=16",
            "data.format=array",
            "data.n_train=256",
            "data.n_validation=64",
            "model.kind=mlp",
            "model.hidden=32",
            "model.n_layers=2",
            "model.representation_dim=6",
            "train.steps=30",
            "train.batch_size=32",
            "train.eval_every=15",
            "train.eval_examples=64",
            "train.checkpoint_every=1000",
            "train.warmup_steps=2",
        ],
    )
    result = train(cfg, tmp_path / "run", progress=False)
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows] == [15, 30]
    for key in ("probe_acc_z", "probe_acc_alt_basis", "identification_error", "mcc"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert rows[-1]["mcc"] == pytest.approx(1 - rows[-1]["identification_error"] / 2)
    model = AutoModel.from_pretrained(result.final_dir)
    assert model.config.representation_dim == 6 and "repr" in site_names(model)


def test_recovery_also_reports_the_models_training_inputs_when_some_are_held_out():
    # Never-seen rows that hold nothing of z beside seen rows that hold z exactly: the two
    # scopes must come out apart.
    z = cube(8).astype(np.float64)
    rng = np.random.default_rng(0)
    unseen = rng.random(len(z)) < 0.25
    rep = np.where(unseen[:, None], rng.normal(size=z.shape), z)
    out = measure_recovery(rep, z, z, seed=0, unseen=unseen)
    assert out["probe_acc_z"] < 0.7 and out["identification_error"] > 1.0
    assert out["probe_acc_z_seen"] == 1.0 and out["mcc_seen"] > 0.99
