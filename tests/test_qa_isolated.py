"""The isolated next-token format: every answer depends on x and its own query alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from probekit.config import load_experiment
from probekit.models.factory import ModelConfig, build_model
from probekit.models.isolation import forward_inputs, isolated_attention_mask
from probekit.training.loop import train
from synthetic.data_spec import DataSpec, GenerateConfig
from synthetic.dataset import generate_dataset, load_dataset_dir, save_dataset
from synthetic.sequences import encode_arrays, sequence_positions
from synthetic.tasks import TaskSpec
from synthetic.tokenizer import TokenLayout
from synthetic.world import WorldSpec

M, N_TASKS, Q = 6, 8, 5
LAYOUT = TokenLayout(M, N_TASKS)
G = LAYOUT.n_groups


def _arrays(fmt: str, n: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([-1, 1], np.int8), size=(n, M))
    targets = rng.choice(np.array([-1.0, 1.0], np.float32), size=(n, N_TASKS))
    return encode_arrays(fmt, x, targets, LAYOUT, Q, np.random.default_rng(seed + 1))


def _model(kind: str, implementation: str, seq_len: int):
    model = build_model(
        ModelConfig(kind=kind, hidden=16, n_layers=2, n_heads=2),
        vocab_size=LAYOUT.vocab_size,
        n_tasks=N_TASKS,
        seq_len=seq_len,
        m=M,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        target="sign",
        seed=3,
    )
    model.set_attn_implementation(implementation)
    return model.eval()


def _logits(model, cols, isolated=True) -> torch.Tensor:
    names = ("input_ids", "segment_ids", "position_ids") if isolated else ("input_ids",)
    batch = {k: torch.from_numpy(np.asarray(cols[k])).long() for k in names}
    with torch.no_grad():
        return model(**forward_inputs(model, batch)).logits


def test_isolated_format_is_qa_plus_segments_and_restarting_positions():
    qa, iso = _arrays("qa"), _arrays("qa_isolated")
    for col in ("input_ids", "labels", "query_tasks", "targets"):
        np.testing.assert_array_equal(qa[col], iso[col])  # same tokens, same answers
    pos = sequence_positions("qa_isolated", LAYOUT, Q)
    assert pos == sequence_positions("qa", LAYOUT, Q)
    seg, ids = iso["segment_ids"][0], iso["position_ids"][0]
    assert seg.shape == ids.shape == (pos["length"],)
    assert (seg[: pos["sep"] + 1] == 0).all() and seg[pos["eos"]] == Q + 1
    for j, (qp, ap) in enumerate(zip(pos["query_positions"], pos["answer_positions"], strict=True)):
        assert seg[qp] == seg[ap] == j + 1
        assert (ids[qp], ids[ap]) == (G + 2, G + 3)  # where a one-query sequence has them
    np.testing.assert_array_equal(ids[: G + 2], np.arange(G + 2))


def test_mask_lets_a_token_see_the_prefix_and_its_own_segment_only():
    seg = torch.tensor([[0, 0, 1, 1, 2, 2, 3]])
    allowed = isolated_attention_mask(seg)[0, 0]
    assert allowed.dtype == torch.bool and allowed.shape == (7, 7)
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0, 0],
            [1, 1, 0, 0, 1, 0, 0],
            [1, 1, 0, 0, 1, 1, 0],
            [1, 1, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed, expected)
    additive = isolated_attention_mask(seg, implementation="eager")[0, 0]
    assert torch.equal(additive == 0, expected)
    assert (additive[~expected] == torch.finfo(torch.float32).min).all()
    with pytest.raises(ValueError, match="attn_implementation='sdpa' or 'eager'"):
        isolated_attention_mask(seg, implementation="flex_attention")


@pytest.mark.parametrize("kind", ["gpt2-lm", "llama-lm"])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_changing_an_earlier_query_or_answer_leaves_later_answers_exactly_unchanged(
    kind, implementation
):
    cols = _arrays("qa_isolated")
    pos = sequence_positions("qa_isolated", LAYOUT, Q)
    model = _model(kind, implementation, pos["length"])
    q0, a0 = pos["query_positions"][0], pos["answer_positions"][0]
    changed = {k: v.copy() for k, v in cols.items()}
    changed["input_ids"][:, q0] = LAYOUT.task_offset + (cols["query_tasks"][:, 0] + 1) % N_TASKS
    changed["input_ids"][:, a0] = np.where(cols["input_ids"][:, a0] == LAYOUT.yes_id,
                                           LAYOUT.no_id, LAYOUT.yes_id)  # fmt: skip
    later = pos["query_positions"][1:]  # the states that predict answers 1..Q-1
    base, edit = _logits(model, cols), _logits(model, changed)
    assert torch.equal(base[:, later], edit[:, later])  # bit for bit: isolation is exact
    assert not torch.allclose(base[:, q0], edit[:, q0])  # the edited query's own answer moves
    # The control: the plain causal mask lets the same edit reach the later answers.
    plain, plain_edit = _logits(model, cols, False), _logits(model, changed, False)
    assert (plain[:, later] - plain_edit[:, later]).abs().max() > 1e-4


@pytest.mark.parametrize("kind", ["gpt2-lm", "llama-lm"])
def test_each_answer_is_computed_as_in_its_own_one_query_sequence(kind):
    cols = _arrays("qa_isolated")
    pos = sequence_positions("qa_isolated", LAYOUT, Q)
    model = _model(kind, "sdpa", pos["length"])
    full = _logits(model, cols)
    for qp, ap in zip(pos["query_positions"], pos["answer_positions"], strict=True):
        alone = np.concatenate([cols["input_ids"][:, : G + 2], cols["input_ids"][:, [qp, ap]]], 1)
        single = _logits(model, {"input_ids": alone}, isolated=False)
        torch.testing.assert_close(full[:, qp], single[:, G + 2], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(full[:, ap], single[:, G + 3], rtol=1e-5, atol=1e-5)


def test_isolated_dataset_round_trips_through_the_generator(tmp_path):
    cfg = GenerateConfig(
        world=WorldSpec(d=4, observation="random_bijection", seed=0),
        tasks=TaskSpec(family="walsh", n=6, k=2, seed=0),
        data=DataSpec(
            format="qa_isolated",
            queries_per_sequence=6,
            n_train=32,
            n_validation=8,
            n_probe=16,
            seed=0,
        ),  # fmt: skip
    )
    ds = generate_dataset(cfg, progress=False)
    path = save_dataset(ds, cfg, tmp_path / "ds")
    loaded, cfg2, _ = load_dataset_dir(path)
    assert cfg2.to_dict() == cfg.to_dict()
    layout = TokenLayout(4, 6)
    pos = sequence_positions("qa_isolated", layout, 6)
    for split in ds:
        for col in ("input_ids", "labels", "segment_ids", "position_ids"):
            np.testing.assert_array_equal(
                np.asarray(loaded[split][col]), np.asarray(ds[split][col])
            )
        ids = np.asarray(loaded[split]["position_ids"])
        assert (ids[:, pos["query_positions"]] == layout.n_groups + 2).all()
    with pytest.raises(ValueError, match="queries_per_sequence=7 exceeds"):
        GenerateConfig(world=cfg.world, tasks=cfg.tasks,
                       data=DataSpec(format="qa_isolated", queries_per_sequence=7))  # fmt: skip


@pytest.mark.slow
def test_training_on_the_isolated_format_logs_held_out_and_first_answer_accuracy(tmp_path):
    cfg = load_experiment(
        None,
        [
            "world.d=4", "tasks.n=6", "data.format=qa_isolated", "data.queries_per_sequence=6",
            "model.kind=gpt2-lm", "model.hidden=16", "model.n_layers=1", "model.n_heads=2",
            "train.steps=2", "train.batch_size=8", "train.eval_every=2", "train.eval_examples=16",
            "train.warmup_steps=0", "train.checkpoint_every=100",
        ],
    )  # fmt: skip
    result = train(cfg, tmp_path / "run", progress=False)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("eval_acc", "eval_acc_first", "eval_acc_heldout", "eval_acc_first_heldout"):
        assert 0.0 <= row[key] <= 1.0, key
    assert result.steps == 2 and (tmp_path / "run" / "final" / "config.json").exists()
