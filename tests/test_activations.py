"""Activation extraction: site names, token positions, caching and bad input, on tiny random models."""

import numpy as np
import pytest
import torch

from probekit.models import ModelConfig, build_model
from probekit.models.checkpoints import load_checkpoint, random_init_copy
from probekit.probing.activations import check_sites, extract_activations, site_names
from probekit.probing.positions import token_roles
from synthetic.tokenizer import TokenLayout, build_tokenizer

M, N_TASKS = 6, 3
LAYOUT = TokenLayout(M, N_TASKS)


def _model(kind, n_layers=2, seed=0):
    return build_model(
        ModelConfig(kind=kind, hidden=16, n_layers=n_layers, n_heads=2),
        vocab_size=LAYOUT.vocab_size,
        n_tasks=N_TASKS,
        seq_len=12,
        m=M,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
        seed=seed,
    ).eval()


def _x(n=12, seed=0):
    return np.where(np.random.default_rng(seed).random((n, M)) < 0.5, 1, -1).astype(np.int8)


def _multitask_ids(x):
    n = len(x)
    return np.concatenate(
        [np.full((n, 1), LAYOUT.bos_id), LAYOUT.x_token_ids(x), np.full((n, 1), LAYOUT.sep_id)], 1
    )


def _encoder_ids(x):
    n = len(x)
    tail = np.tile([LAYOUT.sep_id, LAYOUT.task_offset, LAYOUT.mask_id, LAYOUT.sep_id], (n, 1))
    return np.concatenate([np.full((n, 1), LAYOUT.cls_id), LAYOUT.x_token_ids(x), tail], 1)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(M, N_TASKS)


@pytest.mark.parametrize("kind,n_layers", [("gpt2", 2), ("bert", 3), ("mlp", 4), ("llama", 1)])
def test_site_names_and_count(kind, n_layers):
    model = _model(kind, n_layers)
    names = site_names(model)
    assert names == ["embed"] + [f"layer.{i}" for i in range(1, n_layers + 1)]
    with pytest.raises(ValueError, match="layer.9.*This model has: embed, layer.1"):
        check_sites(["layer.9"], names)


@pytest.mark.parametrize("position", ["sep", "last_x", "mean_x", "cls", "index:2", "index:-1"])
def test_position_matches_manual_forward_decoder(tokenizer, position):
    model = _model("gpt2")
    x = _x()
    ids = _multitask_ids(x)
    acts = extract_activations(model, {"input_ids": ids}, position=position, tokenizer=tokenizer)
    with torch.no_grad():
        hidden = model(input_ids=torch.from_numpy(ids), output_hidden_states=True).hidden_states
    G = LAYOUT.n_groups
    expected_index = {"sep": G + 1, "last_x": G, "cls": 0, "index:2": 2, "index:-1": G + 1}
    for i, site in enumerate(site_names(model)):
        h = hidden[i].numpy()
        want = h[:, 1 : 1 + G].mean(1) if position == "mean_x" else h[:, expected_index[position]]
        np.testing.assert_allclose(acts[site], want, rtol=1e-5, atol=1e-6)


def test_encoder_sep_is_the_separator_after_x_not_the_last(tokenizer):
    model = _model("bert")
    x = _x()
    ids = _encoder_ids(x)
    roles = token_roles(ids, special_ids=tokenizer.all_special_ids, sep_id=tokenizer.sep_token_id)
    G = LAYOUT.n_groups
    assert (roles.sep == G + 1).all() and (roles.last_x == G).all() and (roles.cls == 0).all()
    # The task token after SEP is not special, yet must not count as an x token.
    assert roles.x_mask[:, 1 : 1 + G].all() and roles.x_mask.sum(1).tolist() == [G] * len(x)
    acts = extract_activations(model, {"input_ids": ids}, position="sep", tokenizer=tokenizer)
    with torch.no_grad():
        last = model(input_ids=torch.from_numpy(ids), output_hidden_states=True).hidden_states[-1]
    np.testing.assert_allclose(acts["layer.2"], last[:, G + 1].numpy(), rtol=1e-5, atol=1e-6)


