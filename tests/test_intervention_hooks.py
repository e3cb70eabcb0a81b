"""Site hooks: the state a hook edits is the state the probe read, and the hook never outlives its block."""

import numpy as np
import pytest
import torch
from conftest import tiny_task_model

from probekit.config import load_experiment
from probekit.probing.activations import extract_activations, site_names
from probekit.probing.hooks import edited_logits, site_edit
from probekit.probing.interventions import Placement, shift_edit
from probekit.probing.positions import tokenizer_roles
from synthetic.tokenizer import build_tokenizer

KINDS = [
    ("mlp", []),
    ("mlp", ["model.representation_dim=5"]),
    ("gpt2", []),
    ("llama", []),
    ("bert", []),
    ("gpt2", ["model.representation_dim=5"]),
]


def _model(kind, extra):
    fmt = "array" if kind == "mlp" else "multitask"
    cfg = load_experiment(
        None,
        [f"model.kind={kind}", f"data.format={fmt}", "model.hidden=16", "model.n_layers=2"]
        + ["model.n_heads=2", *extra],
    )
    tok = build_tokenizer(5, 4)
    model = tiny_task_model(cfg.model, tok).eval()
    rng = np.random.default_rng(0)
    z = np.where(rng.random((6, 5)) < 0.5, -1, 1)
    if kind == "mlp":
        return model, {"x": z.astype(np.float32)}, None
    # [BOS] x0..x4 [SEP] (BERT reads CLS = index 0, the BOS slot)
    words = [f"x{i}={'+' if v > 0 else '-'}" for row in z for i, v in enumerate(row)]
    ids = np.asarray(tok.convert_tokens_to_ids(words)).reshape(6, 5)
    ids = np.concatenate([np.full((6, 1), 1), ids, np.full((6, 1), tok.sep_token_id)], axis=1)
    feed = {"input_ids": ids.astype(np.int64), "attention_mask": np.ones_like(ids)}
    return model, feed, tokenizer_roles(tok, feed["input_ids"], feed["attention_mask"])


def _hooks(model) -> int:
    """Forward hooks and pre-hooks on every module (transformers registers some of its own)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize(("kind", "extra"), KINDS)
def test_the_hooked_state_is_the_probed_state(kind, extra):
    model, feed, roles = _model(kind, extra)
    rows = np.arange(6)
    before = edited_logits(model, feed, rows)
    position = "cls" if kind == "bert" else "sep"
    acts = extract_activations(model, feed, position=position, roles=roles).arrays
    own = _hooks(model)  # after a forward with hidden states, which adds transformers' own
    for site in site_names(model):
        seen = []

        def capture(state, seen=seen):
            seen.append(state.detach().clone())
            return state

        assert np.array_equal(edited_logits(model, feed, rows, site, lambda idx: capture), before)
        state = seen[0]
        if state.dim() == 3:  # the probed vector sits at the read-out token
            pos = roles.cls if kind == "bert" else roles.sep
            state = state[torch.arange(6), torch.as_tensor(pos)]
        assert np.allclose(state.numpy(), acts[site], atol=1e-5), site
        assert _hooks(model) == own
    # An edit at the last site reaches the heads.
    last = site_names(model)[-1]
    zeroed = edited_logits(model, feed, rows, last, lambda idx: torch.zeros_like)
    assert not np.allclose(zeroed, before)


@pytest.mark.parametrize(("kind", "extra"), [KINDS[0], KINDS[2]])
def test_the_hook_is_removed_when_the_edit_raises(kind, extra):
    model, feed, _ = _model(kind, extra)
    rows = np.arange(6)
    before = edited_logits(model, feed, rows)
    own = _hooks(model)

    def broken(state):
        raise RuntimeError("edit failed")

    with pytest.raises(RuntimeError, match="edit failed"):
        edited_logits(model, feed, rows, "layer.1", lambda idx: broken)
    assert _hooks(model) == own
    with pytest.raises(KeyError), site_edit(model, "layer.1", lambda s: s + 1):
        assert _hooks(model) == own + 1
        raise KeyError("inside the block")
    assert _hooks(model) == own
    assert np.array_equal(edited_logits(model, feed, rows), before)


def test_a_shift_at_the_x_tokens_moves_their_mean_by_the_shift():
    model, feed, roles = _model("gpt2", [])
    rows = np.arange(6)
    shift = np.random.default_rng(1).standard_normal((6, 16))
    seen = []

    def make(idx):
        inner = shift_edit(shift, Placement("x", x_mask=roles.x_mask))(idx)

        def edit(state):
            out = inner(state)
            seen.append((state.detach(), out.detach()))
            return out

        return edit

    edited_logits(model, feed, rows, "layer.1", make)
    state, out = seen[0]
    mask = torch.as_tensor(roles.x_mask)[:, :, None].float()
    mean = lambda s: (s * mask).sum(1) / mask.sum(1)  # noqa: E731
    assert np.allclose((mean(out) - mean(state)).numpy(), shift, atol=1e-5)
    # Tokens other than x (BOS, SEP) are left as they were.
    assert torch.equal(out[~torch.as_tensor(roles.x_mask)], state[~torch.as_tensor(roles.x_mask)])


def test_a_next_token_model_is_refused_with_the_reason():
    from probekit.probing.causal import check_supported

    cfg = load_experiment(None, ["model.kind=gpt2-lm", "data.format=qa", "model.hidden=16"])
    with pytest.raises(ValueError, match="Next-token checkpoints .* are not supported"):
        check_supported(
            object.__new__(type("M", (), {"config": object()})), {"experiment": cfg.to_dict()}
        )
