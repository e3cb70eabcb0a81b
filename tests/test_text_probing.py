"""Probing text checkpoints: grouped and given splits, per-label numbers, pooling, sub-layer sites,
saved probe weights, scale options and the report of a probe folder."""

import json

import datasets
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2Model,
    LlamaConfig,
    LlamaModel,
    PreTrainedTokenizerFast,
)

from probekit.cli import main
from probekit.config import ProbeConfig
from probekit.probing.activations import extract_activations
from probekit.probing.controls import probe_splits
from probekit.probing.pipeline import probe_checkpoint
from probekit.probing.positions import token_roles

# Wide enough a C grid that a probe can memorise 200 word types on a random split.
CFG = ProbeConfig(Cs=(1.0, 100.0, 1e4), cv=3)


def _rows(n_nouns=100, per=3, seed=0):
    """Sentences whose label (vehicle or animal) is given away by the subject noun alone; each
    noun recurs in `per` sentences, with neutral fillers around it."""
    rng = np.random.default_rng(seed)
    out = []
    for cat in ("vehicle", "animal"):
        for j in range(n_nouns):
            noun = f"{cat[0]}noun{j}"
            for _ in range(per):
                det, adj = (
                    rng.choice(["the", "a", "one", "that"]),
                    rng.choice(["big", "old", "red"]),
                )
                negated = bool(rng.integers(2))
                verb = "is not" if negated else "is"
                where = rng.choice(["here", "there", "outside"])
                text = f"{det} {adj} {noun} {verb} {where}"
                out.append({"text": text, "vehicle": cat == "vehicle", "noun": noun,
                            "negated": negated})  # fmt: skip
    return out


