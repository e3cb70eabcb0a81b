"""The HF tokenizer agrees with the vectorised id arithmetic, in every format."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from synthetic.sequences import SEQUENCE_FORMATS, encode_arrays
from synthetic.tokenizer import TokenLayout, build_tokenizer, ids_to_text


def _random_pm1(rng, shape):
    return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)


def test_layout_sizes_and_names():
    layout = TokenLayout(m=5, n_tasks=3, bits_per_token=2)
    # groups: bits 0-1, 2-3, and the remainder group holding bit 4 only
    assert layout.n_groups == 3
    assert layout.last_group_bits == 1
    assert layout.n_x_tokens == 4 + 4 + 2
    assert layout.vocab_size == 9 + 10 + 3
    vocab = layout.vocab()
    assert vocab[:9] == [
        "[PAD]",
        "[BOS]",
        "[EOS]",
        "[SEP]",
        "[CLS]",
        "[MASK]",
        "[UNK]",
        "y=+",
        "y=-",
    ]
    assert vocab[layout.x_offset : layout.x_offset + 4] == [
        "x0:2=++",
        "x0:2=-+",
        "x0:2=+-",
        "x0:2=--",
    ]
    assert vocab[-5:] == ["x4:5=+", "x4:5=-", "t0", "t1", "t2"]
    assert TokenLayout(3, 1).vocab()[9:15] == ["x0=+", "x0=-", "x1=+", "x1=-", "x2=+", "x2=-"]


def test_x_token_ids_known_values():
    layout = TokenLayout(m=5, n_tasks=2, bits_per_token=2)
    x = np.array([[1, -1, 1, 1, -1], [-1, -1, -1, -1, 1]], dtype=np.int8)
    # group value v = sum_j [x_j = -1] 2^j; id = 9 + 4 g + v
    assert layout.x_token_ids(x).tolist() == [[9 + 2, 13 + 0, 17 + 1], [9 + 3, 13 + 3, 17 + 0]]


@pytest.mark.parametrize("bits_per_token", [1, 2, 3])
def test_ids_are_distinct_per_observation(bits_per_token):
    from synthetic.bits import cube

    layout = TokenLayout(m=7, n_tasks=1, bits_per_token=bits_per_token)
    ids = layout.x_token_ids(cube(7))
    assert len({tuple(r) for r in ids.tolist()}) == 2**7
    assert ids.min() == layout.x_offset and ids.max() == layout.task_offset - 1


@pytest.mark.parametrize(
    "fmt", [f for f in SEQUENCE_FORMATS.names() if SEQUENCE_FORMATS.get(f).tokenized]
)
@pytest.mark.parametrize("bits_per_token", [1, 3])
def test_tokenizer_encode_decode_matches_vectorised_ids(fmt, bits_per_token, tmp_path):
    rng = np.random.default_rng(0)
    m, n = 7, 5
    layout = TokenLayout(m, n, bits_per_token)
    x = _random_pm1(rng, (20, m))
    targets = _random_pm1(rng, (20, n)).astype(np.float32)
    ids = encode_arrays(fmt, x, targets, layout, 3, rng)["input_ids"]
    tok = build_tokenizer(m, n, bits_per_token)
    tok.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for tokenizer in (tok, reloaded):
        texts = ids_to_text(ids, layout)
        assert tokenizer(texts)["input_ids"] == ids.tolist()
        assert tokenizer.batch_decode(ids.tolist()) == texts
    assert "[UNK]" not in " ".join(ids_to_text(ids, layout))


def test_special_token_ids():
    tok = build_tokenizer(4, 2)
    layout = TokenLayout(4, 2)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert (tok.sep_token_id, tok.cls_token_id, tok.mask_token_id) == (3, 4, 5)
    assert tok.convert_tokens_to_ids(["y=+", "y=-", "t1"]) == [7, 8, layout.task_offset + 1]
    assert len(tok) == layout.vocab_size


@pytest.mark.parametrize(
    "bad", [dict(m=0, n_tasks=1), dict(m=3, n_tasks=0), dict(m=3, n_tasks=1, bits_per_token=0)]
)
def test_bad_layout_raises(bad):
    with pytest.raises(ValueError):
        TokenLayout(**bad)