def test_padding_is_respected_for_sep_and_mean_x(tokenizer):
    # Right padding: row 1 has its SEP earlier and padding after it.
    ids = np.array([[1, 9, 11, 13, 3], [1, 9, 11, 3, 0]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    roles = token_roles(ids, mask, special_ids=tokenizer.all_special_ids, sep_id=3)
    assert roles.sep.tolist() == [4, 3] and roles.last_x.tolist() == [3, 2]
    assert roles.index(-1).tolist() == [4, 3]
    with pytest.raises(ValueError, match="index:4 falls outside"):
        roles.index(4)


def test_mlp_states_are_x_then_each_layer():
    model = _model("mlp", n_layers=2)
    x = _x().astype(np.float32)
    acts = extract_activations(model, {"x": x}, position="sep")
    assert acts.position == "none"
    np.testing.assert_array_equal(acts["embed"], x)
    with torch.no_grad():
        h1 = torch.relu(model.layers[0](torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(acts["layer.1"], h1, rtol=1e-6)


def test_second_call_hits_the_cache(tmp_path, tokenizer, monkeypatch):
    model = _model("gpt2")
    ids = _multitask_ids(_x(40))
    first = extract_activations(
        model, {"input_ids": ids}, tokenizer=tokenizer, cache_dir=tmp_path, batch_size=16
    )
    assert not first.from_cache
    assert len(list(tmp_path.iterdir())) == 1  # one complete entry, no temporary left

    def boom(*a, **k):
        raise AssertionError("the model ran although the cache holds these activations")

    monkeypatch.setattr(model, "forward", boom)
    second = extract_activations(
        model, {"input_ids": ids}, tokenizer=tokenizer, cache_dir=tmp_path, batch_size=16
    )
    assert second.from_cache and isinstance(second["layer.1"], np.memmap)
    for site in first.sites:
        np.testing.assert_array_equal(first[site], second[site])
    monkeypatch.undo()
    # Other weights or another position are other keys.
    other = extract_activations(
        random_init_copy(model, seed=1), {"input_ids": ids}, tokenizer=tokenizer, cache_dir=tmp_path
    )
    assert not other.from_cache
    assert not np.allclose(other["layer.2"], first["layer.2"])


def test_random_init_copy_is_seeded_and_differs_from_original():
    model = _model("gpt2")
    a, b = random_init_copy(model, seed=3), random_init_copy(model, seed=3)
    c = random_init_copy(model, seed=4)
    pa, pb, pc = (next(iter(m.parameters())) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert type(a) is type(model)


def test_load_checkpoint_from_run_dir(tmp_path, tokenizer):
    model = _model("gpt2")
    final = tmp_path / "run" / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.path == final and ckpt.tokenizer is not None and ckpt.spec is None
    ids = _multitask_ids(_x())
    from_path = extract_activations(final, {"input_ids": ids})
    direct = extract_activations(model, {"input_ids": ids}, tokenizer=tokenizer)
    np.testing.assert_allclose(from_path["layer.2"], direct["layer.2"], rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        load_checkpoint(tmp_path)


def test_bad_inputs_fail_before_the_forward(tokenizer):
    model = _model("gpt2")
    ids = _multitask_ids(_x())
    with pytest.raises(ValueError, match="vocabulary has"):
        extract_activations(model, {"input_ids": ids + LAYOUT.vocab_size}, tokenizer=tokenizer)
    with pytest.raises(ValueError, match="positions"):
        extract_activations(model, {"input_ids": np.tile(ids, (1, 3))}, tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"Unknown site\(s\) 'layer.7'"):
        extract_activations(model, {"input_ids": ids}, sites=["layer.7"], tokenizer=tokenizer)
    with pytest.raises(ValueError, match="Unknown position 'middle'"):
        extract_activations(model, {"input_ids": ids}, position="middle", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="input_ids"):
        extract_activations(model, {"x": _x()}, tokenizer=tokenizer)
    mlp = _model("mlp")
    with pytest.raises(ValueError, match="input width m=6"):
        extract_activations(mlp, {"x": np.ones((4, M + 1), np.float32)})