def _tokenizer(kind, texts):
    """A word-level tokenizer trained here on the dataset's strings (no download)."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if kind == "bert" else ["<|endoftext|>"]
    backend = Tokenizer(models.WordLevel(unk_token=special[1] if kind == "bert" else special[0]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=special))
    if kind == "bert":
        backend.post_processor = TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]",
                                       unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def _model(kind, path, texts, width=128):
    tok = _tokenizer(kind, texts)
    torch.manual_seed(7)
    if kind == "bert":
        model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=width, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=2 * width,
                                     max_position_embeddings=16))  # fmt: skip
    else:
        model = GPT2Model(GPT2Config(vocab_size=len(tok), n_embd=width, n_layer=2, n_head=2,
                                     n_positions=16, bos_token_id=0, eos_token_id=0))  # fmt: skip
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    rows = _rows()
    datasets.Dataset.from_list(rows).save_to_disk(str(root / "ds"))
    texts = [r["text"] for r in rows]
    return {"root": root, "ds": root / "ds", "rows": rows,
            "bert": _model("bert", root / "bert", texts), "gpt2": _model("gpt2", root / "gpt2", texts)}  # fmt: skip


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_a_grouped_split_removes_the_leak_of_a_recurring_word(data, kind):
    """The noun gives the label away; on a random split every noun of the test rows was seen in
    training, so a bag of tokens and an untrained model both 'decode' the label. Grouped by
    noun, no test noun was seen, and both fall to chance."""
    acc = {}
    for group in (None, "noun"):
        report = probe_checkpoint(data[kind], text_dataset=data["ds"], label_columns=["vehicle"],
                                  group_column=group, position="mean", config=CFG, seed=1,
                                  controls=["input"], progress=False)  # fmt: skip
        s = report.summary
        acc[group] = {
            "model": s["best_layer"]["linear"]["acc_user"],
            "bag": s["models"]["input"]["linear"]["input"]["acc_user"],
        }
        assert s["split_by"] == ("distinct text" if group is None else "group column noun")
        if group:
            # No noun on both sides: checked here from the split itself, not only the summary.
            assert s["shared_fit_test"] == 0
            _, key = np.unique([r["noun"] for r in data["rows"]], return_inverse=True)
            splits = probe_splits(key, None, CFG.test_fraction, np.random.default_rng(1))
            assert not set(key[splits["fit"]]) & set(key[splits["test_seen"]])
            assert len(splits["test_seen"]) == s["n_test"]
    assert acc[None]["bag"] >= 0.9 and acc[None]["model"] >= 0.85  # the leak
    assert acc["noun"]["bag"] <= 0.6 and acc["noun"]["model"] <= 0.6  # chance without it
    assert acc[None]["model"] - acc["noun"]["model"] >= 0.3


def test_a_dataset_s_own_splits_are_used_and_said(data, tmp_path, capsys):
    rows = data["rows"]
    order = np.random.default_rng(0).permutation(len(rows))
    parts = {"train": order[:360], "validation": order[360:480], "test": order[480:]}
    dd = datasets.DatasetDict({k: datasets.Dataset.from_list([rows[i] for i in v]) for k, v in parts.items()})  # fmt: skip
    dd.save_to_disk(str(tmp_path / "dd"))
    base = ["probe", str(data["bert"]), "--text-dataset", str(tmp_path / "dd"), "--label-columns",
            "vehicle", "--controls", "input", "--no-progress"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "split: the dataset's own splits: fit = train, val = validation, test = test" in printed
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["dataset_splits"] == {
        "fit": "train",
        "val_seen": "validation",
        "test_seen": "test",
    }
    assert summary["splits"]["fit"] == 360 and summary["splits"]["val_seen"] == 120
    assert summary["n_test"] == summary["splits"]["test_seen"] == 120
    # Without a validation split the layer is chosen on rows carved from train, never on test.
    datasets.DatasetDict({k: dd[k] for k in ("train", "test")}).save_to_disk(str(tmp_path / "tt"))
    base[3] = str(tmp_path / "tt")
    assert main([*base, "--out", str(tmp_path / "b")]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["splits"]["fit"] + summary["splits"]["val_seen"] == 360
    assert summary["n_test"] == 120 and "val = 20 % of train" in capsys.readouterr().out
    # Its own splits share nouns, so a grouped probe of them is refused, naming the fix.
    assert main([*base, "--group-column", "noun", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "share" in err and "--split all" in err and not (tmp_path / "c").exists()
    assert (
        main([*base, "--group-column", "noun", "--split", "all", "--out", str(tmp_path / "d")]) == 0
    )
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["inputs"]["pooled"] == ["train", "test"] and summary["shared_fit_test"] == 0
    assert summary["n_examples"] == 480


def test_per_label_numbers_table_plot_weights_and_report(data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["probe", str(data["gpt2"]), "--text-dataset", str(data["ds"]), "--label-columns",
            "vehicle,negated", "--group-column", "noun", "--controls", "random_init,input,control_task",
            "--control-type-column", "noun", "--position", "mean", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "latents recovered" not in printed  # a text probe's targets are labels
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best_layer"]["linear"]
    per = best["acc_user_per_label"]
    assert set(per) == {"vehicle", "negated"}
    assert np.mean(list(per.values())) == pytest.approx(best["acc_user"])
    # "not" is a word of its own: every representation reads negation on unseen nouns too.
    assert per["negated"] == 1.0 and best["controls_per_label"]["negated"]["raw_input"] == 1.0
    assert per["vehicle"] <= 0.6  # a grouped split: the noun no longer gives it away
    lo, hi = best["acc_user_per_label_ci"]["vehicle"]
    assert lo <= per["vehicle"] <= hi
    table = printed[printed.index("per label at") :]
    assert f"negated  {per['negated']:.3f}" in table and "bag of tokens" in table
    assert (out / "accuracy_per_label_linear.png").read_bytes()[:4] == b"\x89PNG"
    # The linear probes are saved; re-applied to the site's activations they give the reported
    # held-out accuracy exactly.
    weights = load_file(str(out / "probes.safetensors"))
    with safe_open(str(out / "probes.safetensors"), framework="numpy") as f:
        targets = json.loads(f.metadata()["targets"])
        coding = json.loads(f.metadata()["label_coding"])
    assert coding["negated"] == {"-1": False, "+1": True}
    site = best["site"]
    tok = PreTrainedTokenizerFast.from_pretrained(data["gpt2"])
    tok.pad_token = tok.eos_token
    enc = tok([r["text"] for r in data["rows"]], padding=True, return_tensors="np")
    acts = extract_activations(str(data["gpt2"]), dict(enc), sites=[site], position="mean",
                               roles=token_roles(enc["input_ids"], enc["attention_mask"]))  # fmt: skip
    _, key = np.unique([r["noun"] for r in data["rows"]], return_inverse=True)
    test = probe_splits(key, None, 0.3, np.random.default_rng(0))["test_seen"]
    decision = (
        acts[site][test] @ weights[f"trained/{site}/weight"].T + weights[f"trained/{site}/bias"]
    )
    column = targets.index("user/negated")
    truth = np.array([r["negated"] for r in data["rows"]])[test]
    assert np.mean((decision[:, column] > 0) == truth) == pytest.approx(per["negated"])
    # `probekit report` reads the folder: no run, no verdict, the per-label table.
    assert main(["report", str(out)]) == 0
    html = (out / "report" / "report.html").read_text()
    assert 'id="labels-linear"' in html and "negated" in html and "group column noun" in html


def test_pooling_config_sets_auto_and_mean_is_the_masked_mean(data, tmp_path):
    folder = tmp_path / "st"
    import shutil

    shutil.copytree(data["bert"], folder)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))  # fmt: skip
    (folder / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 128, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}  # fmt: skip
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    kwargs = dict(text_dataset=data["ds"], label_columns=["negated"], config=CFG,
                  controls=[], sites=["layer.2"], progress=False)  # fmt: skip
    s = probe_checkpoint(folder, **kwargs).summary
    assert s["position"] == "mean" and "1_Pooling/config.json" in s["position_source"]
    assert probe_checkpoint(data["bert"], **kwargs).summary["position"] == "cls"  # no pooling
    # `mean` averages every attended token, special ones included, as the pooling does.
    model = BertModel.from_pretrained(data["bert"]).eval()
    ids = np.array([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    acts = extract_activations(model, {"input_ids": ids, "attention_mask": mask}, sites=["layer.2"],
                               position="mean", roles=token_roles(ids, mask, special_ids=[0, 2, 3]))  # fmt: skip
    with torch.no_grad():
        h = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
    expected = [h[0, :4].mean(0).numpy(), h[1, :3].mean(0).numpy()]
    np.testing.assert_allclose(acts["layer.2"], np.stack(expected), atol=1e-5)
    pooling["pooling_mode_max_tokens"], pooling["pooling_mode_mean_tokens"] = True, False
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(ValueError, match="pooling_mode_max_tokens.*pass --position"):
        probe_checkpoint(folder, **kwargs)


def _tiny(kind):
    torch.manual_seed(0)
    if kind == "gpt2":
        return GPT2Model(GPT2Config(vocab_size=20, n_embd=16, n_layer=2, n_head=2, n_positions=16,
                                    bos_token_id=0, eos_token_id=0))  # fmt: skip
    if kind == "llama":
        return LlamaModel(LlamaConfig(vocab_size=20, hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=2, max_position_embeddings=16,
                                      bos_token_id=0, eos_token_id=0, pad_token_id=0))  # fmt: skip
    return BertModel(BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=32,
                                max_position_embeddings=16))  # fmt: skip


@pytest.mark.parametrize("kind", ["gpt2", "llama", "bert"])
def test_sublayer_sites_are_what_each_block_adds(kind):
    """layer.1 is rebuilt from embed and block 1's attention and MLP outputs: a pre-LN block adds
    them to the residual stream; BERT's post-LN block adds each and normalises."""
    model = _tiny(kind).eval()
    ids = np.random.default_rng(0).integers(1, 20, size=(4, 6))
    mask = np.ones_like(ids)
    acts = extract_activations(model, {"input_ids": ids, "attention_mask": mask}, sites=["all"],
                               position="index:3", roles=token_roles(ids, mask))  # fmt: skip
    assert acts.sites == ["embed", "layer.1.attn", "layer.1.mlp", "layer.1",
                          "layer.2.attn", "layer.2.mlp", "layer.2"]  # fmt: skip
    embed, attn, mlp = acts["embed"], acts["layer.1.attn"], acts["layer.1.mlp"]
    if kind == "bert":
        block = model.encoder.layer[0]
        with torch.no_grad():
            mid = block.attention.output.LayerNorm(torch.from_numpy(attn + embed))
            rebuilt = block.output.LayerNorm(torch.from_numpy(mlp) + mid).numpy()
    else:
        rebuilt = embed + attn + mlp
    np.testing.assert_allclose(rebuilt, acts["layer.1"], atol=1e-5)
    assert not np.allclose(attn, 0) and not np.allclose(mlp, 0)
    # Without asking, only block outputs are extracted.
    assert extract_activations(model, {"input_ids": ids}, position="cls",
                               roles=token_roles(ids)).sites == ["embed", "layer.1", "layer.2"]  # fmt: skip


def test_scale_options_dtype_device_batch_max_length_and_no_controls(data, tmp_path):
    out = tmp_path / "o"
    args = ["probe", str(data["bert"]), "--text-dataset", str(data["ds"]), "--label-columns",
            "negated", "--dtype", "bfloat16", "--device", "cpu", "--batch-size", "7",
            "--max-length", "4", "--controls", "none", "--sites", "layer.1.mlp,layer.2",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dtype"] == "bfloat16" and summary["controls"] == []
    assert set(summary["models"]) == {"trained"}  # no untrained copy was built
    assert summary["sites"] == ["layer.1.mlp", "layer.2"] and summary["inputs"]["max_length"] == 4
    # Truncated to 4 tokens ([CLS], two words, [SEP]): "not" is cut off, negation unreadable.
    assert summary["best_layer"]["linear"]["acc_user"] < 0.7
