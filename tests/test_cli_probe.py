"""`probekit probe` end to end: a run directory, a generated dataset, and any labelled text dataset."""

import json

import datasets
import numpy as np
import pytest
from conftest import tiny_task_model
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, PreTrainedTokenizerFast

from probekit.cli import main
from probekit.config import load_experiment
from synthetic.tokenizer import build_tokenizer

ANIMALS, COLOURS = ["cat", "dog"], ["red", "blue", "green"]


def _texts():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(48):
        a, c = ANIMALS[i % 2], COLOURS[(i // 2) % 3]
        filler = " ".join(rng.choice(["the", "a", "big", "small", "old"], size=2))
        rows.append({"text": f"{filler} {c} {a} runs", "animal": a, "colour": c, "flat": 1})
    return rows


def _tokenizer(kind):
    """A word-level tokenizer trained here on the dataset's strings (no download)."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if kind == "bert" else ["<|endoftext|>"]
    backend = Tokenizer(models.WordLevel(unk_token=special[1] if kind == "bert" else special[0]))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(
        [r["text"] for r in _texts()], trainers.WordLevelTrainer(special_tokens=special)
    )
    if kind == "bert":
        from tokenizers.processors import TemplateProcessing

        backend.post_processor = TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "ds"
    datasets.Dataset.from_list(_texts()).save_to_disk(str(path))
    return path


def _text_model(kind, path):
    tok = _tokenizer(kind)
    if kind == "bert":
        cfg = BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=16,
        )
        model = BertModel(cfg)
    else:
        cfg = GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2, n_positions=16)
        model = GPT2Model(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_text_dataset_on_a_foreign_checkpoint(tmp_path, text_dir, kind, capsys):
    ckpt = _text_model(kind, tmp_path / kind)
    out = tmp_path / "out"
    code = main(
        [
            "probe",
            str(ckpt),
            "--text-dataset",
            str(text_dir),
            "--label-columns",
            "animal,colour",
            "--out",
            str(out),
            "--position",
            "mean_x",
            "--no-progress",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    targets = {r["target"] for r in rows if r["target_family"] == "user"}
    # Two classes stay one target; three become one-vs-rest columns.
    assert targets == {"animal", "colour=blue", "colour=green", "colour=red"}
    assert {r["site"] for r in rows if r["model"] == "trained"} == {"embed", "layer.1", "layer.2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["primary_family"] == "user"
    # The bag-of-tokens input control sees the label words themselves.
    assert summary["models"]["input"]["linear"]["input"]["acc_user"] == 1.0
    assert (out / "accuracy_linear.png").exists()
    assert json.loads(capsys.readouterr().out.strip())["out"] == str(out)


def test_text_dataset_errors_name_the_problem(tmp_path, text_dir, capsys):
    ckpt = _text_model("bert", tmp_path / "bert")
    capsys.readouterr()  # what saving the test model printed
    base = [
        "probe",
        str(ckpt),
        "--text-dataset",
        str(text_dir),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    ]
    assert main([*base, "--label-columns", "animal,size"]) == 2
    err = capsys.readouterr().err
    assert "'size'" in err and "Existing columns: text, animal, colour, flat" in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main([*base, "--label-columns", "flat"]) == 2
    assert "single class" in capsys.readouterr().err
    assert main([*base, "--label-columns", "animal", "--sites", "layer.5"]) == 2
    # Every site is listed, each block's sub-layer outputs before it.
    assert "embed, layer.1.attn, layer.1.mlp, layer.1, layer.2.attn" in capsys.readouterr().err
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_run_directory_is_reprobed_from_its_spec(tmp_path, capsys):
    cfg = load_experiment(
        None,
        [
            "world.d=5",
            "tasks.n=4",
            "model.kind=gpt2",
            "data.format=multitask",
            "model.hidden=16",
            "model.n_layers=2",
            "model.n_heads=2",
            "probe.cv=2",
            "probe.z_pairs=false",
        ],
    )
    tok = build_tokenizer(5, 4)
    model = tiny_task_model(cfg.model, tok)
    final = tmp_path / "run" / "final"
    model.save_pretrained(final)
    tok.save_pretrained(final)
    (final / "probekit_spec.json").write_text(json.dumps({"experiment": cfg.to_dict()}))
    assert (
        main(
            [
                "probe",
                str(tmp_path / "run"),
                "--sites",
                "layer.2",
                "--position",
                "last_x",
                "--controls",
                "input,alt_basis",
                "--no-progress",
            ]
        )
        == 0
    )
    out = tmp_path / "run" / "probe"  # the default for a run directory
    printed = capsys.readouterr().out  # a readable table by default, not JSON
    assert printed.startswith("probed ") and "linear probe, held-out accuracy:" in printed
    table = printed.splitlines()
    header = next(line for line in table if line.strip().startswith("layer"))
    assert header.split()[:4] == ["layer", "z", "z,", "untrained"]
    assert any(line.startswith("* layer.2 ") for line in table)  # the chosen layer
    assert "* chosen on validation inputs: layer.2, z " in printed
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {(r["model"], r["site"]) for r in rows} == {("trained", "layer.2"), ("input", "input")}
    assert {r["position"] for r in rows if r["model"] == "trained"} == {"last_x"}
    assert len({r["target"] for r in rows if r["target_family"] == "z"}) == 6  # z0..z4 + "all"
    assert main(["probe", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_generated_dataset_directory(tmp_path):
    from synthetic.dataset import generate_dataset, load_generate_config, save_dataset

    gen = load_generate_config(
        None,
        [
            "world.d=5",
            "tasks.n=4",
            "data.format=multitask",
            "data.n_train=8",
            "data.n_validation=8",
        ],
    )
    save_dataset(generate_dataset(gen, progress=False), gen, tmp_path / "data")
    tok = build_tokenizer(5, 4)
    model = tiny_task_model(
        load_experiment(
            None, ["model.hidden=16", "model.n_layers=1", "model.n_heads=2", "model.kind=gpt2"]
        ).model,
        tok,
    )
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")  # no probekit_spec.json: --data supplies the world
    assert (
        main(
            [
                "probe",
                str(tmp_path / "ckpt"),
                "--data",
                str(tmp_path / "data"),
                "--out",
                str(tmp_path / "out"),
                "--controls",
                "alt_basis",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["split"] == "probe" and summary["n_examples"] == 32  # the cube
    assert set(summary["families"]) == {"z", "x", "tasks", "z_pairs", "alt_basis"}


def test_a_dataset_of_another_world_is_refused_naming_both(tmp_path, capsys):
    # Probing it would report chance-level z, which reads exactly like "no world model".
    from probekit.probing.pipeline import check_same_world

    mine = load_experiment(None, ["world.d=5", "tasks.n=4"])
    spec = {"experiment": mine.to_dict()}
    same = {"world": mine.world.to_dict(), "tasks": mine.tasks.to_dict()}
    check_same_world(same, spec, "data/x")  # the checkpoint's own world: accepted
    other = load_experiment(None, ["world.d=5", "tasks.n=4", "world.seed=1"])
    with pytest.raises(ValueError, match="another world than the checkpoint") as err:
        check_same_world({**same, "world": other.world.to_dict()}, spec, "data/x")
    assert '"seed": 0' in str(err.value) and '"seed": 1' in str(err.value)
    with pytest.raises(ValueError, match="another tasks than"):
        tasks = load_experiment(None, ["tasks.n=5"]).tasks.to_dict()
        check_same_world({**same, "tasks": tasks}, spec, "data/x")
    check_same_world({**same, "world": other.world.to_dict()}, None, "data/x")  # no spec: no check


def test_text_control_task_labels_the_word_types_a_user_names(tmp_path, text_dir, capsys):
    ckpt = _text_model("bert", tmp_path / "bert")
    base = ["probe", str(ckpt), "--text-dataset", str(text_dir), "--label-columns", "animal"]
    base += ["--controls", "control_task", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["inputs"]["control_type"] == "first token"
    assert main([*base, "--control-type-column", "colour", "--out", str(tmp_path / "b")]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["inputs"]["control_type"] == "colour" and summary["inputs"]["control_types"] == 3
    assert main([*base, "--control-type-column", "nope", "--out", str(tmp_path / "c")]) == 2
    assert "Control type column 'nope'" in capsys.readouterr().err
