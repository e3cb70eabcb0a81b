"""Tests of probekit.models: every kind builds, trains a step, round-trips, and reads where it says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from probekit.models import (
    MLPConfig,
    MLPModel,
    ModelConfig,
    TaskHeadsConfig,
    TaskHeadsModel,
    build_model,
    data_format_for,
    hidden_state_name,
    hidden_state_names,
    load_model,
    model_input_names,
    model_kinds,
)
from synthetic.registry import UnknownNameError

ALL_KINDS = ["mlp", "gpt2", "llama", "bert", "gpt2-lm", "llama-lm", "bert-mlm"]
HEAD_KINDS = ["gpt2", "llama", "bert"]
VOCAB, N_TASKS, SEQ, M = 13, 3, 9, 7
DATA = dict(
    vocab_size=VOCAB,
    n_tasks=N_TASKS,
    seq_len=SEQ,
    m=M,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    target="sign",
)


def tiny(kind: str, **changes) -> ModelConfig:
    return ModelConfig(kind=kind, **{"hidden": 32, "n_layers": 2, "n_heads": 4, **changes})


def build(kind: str, seed: int = 0, **data):
    return build_model(tiny(kind), seed=seed, **{**DATA, **data}).eval()


def random_batch(kind: str, batch: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if kind == "mlp":
        x = torch.randint(0, 2, (batch, M), generator=g) * 2 - 1
        return {"x": x.to(torch.int8), "targets": _signs(batch, g)}
    ids = torch.randint(3, VOCAB, (batch, SEQ), generator=g)
    if kind in HEAD_KINDS:
        return {"input_ids": ids, "targets": _signs(batch, g)}
    labels = torch.full_like(ids, -100)
    labels[:, -2] = ids[:, -2]  # one answer token per sequence
    return {"input_ids": ids, "labels": labels}


def _signs(batch: int, g: torch.Generator) -> torch.Tensor:
    return (torch.randint(0, 2, (batch, N_TASKS), generator=g) * 2 - 1).float()


def test_registry_lists_every_kind():
    assert model_kinds() == sorted(ALL_KINDS)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_forward_backward_reaches_every_parameter(kind):
    model = build(kind).train()
    out = model(**random_batch(kind))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    if kind == "mlp" or kind in HEAD_KINDS:
        assert out.logits.shape == (5, N_TASKS)
    else:
        assert out.logits.shape == (5, SEQ, VOCAB)
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_save_and_reload_gives_identical_outputs(kind, tmp_path):
    model = build(kind)
    batch = random_batch(kind)
    inputs = {k: v for k, v in batch.items() if k not in ("targets", "labels")}
    with torch.no_grad():
        expected = model(**inputs).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)
    reloaded = load_model(tmp_path)
    assert type(reloaded) is type(model)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, expected, rtol=0, atol=0)
    if kind == "mlp" or kind in HEAD_KINDS:  # the custom classes load through AutoModel too
        auto = AutoModel.from_pretrained(tmp_path).eval()
        assert type(auto) is type(model)
        with torch.no_grad():
            torch.testing.assert_close(auto(**inputs).logits, expected, rtol=0, atol=0)


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No config.json"):
        load_model(tmp_path)
    build("mlp").save_pretrained(tmp_path)
    config = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(config.replace('"MLPModel"', '"AutoConfig"'))
    with pytest.raises(ValueError, match="Unknown architecture 'AutoConfig'"):
        load_model(tmp_path)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_hidden_states_are_n_layers_plus_one_and_named(kind):
    model = build(kind)
    batch = random_batch(kind)
    inputs = {k: v for k, v in batch.items() if k not in ("targets", "labels")}
    with torch.no_grad():
        states = model(**inputs, output_hidden_states=True).hidden_states
    assert len(states) == 3
    assert hidden_state_names(model) == ["embed", "layer.1", "layer.2"]
    assert hidden_state_names(model.config) == ["embed", "layer.1", "layer.2"]
    with torch.no_grad():
        assert model(**inputs).hidden_states is None


def test_hidden_state_name():
    assert hidden_state_name(0) == "embed"
    assert hidden_state_name(3) == "layer.3"
    with pytest.raises(ValueError, match="non-negative"):
        hidden_state_name(-1)


def _feature_stats(h: torch.Tensor) -> tuple[float, float, float]:
    """Largest |mean|, largest |std - 1| and largest |rms - 1| over tokens (features last)."""
    mean = h.mean(-1).abs().max().item()
    std = (h.std(-1, unbiased=False) - 1).abs().max().item()
    rms = (h.pow(2).mean(-1).sqrt() - 1).abs().max().item()
    return mean, std, rms


def test_final_norm_applies_to_the_last_state_only_as_documented():
    ids = random_batch("gpt2")["input_ids"]
    with torch.no_grad():
        gpt2 = build("gpt2")(input_ids=ids, output_hidden_states=True).hidden_states
        llama = build("llama")(input_ids=ids, output_hidden_states=True).hidden_states
        bert = build("bert")(input_ids=ids, output_hidden_states=True).hidden_states
    # Norm weights start at 1 and biases at 0, so a normalised state has unit std (rms).
    mean, std, _ = _feature_stats(gpt2[-1])
    assert mean < 1e-4 and std < 1e-2  # ln_f applied
    assert _feature_stats(gpt2[1])[1] > 0.5  # the raw residual stream is not normalised
    assert _feature_stats(llama[-1])[2] < 1e-2  # RMSNorm applied
    assert _feature_stats(llama[1])[2] > 0.5
    for state in bert[1:]:  # post-LN blocks: every block output is normalised
        mean, std, _ = _feature_stats(state)
        assert mean < 1e-4 and std < 1e-2


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_decoder_readout_sees_only_tokens_up_to_the_readout_position(kind):
    model = build(kind)
    ids = random_batch(kind)["input_ids"]
    pos = torch.tensor([4, 5, 6, 4, 8])
    after, before = ids.clone(), ids.clone()
    for row, p in enumerate(pos.tolist()):
        after[row, p + 1 :] = 3 + (after[row, p + 1 :] - 3 + 1) % (VOCAB - 3)
        before[row, p - 1] = 3 + (before[row, p - 1] - 3 + 1) % (VOCAB - 3)
    with torch.no_grad():
        base = model(input_ids=ids, readout_position=pos).logits
        changed_after = model(input_ids=after, readout_position=pos).logits
        changed_before = model(input_ids=before, readout_position=pos).logits
    # The last row reads at the last position, so nothing comes after it.
    torch.testing.assert_close(changed_after, base, rtol=0, atol=1e-6)
    assert ((changed_before - base).abs().amax(dim=1) > 1e-4).all()


def test_encoder_readout_sees_tokens_after_the_readout_position():
    model = build("bert")
    ids = random_batch("bert")["input_ids"]
    after = ids.clone()
    after[:, 3:] = 3 + (after[:, 3:] - 3 + 1) % (VOCAB - 3)
    with torch.no_grad():
        base = model(input_ids=ids).logits
        changed = model(input_ids=after).logits
    assert ((changed - base).abs().amax(dim=1) > 1e-4).all()


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_head_reads_the_last_hidden_state_at_the_readout_position(kind):
    model = build(kind)
    ids = random_batch(kind)["input_ids"]
    pos = torch.tensor([0, 2, 4, 6, 8])
    with torch.no_grad():
        out = model(input_ids=ids, readout_position=pos, output_hidden_states=True)
        expected = model.head(out.hidden_states[-1][torch.arange(5), pos])
        torch.testing.assert_close(out.logits, expected, rtol=0, atol=0)
        # Without a position: decoders read the last token (SEP), BERT reads index 0 (CLS).
        default = SEQ - 1 if kind != "bert" else 0
        torch.testing.assert_close(
            model(input_ids=ids).logits,
            model(input_ids=ids, readout_position=torch.full((5,), default)).logits,
            rtol=0,
            atol=0,
        )


def test_attention_implementation_reaches_the_backbone(tmp_path):
    build("llama").save_pretrained(tmp_path)
    eager = TaskHeadsModel.from_pretrained(tmp_path, attn_implementation="eager")
    assert eager.backbone.config._attn_implementation == "eager"
    sdpa = TaskHeadsModel.from_pretrained(tmp_path, attn_implementation="sdpa")
    assert sdpa.backbone.config._attn_implementation == "sdpa"
    ids = random_batch("llama")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(eager(input_ids=ids).logits, sdpa(input_ids=ids).logits)


def test_last_readout_follows_the_attention_mask():
    model = build("gpt2")
    ids = random_batch("gpt2")["input_ids"]
    mask = torch.ones_like(ids)
    mask[:, 6:] = 0  # right padding: the last real token is at index 5
    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=mask).logits
        at_five = model(input_ids=ids[:, :6]).logits
    torch.testing.assert_close(masked, at_five, rtol=1e-5, atol=1e-6)


def test_readout_position_errors():
    model = build("gpt2")
    ids = random_batch("gpt2")["input_ids"]
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        model(input_ids=ids, readout_position=torch.full((5,), SEQ))
    with pytest.raises(ValueError, match="one position per example"):
        model(input_ids=ids, readout_position=torch.zeros(4, dtype=torch.long))
    model.config.readout = "position"
    with pytest.raises(ValueError, match="pass readout_position"):
        model(input_ids=ids)


def test_soft_margin_loss_matches_the_formula_by_hand():
    model = build("mlp")
    batch = random_batch("mlp")
    with torch.no_grad():
        out = model(**batch)
    y, f = batch["targets"].double(), out.logits.double()
    by_hand = torch.log1p(torch.exp(-y * f)).mean()
    assert out.loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    # Zero heads give logits 0 and the loss log 2 whatever the targets.
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        assert model(**batch).loss.item() == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "gpt2"])
def test_real_targets_use_mean_squared_error(kind):
    model = build(kind, target="real")
    batch = random_batch(kind)
    batch["targets"] = batch["targets"] * 0.3 + 0.1
    with torch.no_grad():
        out = model(**batch)
    expected = ((out.logits - batch["targets"]) ** 2).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert model.config.target == "real"


def test_task_models_refuse_token_labels():
    batch = random_batch("gpt2")
    with pytest.raises(TypeError, match="`targets`"):
        build("gpt2")(input_ids=batch["input_ids"], labels=batch["targets"])
    with pytest.raises(TypeError, match="`targets`"):
        build("mlp")(x=torch.zeros(2, M), labels=torch.zeros(2, N_TASKS))


def test_targets_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"targets have shape \(5, 2\)"):
        build("mlp")(x=torch.zeros(5, M), targets=torch.zeros(5, 2))


def test_mlp_hidden_states_are_input_then_each_relu_layer():
    model = build("mlp")
    x = random_batch("mlp")["x"]
    with torch.no_grad():
        states = model(x=x, output_hidden_states=True).hidden_states
        torch.testing.assert_close(states[0], x.float())
        for i, layer in enumerate(model.layers):
            torch.testing.assert_close(states[i + 1], torch.relu(layer(states[i])))
        torch.testing.assert_close(model(x=x).logits, model.head(states[-1]))
    assert [s.shape[1] for s in states] == [M, 32, 32]
    with pytest.raises(ValueError, match=r"\(batch, m=7\)"):
        model(x=torch.zeros(2, M + 1))


def test_mlp_init_keeps_the_signal_alive_through_depth():
    # He init keeps E[h^2] near E[x^2] = 1; std-0.02 init would give ~1e-4 after 4 layers.
    model = build_model(tiny("mlp", hidden=256, n_layers=4), seed=0, **DATA)
    x = torch.randint(0, 2, (512, M)).float() * 2 - 1
    with torch.no_grad():
        states = model(x=x, output_hidden_states=True).hidden_states
    for state in states[1:]:
        assert 0.3 < state.pow(2).mean().item() < 3.0


def test_seed_gives_identical_weights_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("gpt2", seed=7).state_dict()
    after = torch.rand(1)
    b = build("gpt2", seed=7).state_dict()
    c = build("gpt2", seed=8).state_dict()
    assert before.item() == after.item()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["head.weight"], c["head.weight"])


def test_sizes_reach_the_stock_configs():
    cfg = ModelConfig(kind="llama", hidden=48, n_layers=3, n_heads=6, intermediate=40)
    model = build_model(cfg, **DATA)
    backbone = model.backbone.config
    assert (backbone.hidden_size, backbone.num_hidden_layers) == (48, 3)
    assert (backbone.num_attention_heads, backbone.intermediate_size) == (6, 40)
    assert backbone.max_position_embeddings == SEQ  # max_positions=None -> seq_len
    gpt2 = build_model(tiny("gpt2-lm", max_positions=20), **DATA)
    assert gpt2.config.n_positions == 20 and gpt2.config.n_inner == 128  # 4 * hidden
    assert isinstance(model.config, TaskHeadsConfig) and model.config.backbone_type == "llama"
    assert isinstance(build("mlp"), MLPModel) and isinstance(build("bert"), TaskHeadsModel)


def test_max_positions_smaller_than_sequence_is_a_clear_error():
    with pytest.raises(ValueError) as err:
        build_model(tiny("gpt2", max_positions=SEQ - 1), **DATA)
    message = str(err.value)
    assert f"max_positions={SEQ - 1}" in message and str(SEQ) in message
    assert f"model.max_positions={SEQ}" in message


def test_hidden_not_divisible_by_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="model.hidden=30 is not divisible by model.n_heads=4"):
        ModelConfig(kind="gpt2", hidden=30, n_heads=4)
    ModelConfig(kind="mlp", hidden=30, n_heads=4)  # the MLP has no heads


def test_llama_needs_an_even_head_size():
    with pytest.raises(ValueError, match="even head size"):
        ModelConfig(kind="llama", hidden=36, n_heads=12)


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        ModelConfig(kind="gpt3")
    assert "gpt3" in str(err.value)
    assert all(kind in str(err.value) for kind in ALL_KINDS)
    with pytest.raises(KeyError):
        model_input_names("gpt3")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"hidden": 0}, "model.hidden must be a positive integer"),
        ({"n_layers": 1.5}, "model.n_layers"),
        ({"dropout": 1.0}, r"model.dropout must be in \[0, 1\)"),
        ({"intermediate": -3}, "model.intermediate"),
    ],
)
def test_invalid_sizes_name_the_field(changes, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**{"kind": "gpt2", **changes})


def test_build_arguments_are_checked():
    with pytest.raises(ValueError, match="Unknown target 'binary'"):
        build_model(tiny("gpt2"), **{**DATA, "target": "binary"})
    with pytest.raises(ValueError, match="pad_token_id=99 is outside the vocabulary"):
        build_model(tiny("gpt2"), **{**DATA, "pad_token_id": 99})
    with pytest.raises(ValueError, match="n_tasks must be a positive integer"):
        build_model(tiny("mlp"), **{**DATA, "n_tasks": 0})


def test_model_config_dict_round_trip_is_strict():
    cfg = tiny("bert", dropout=0.1)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="Known keys: kind, hidden"):
        ModelConfig.from_dict({"kind": "bert", "hiden": 32})


def test_custom_configs_validate():
    with pytest.raises(ValueError, match="MLPConfig.hidden"):
        MLPConfig(hidden=0)
    with pytest.raises(ValueError, match="Unknown readout 'middle'"):
        TaskHeadsConfig(readout="middle")
    with pytest.raises(ValueError, match="Unknown backbone_type 't5'"):
        TaskHeadsConfig(backbone_type="t5")


def test_input_names_and_formats():
    assert model_input_names("mlp") == ("x", "targets")
    assert model_input_names("gpt2") == ("input_ids", "targets")
    assert model_input_names("llama-lm") == ("input_ids", "labels")
    assert model_input_names("bert", with_labels=False) == ("input_ids",)
    assert data_format_for("bert") == ("encoder", "multitask")
    assert data_format_for("gpt2-lm") == ("qa", "qa_isolated")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_kind_trains_on_its_data_format(kind):
    """The columns `model_input_names` names exist in the format's data and feed the forward."""
    sequences = pytest.importorskip("synthetic.sequences")
    tokenizer = pytest.importorskip("synthetic.tokenizer")
    layout = tokenizer.TokenLayout(M, N_TASKS, 1)
    rng = np.random.default_rng(0)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(6, M))
    targets = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(6, N_TASKS))
    columns = sequences.encode_arrays(data_format_for(kind)[0], x, targets, layout, 1, rng)
    seq_len = columns["input_ids"].shape[1] if "input_ids" in columns else 1
    model = build_model(
        tiny(kind),
        vocab_size=layout.vocab_size,
        n_tasks=N_TASKS,
        seq_len=seq_len,
        m=M,
        pad_token_id=layout.pad_id,
        bos_token_id=layout.bos_id,
        eos_token_id=layout.eos_id,
        target="sign",
        seed=0,
    )
    batch = {}
    for name in model_input_names(kind):
        value = torch.from_numpy(np.ascontiguousarray(columns[name]))
        batch[name] = value.long() if value.dtype in (torch.int8, torch.int32) else value
    out = model(**batch)
    assert torch.isfinite(out.loss)
