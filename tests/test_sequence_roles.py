"""Probing every role of a next-token sequence: each x token, their mean, SEP, queries, answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from probekit.config import ProbeConfig, load_experiment
from probekit.models.factory import build_model
from probekit.probing.activations import extract_activations
from probekit.probing.pipeline import probe_checkpoint
from probekit.probing.positions import parse_position, sequence_roles, tokenizer_roles
from synthetic.sequences import encode_arrays, sequence_positions
from synthetic.tokenizer import TokenLayout, build_tokenizer

M, N_TASKS, Q = 5, 6, 3
LAYOUT = TokenLayout(M, N_TASKS)
G = LAYOUT.n_groups
SMALL = ["world.d=5", f"tasks.n={N_TASKS}", "model.kind=gpt2-lm", "model.hidden=16",
         "model.n_layers=2", "model.n_heads=2", f"data.queries_per_sequence={Q}"]  # fmt: skip


def _cols(fmt: str, n: int = 9) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.choice(np.array([-1, 1], np.int8), size=(n, M))
    targets = rng.choice(np.array([-1.0, 1.0], np.float32), size=(n, N_TASKS))
    return encode_arrays(fmt, x, targets, LAYOUT, Q, np.random.default_rng(1))


def _gpt2_lm(fmt: str):
    cfg = load_experiment(None, [*SMALL, f"data.format={fmt}"])
    length = sequence_positions(fmt, LAYOUT, Q)["length"]
    model = build_model(cfg.model, vocab_size=LAYOUT.vocab_size, n_tasks=N_TASKS, seq_len=length,
                        m=M, pad_token_id=0, bos_token_id=1, eos_token_id=2, target="sign",
                        seed=5)  # fmt: skip
    return cfg, model.eval()


def test_role_names_parse_in_one_place_and_mistakes_name_the_fix():
    assert parse_position("query") == ("query", 0) and parse_position("answer:2") == ("answer", 2)
    assert parse_position("x:-1") == ("x", -1) and parse_position("mean_x") == ("mean_x", None)
    for bad in ("query:-1", "x:one", "answers:1", "middle"):
        with pytest.raises(ValueError, match="Unknown position"):
            parse_position(bad)
    assert ProbeConfig(position="answer:1").position == "answer:1"
    with pytest.raises(ValueError, match=r"probe.position='query:x' is unknown.*query:K"):
        ProbeConfig(position="query:x")
    assert sequence_roles(2, 2) == [
        "x:0", "x:1", "mean_x", "sep", "query:0", "answer:0", "query:1", "answer:1"
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["qa", "qa_isolated"])
def test_every_role_reads_the_token_the_layout_puts_there(fmt):
    """At `embed` a GPT-2 state is wte[token] + wpe[position id]: a known answer per role."""
    _, model = _gpt2_lm(fmt)
    cols = _cols(fmt)
    ids = cols["input_ids"]
    pos = sequence_positions(fmt, LAYOUT, Q)
    feed = {k: cols[k] for k in ("input_ids", "segment_ids", "position_ids") if k in cols}
    roles = tokenizer_roles(build_tokenizer(M, N_TASKS), ids)
    wte, wpe = model.transformer.wte.weight.detach(), model.transformer.wpe.weight.detach()
    rows = np.arange(len(ids))

    def expected(p: int) -> np.ndarray:
        pid = cols["position_ids"][:, p] if "position_ids" in cols else np.full(len(ids), p)
        return (wte[torch.from_numpy(ids[:, p])] + wpe[torch.from_numpy(pid).long()]).numpy()

    where = {f"x:{k}": pos["x_start"] + k for k in range(G)}
    where.update({"sep": pos["sep"], "last_x": pos["last_x"], "x:-1": pos["last_x"]})
    where.update({f"query:{j}": p for j, p in enumerate(pos["query_positions"])})
    where.update({f"answer:{j}": p for j, p in enumerate(pos["answer_positions"])})
    assert set(sequence_roles(G, Q)) - {"mean_x"} <= set(where)
    for role, p in where.items():
        acts = extract_activations(model, feed, sites=["embed", "layer.2"], position=role,
                                   roles=roles, device="cpu")  # fmt: skip
        np.testing.assert_allclose(acts["embed"], expected(p), rtol=1e-5, atol=1e-6, err_msg=role)
        assert acts["layer.2"].shape == (len(rows), 16)
    mean_x = extract_activations(model, feed, sites=["embed"], position="mean_x", roles=roles,
                                 device="cpu")  # fmt: skip
    x_cols = range(pos["x_start"], pos["x_stop"])
    np.testing.assert_allclose(mean_x["embed"], np.mean([expected(p) for p in x_cols], 0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    if fmt == "qa_isolated":  # the later queries see only x and themselves, as in training
        a = extract_activations(model, feed, sites=["layer.2"], position="query:2", roles=roles,
                                device="cpu")  # fmt: skip
        edited = {**feed, "input_ids": ids.copy()}
        edited["input_ids"][:, pos["query_positions"][0]] = LAYOUT.task_offset
        edited["input_ids"][:, pos["query_positions"][1]] = LAYOUT.task_offset + 1
        b = extract_activations(model, edited, sites=["layer.2"], position="query:2",
                                roles=tokenizer_roles(build_tokenizer(M, N_TASKS), edited["input_ids"]),
                                device="cpu")  # fmt: skip
        np.testing.assert_array_equal(a["layer.2"], b["layer.2"])


def test_out_of_range_roles_say_how_many_there_are():
    _, model = _gpt2_lm("qa")
    cols = _cols("qa")
    roles = tokenizer_roles(build_tokenizer(M, N_TASKS), cols["input_ids"])
    with pytest.raises(ValueError, match=rf"query:{Q} is out of range.*{Q} queries; use query:0"):
        extract_activations(model, {"input_ids": cols["input_ids"]}, position=f"query:{Q}",
                            roles=roles, device="cpu")  # fmt: skip
    multitask = np.asarray(_cols("multitask")["input_ids"])
    roles = tokenizer_roles(build_tokenizer(M, N_TASKS), multitask)
    with pytest.raises(ValueError, match="0 answers; use a format with answers"):
        roles.answer(0)


def test_probe_checkpoint_reads_a_query_of_the_isolated_format(tmp_path):
    cfg, model = _gpt2_lm("qa_isolated")
    final = tmp_path / "run" / "final"
    model.save_pretrained(final)
    build_tokenizer(M, N_TASKS).save_pretrained(final)
    (final / "probekit_spec.json").write_text(json.dumps({"experiment": cfg.to_dict()}))
    fast = ProbeConfig(Cs=(1.0,), cv=2, z_pairs=False, controls=("input",))
    report = probe_checkpoint(tmp_path / "run", position="query:1", config=fast, progress=False,
                              sites=["embed", "layer.2"])  # fmt: skip
    assert report.summary["position"] == "query:1"
    assert report.summary["sites"] == ["embed", "layer.2"]
    # The query token is the same for every row whose query 1 asks the same task: at `embed`
    # (token + its position) nothing of x is there, so z is at chance; the raw input is x.
    trained = report.summary["models"]["trained"]["linear"]["embed"]
    assert trained["acc_z"] < 0.75
