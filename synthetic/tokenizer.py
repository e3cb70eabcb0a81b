"""The token vocabulary of the synthetic worlds, as a real HuggingFace tokenizer.

A sequence is a whitespace-separated string of word tokens, tokenized by a
``WordLevel`` model, so the saved tokenizer works with any HF model. Datasets never
tokenize text per example: ids are computed with numpy from the layout below
(``TokenLayout``), and a test checks that the tokenizer agrees with them.

Vocabulary, in id order:

- special tokens ``[PAD] [BOS] [EOS] [SEP] [CLS] [MASK] [UNK]`` (ids 0..6);
- answer tokens ``y=+`` and ``y=-`` (ids 7, 8);
- observed-bit tokens. The m bits of ``x`` are cut into ``G = ceil(m / b)`` groups of
  ``b = bits_per_token`` consecutive bits; the last group holds the remainder
  ``m - (G - 1) b`` bits when ``b`` does not divide ``m``. Group ``g`` has one token
  per value of its bits, named by the positions and the signs, e.g. ``x3=+`` for
  ``b = 1`` and ``x0:3=+-+`` (bits 0, 1, 2 are +1, -1, +1) for ``b = 3``. The id is
  ``x_offset + g * 2^b + v`` with ``v = Σ_j [x_{gb+j} = -1] 2^j`` (the index
  convention of ``synthetic.bits``); the remainder group only has ``2^r`` tokens,
  and being last it leaves no gap;
- task tokens ``t0 .. t{n-1}`` (id ``task_offset + i``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS: dict[str, str] = {
    "pad_token": "[PAD]",
    "bos_token": "[BOS]",
    "eos_token": "[EOS]",
    "sep_token": "[SEP]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
    "unk_token": "[UNK]",
}
ANSWER_TOKENS = ("y=+", "y=-")  # answer +1, answer -1
MAX_BITS_PER_TOKEN = 12  # 4096 tokens per group already makes a large embedding table


@dataclass(frozen=True)
class TokenLayout:
    """Where each kind of token lives in the vocabulary, for vectorised id arithmetic."""

    m: int
    n_tasks: int
    bits_per_token: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.m, (int, np.integer)) or self.m < 1:
            raise ValueError(f"m must be a positive integer, got {self.m!r}.")
        if not isinstance(self.n_tasks, (int, np.integer)) or self.n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive integer, got {self.n_tasks!r}.")
        b = self.bits_per_token
        if not isinstance(b, (int, np.integer)) or not 1 <= b <= MAX_BITS_PER_TOKEN:
            raise ValueError(
                f"bits_per_token must be an integer in 1..{MAX_BITS_PER_TOKEN}, got {b!r}."
            )

    # Special ids follow the order of SPECIAL_TOKENS.
    pad_id = 0
    bos_id = 1
    eos_id = 2
    sep_id = 3
    cls_id = 4
    mask_id = 5
    unk_id = 6
    yes_id = 7  # "y=+"
    no_id = 8  # "y=-"
    x_offset = 9

    @property
    def n_groups(self) -> int:
        """Number of x tokens per sequence, ceil(m / bits_per_token)."""
        return -(-self.m // self.bits_per_token)

    @property
    def last_group_bits(self) -> int:
        """Bits in the last group (equal to bits_per_token when it divides m)."""
        return self.m - (self.n_groups - 1) * self.bits_per_token

    @property
    def n_x_tokens(self) -> int:
        """Number of observed-bit tokens in the vocabulary."""
        return (self.n_groups - 1) * (1 << self.bits_per_token) + (1 << self.last_group_bits)

    @property
    def task_offset(self) -> int:
        """Id of task token t0."""
        return self.x_offset + self.n_x_tokens

    @property
    def vocab_size(self) -> int:
        """Total number of tokens."""
        return self.task_offset + self.n_tasks

    def group_span(self, g: int) -> tuple[int, int]:
        """The [start, stop) bit positions of group g."""
        start = g * self.bits_per_token
        return start, min(start + self.bits_per_token, self.m)

    def x_token_ids(self, x: np.ndarray) -> np.ndarray:
        """(N, m) ±1 observations -> (N, G) token ids, vectorised."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.m:
            raise ValueError(f"x must have shape (N, {self.m}), got {x.shape}.")
        b, G = self.bits_per_token, self.n_groups
        bits = (x == -1).astype(np.int64)
        pad = G * b - self.m
        if pad:
            # Padding with +1 (bit 0) keeps the remainder group's value below 2^r.
            bits = np.concatenate([bits, np.zeros((len(x), pad), dtype=np.int64)], axis=1)
        values = bits.reshape(len(x), G, b) @ (np.int64(1) << np.arange(b, dtype=np.int64))
        return self.x_offset + np.arange(G, dtype=np.int64) * (1 << b) + values

    def vocab(self) -> list[str]:
        """All token strings in id order."""
        tokens = list(SPECIAL_TOKENS.values()) + list(ANSWER_TOKENS)
        for g in range(self.n_groups):
            start, stop = self.group_span(g)
            name = f"x{start}" if self.bits_per_token == 1 else f"x{start}:{stop}"
            width = stop - start
            for v in range(1 << width):
                signs = "".join("-" if (v >> j) & 1 else "+" for j in range(width))
                tokens.append(f"{name}={signs}")
        tokens.extend(f"t{i}" for i in range(self.n_tasks))
        assert len(tokens) == self.vocab_size
        return tokens


def build_tokenizer(m: int, n_tasks: int, bits_per_token: int = 1) -> PreTrainedTokenizerFast:
    """A WordLevel HF tokenizer over the layout's whitespace-separated tokens."""
    layout = TokenLayout(m, n_tasks, bits_per_token)
    vocab = {tok: i for i, tok in enumerate(layout.vocab())}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        clean_up_tokenization_spaces=False,  # decode must give back the exact text
        model_max_length=4096,
        **SPECIAL_TOKENS,
    )
    # The sequences already carry their own BOS/CLS/SEP/EOS; never add more.
    tokenizer.add_bos_token = False
    tokenizer.add_eos_token = False
    check_tokenizer(tokenizer, layout)
    return tokenizer


def check_tokenizer(tokenizer: PreTrainedTokenizerFast, layout: TokenLayout) -> None:
    """Raise if the tokenizer's vocabulary does not match the layout's id arithmetic."""
    expected = layout.vocab()
    got = tokenizer.convert_ids_to_tokens(list(range(len(expected))))
    if len(tokenizer) != layout.vocab_size or got != expected:
        raise ValueError(
            f"Tokenizer does not match the layout m={layout.m}, n_tasks={layout.n_tasks}, "
            f"bits_per_token={layout.bits_per_token}; rebuild it with build_tokenizer."
        )


def ids_to_text(ids: np.ndarray, layout: TokenLayout) -> list[str]:
    """(N, L) ids -> N whitespace-joined texts, using the layout's vocabulary."""
    vocab = np.array(layout.vocab(), dtype=object)
    return [" ".join(row) for row in vocab[np.asarray(ids)]]
