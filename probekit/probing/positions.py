"""Token positions: which token of each sequence a probe reads, found by token role.

A position picks one vector per example from a (B, T, H) hidden state:

- `sep`: the first separator token after x (the last attended token when the
  tokenizer has no separator, e.g. GPT-2 on plain text);
- `last_x`: the last x token (x = the non-special tokens before the first separator);
- `mean_x`: the mean over the x tokens;
- `mean`: the mean over every attended token, special tokens included (what
  sentence-transformers' mean pooling computes);
- `cls`: the first attended token (CLS for BERT, BOS for the synthetic decoders);
- `index:K`: token K (K < 0 counts back from the last attended token);
- `x:K`: the K-th x token (K < 0 counts back: `x:-1` is `last_x`);
- `query:J` (`query` = `query:0`): the J-th query token after the separator (a task token
  `t_j` of the qa formats). A causal LM predicts the answer from this state;
- `answer:J` (`answer` = `answer:0`): the J-th answer token (`y=+` / `y=-`) itself, the
  state through which, in `qa`, later tokens can read that answer.

Every role a probe can read is named here and nowhere else: `ROLE_POSITIONS` (one
token or a mean) and `INDEXED_ROLES` (`name:K`); `parse_position` is the one parser
(`probe.position` in a config and `probekit probe --position` both go through it).
In a next-token sequence `[BOS] x.. [SEP] t_a y_a t_b y_b .. [EOS]` the roles are
`x:0`..`x:-1`, `mean_x`, `sep`, `query:J` and `answer:J` (`sequence_roles` lists them).

`token_roles` finds these per row from the ids, the attention mask (right or left
padding) and the special-token ids; `tokenizer_roles` takes the latter from a HF
tokenizer; `parse_position` reads a position string; `pooling_position` reads the pooling
a sentence-transformers model folder declares (modules.json + its Pooling config.json,
read as plain JSON: the sentence-transformers package is not needed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthetic.tokenizer import ANSWER_TOKENS

ROLE_POSITIONS = ("sep", "last_x", "mean_x", "mean", "cls", "query", "answer")
INDEXED_ROLES = ("index", "x", "query", "answer")  # `name:K`


def parse_position(position: str) -> tuple[str, int | None]:
    """(role, None) for a plain role, (role, K) for `index:K`, `x:K`, `query:J`, `answer:J`."""
    if position in ("query", "answer"):
        return position, 0
    if position in ROLE_POSITIONS:
        return position, None
    if isinstance(position, str) and position.split(":", 1)[0] in INDEXED_ROLES:
        name, _, k = position.partition(":")
        try:
            k = int(k)
        except ValueError:
            pass
        else:
            if name in ("index", "x") or k >= 0:
                return name, k
    raise ValueError(
        f"Unknown position {position!r}. Use one of {', '.join(ROLE_POSITIONS)}, 'index:K' "
        "(token K; index:-1 is the last attended token), 'x:K' (the K-th x token), "
        "'query:J' or 'answer:J' (the J-th query or answer token, J ≥ 0)."
    )


def sequence_roles(n_x: int, n_queries: int) -> list[str]:
    """Every role of a next-token sequence with `n_x` x tokens and `n_queries` queries:
    each x token, their mean, SEP, then each query and each answer."""
    return (
        [f"x:{k}" for k in range(n_x)]
        + ["mean_x", "sep"]
        + [f"{role}:{j}" for j in range(n_queries) for role in ("query", "answer")]
    )


@dataclass(frozen=True)
class TokenRoles:
    """Token indices by role for every example (right or left padding both work)."""

    sep: np.ndarray  # (N,) the first separator after x, else the last attended token
    cls: np.ndarray  # (N,) the first attended token
    last: np.ndarray  # (N,) the last attended token
    x_mask: np.ndarray  # (N, T) bool, the x tokens
    query_mask: np.ndarray | None = None  # (N, T) bool, non-answer tokens after the separator
    answer_mask: np.ndarray | None = None  # (N, T) bool, answer tokens after the separator

    @property
    def last_x(self) -> np.ndarray:
        """(N,) the last x token."""
        T = self.x_mask.shape[1]
        return T - 1 - np.argmax(self.x_mask[:, ::-1], axis=1)

    def x(self, k: int) -> np.ndarray:
        """(N,) the k-th x token (k < 0 counts back from the last)."""
        return _nth(self.x_mask, k, "x", "x tokens")

    def query(self, j: int) -> np.ndarray:
        """(N,) the j-th query token after the separator."""
        return _nth(self.query_mask, j, "query", "queries")

    def answer(self, j: int) -> np.ndarray:
        """(N,) the j-th answer token after the separator."""
        return _nth(self.answer_mask, j, "answer", "answers")

    def index(self, k: int) -> np.ndarray:
        """(N,) token k, counted from the first attended token (or back from the last if k < 0)."""
        pos = self.cls + k if k >= 0 else self.last + 1 + k
        if np.any(pos < self.cls) or np.any(pos > self.last):
            shortest = int((self.last - self.cls).min()) + 1
            raise ValueError(
                f"Position index:{k} falls outside some sequences (the shortest has {shortest} "
                f"attended tokens); use an index in [-{shortest}, {shortest - 1}]."
            )
        return pos


def _nth(mask: np.ndarray | None, k: int, name: str, plural: str) -> np.ndarray:
    """(N,) the column of the k-th True of each row (k < 0 counts back), or a ValueError."""
    counts = np.zeros(1, int) if mask is None else mask.sum(axis=1)
    fewest = int(counts.min())
    if not -fewest <= k < fewest:
        where = "some sequences have" if mask is not None else "the sequences have"
        fix = f"use {name}:0..{fewest - 1}" if fewest else f"use a format with {plural}"
        raise ValueError(f"Position {name}:{k} is out of range: {where} {fewest} {plural}; {fix}.")
    rank = (k if k >= 0 else counts + k) + 1  # 1-based rank of the wanted True, scalar or (N,)
    order = np.cumsum(mask, axis=1)
    return np.argmax(mask & (order == np.reshape(rank, (-1, 1))), axis=1)


def token_roles(
    input_ids: np.ndarray,
    attention_mask: np.ndarray | None = None,
    *,
    special_ids: Sequence[int] = (),
    sep_id: int | None = None,
    answer_ids: Sequence[int] = (),
) -> TokenRoles:
    """Find SEP, CLS, the x tokens, and the queries and answers after SEP of each row.

    After the first separator, a non-special token is an answer if its id is in
    `answer_ids`, else a query.
    """
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"input_ids must be (N, T) with T > 0, got shape {ids.shape}.")
    attended = (
        np.ones(ids.shape, bool) if attention_mask is None else np.asarray(attention_mask) > 0
    )
    if not attended.any(axis=1).all():
        raise ValueError("Some rows have an all-zero attention_mask; drop empty examples.")
    T = ids.shape[1]
    cols = np.arange(T)
    first = np.argmax(attended, axis=1)
    last = T - 1 - np.argmax(attended[:, ::-1], axis=1)
    sep = last.copy()
    before_sep = attended.copy()
    if sep_id is not None:
        is_sep = (ids == sep_id) & attended
        has = is_sep.any(axis=1)
        sep = np.where(has, np.argmax(is_sep, axis=1), last)
        before_sep &= np.where(has[:, None], cols[None, :] < sep[:, None], True)
    special = np.isin(ids, np.asarray(list(special_ids), dtype=ids.dtype))
    x_mask = before_sep & ~special
    if not x_mask.any(axis=1).all():
        row = int(np.flatnonzero(~x_mask.any(axis=1))[0])
        raise ValueError(
            f"Row {row} has no x tokens (every attended token before the separator is special); "
            "the positions last_x and mean_x need at least one."
        )
    after = attended & ~special
    if sep_id is not None:
        after &= has[:, None] & (cols[None, :] > sep[:, None])
    else:
        after &= False
    is_answer = np.isin(ids, np.asarray(list(answer_ids), dtype=ids.dtype))
    return TokenRoles(
        sep=sep,
        cls=first,
        last=last,
        x_mask=x_mask,
        query_mask=after & ~is_answer,
        answer_mask=after & is_answer,
    )


def tokenizer_roles(tokenizer, input_ids, attention_mask=None) -> TokenRoles:
    """`token_roles` with the special tokens and separator of a HF tokenizer."""
    vocab = tokenizer.get_vocab()
    return token_roles(
        input_ids,
        attention_mask,
        special_ids=tokenizer.all_special_ids,
        sep_id=tokenizer.sep_token_id,
        answer_ids=[vocab[t] for t in ANSWER_TOKENS if t in vocab],
    )


# sentence-transformers Pooling modes -> the position that computes the same vector.
POOLING_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "index:-1",
}
POOLING_MODULE = "sentence_transformers.models.Pooling"


def pooling_position(folder: str | Path | None) -> tuple[str, str] | None:
    """(position, where it was read) from a sentence-transformers folder's pooling config.

    None when the folder declares no pooling (no modules.json, or no Pooling module in it).
    A pooling that no single position computes (max, mean-sqrt-len, several modes
    concatenated) is a ValueError asking for an explicit --position.
    """
    if folder is None or not (Path(folder) / "modules.json").is_file():
        return None
    folder = Path(folder)
    modules = json.loads((folder / "modules.json").read_text())
    pooling = next((m for m in modules if m.get("type") == POOLING_MODULE), None)
    if pooling is None:
        return None
    config_file = folder / pooling.get("path", "") / "config.json"
    where = config_file.relative_to(folder).as_posix()
    if not config_file.is_file():
        raise ValueError(
            f"modules.json of {folder} names a Pooling module but {where} is missing; "
            "download it with the model, or pass --position explicitly (mean, cls, ...)."
        )
    config = json.loads(config_file.read_text())
    modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
    if len(modes) == 1 and modes[0] in POOLING_MODES:
        return POOLING_MODES[modes[0]], f"sentence-transformers pooling ({where}: {modes[0]})"
    raise ValueError(
        f"The model's pooling ({where}: {', '.join(modes) or 'no mode set'}) is not one token "
        f"position or mean; pass --position explicitly (one of {', '.join(ROLE_POSITIONS)} or "
        "index:K)."
    )
