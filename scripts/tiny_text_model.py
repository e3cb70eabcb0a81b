"""Train a tiny BERT on toy text in about a minute, and write a labelled probe dataset for it.

The pretraining corpus puts each made-up noun (`vnoun3`, `anoun7`, ...) beside verbs of its
category (vehicles drive and park, animals eat and sleep), so a masked-language model can
only predict those verbs by learning which nouns are vehicles. The probe dataset uses the
same nouns in neutral sentences (`the big vnoun3 is not here`) with three labels: `vehicle`
(known only from what the model learned about the noun), `negated` (the word "not") and
`plural` (the determiner), and a `noun` column to group the split by.

    python scripts/tiny_text_model.py --out runs/tiny_text
    probekit probe runs/tiny_text/model --text-dataset runs/tiny_text/probe_data \
        --label-columns vehicle,negated,plural --out runs/tiny_text/random
    probekit probe runs/tiny_text/model --text-dataset runs/tiny_text/probe_data \
        --label-columns vehicle,negated,plural --group-column noun --out runs/tiny_text/grouped
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

VERBS = {
    "vehicle": ["drives", "parks", "honks", "brakes", "refuels"],
    "animal": ["eats", "sleeps", "barks", "purrs", "grazes"],
}
FILLERS = ["on", "the", "road", "field", "today", "slowly", "again", "now"]


def corpus(nouns: dict[str, list[str]], n: int, rng: np.random.Generator) -> list[str]:
    """Pretraining sentences: a noun beside a verb of its category."""
    out = []
    for _ in range(n):
        cat = ("vehicle", "animal")[rng.integers(2)]
        noun, verb = rng.choice(nouns[cat]), rng.choice(VERBS[cat])
        out.append(f"the {noun} {verb} {' '.join(rng.choice(FILLERS, size=2))}")
    return out


def probe_rows(nouns: dict[str, list[str]], per: int, rng: np.random.Generator) -> list[dict]:
    """Neutral probe sentences: nothing but the noun says vehicle or animal."""
    rows = []
    for cat, names in nouns.items():
        for noun in names:
            for _ in range(per):
                plural, negated = bool(rng.integers(2)), bool(rng.integers(2))
                det = rng.choice(["these", "those"] if plural else ["this", "that"])
                verb = ("are" if plural else "is") + (" not" if negated else "")
                adj = rng.choice(["big", "old", "red", "small"])
                rows.append({"text": f"{det} {adj} {noun} {verb} {rng.choice(['here', 'there'])}",
                             "vehicle": cat == "vehicle", "negated": negated, "plural": plural,
                             "noun": noun})  # fmt: skip
    return rows


def tokenizer_for(texts: list[str]):
    """A word-level BERT tokenizer trained on the texts (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=special))
    backend.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip


def train_mlm(texts: list[str], tok, *, steps: int, seed: int):
    """A 2-layer BERT of width 64 trained with masked-language modelling (15 % of words)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=128, max_position_embeddings=16)  # fmt: skip
    model = BertForMaskedLM(cfg)
    enc = tok(texts, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    words = mask.bool() & ~torch.isin(ids, torch.tensor(tok.all_special_ids))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        rows = torch.randint(len(ids), (128,), generator=gen)
        x, m, w = ids[rows].clone(), mask[rows], words[rows]
        masked = w & (torch.rand(x.shape, generator=gen) < 0.15)
        labels = torch.where(masked, x, torch.full_like(x, -100))
        x[masked] = tok.mask_token_id
        loss = model(input_ids=x, attention_mask=m, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step}: masked-LM loss {loss.item():.3f}")
    return model.bert  # the encoder: what `probekit probe` loads with AutoModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tiny_text")
    parser.add_argument("--nouns", type=int, default=40, help="nouns per category")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import datasets

    rng = np.random.default_rng(args.seed)
    nouns = {cat: [f"{cat[0]}noun{j}" for j in range(args.nouns)] for cat in ("vehicle", "animal")}
    texts, rows = corpus(nouns, 20000, rng), probe_rows(nouns, 4, rng)
    tok = tokenizer_for(texts + [r["text"] for r in rows])
    model = train_mlm(texts, tok, steps=args.steps, seed=args.seed)
    out = Path(args.out)
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    datasets.Dataset.from_list(rows).save_to_disk(str(out / "probe_data"))
    print(f"wrote {out / 'model'} and {out / 'probe_data'} ({len(rows)} sentences)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
