"""Token positions: which token of each sequence a probe reads, found by token role.

A position picks one vector per example from a (B, T, H) hidden state:

- `sep`: the first separator token after x (the last attended token when the
  tokenizer has no separator, e.g. GPT-2 on plain text);
- `last_x`: the last x token (x = the non-special tokens before the first separator);
- `mean_x`: the mean over the x tokens;
- `mean`: the mean over every attended token, special tokens included (what
  sentence-transformers' mean pooling computes);
- `cls`: the first attended token (CLS for BERT, BOS for the synthetic decoders);
- `index:K`: token K (K < 0 counts back from the last attended token).

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

ROLE_POSITIONS = ("sep", "last_x", "mean_x", "mean", "cls")


def parse_position(position: str) -> tuple[str, int | None]:
    """('sep'|'last_x'|'mean_x'|'mean'|'cls', None) or ('index', K) from a position string."""
    if position in ROLE_POSITIONS:
        return position, None
    if isinstance(position, str) and position.startswith("index:"):
        try:
            return "index", int(position.split(":", 1)[1])
        except ValueError:
            pass
    raise ValueError(
        f"Unknown position {position!r}. Use one of {', '.join(ROLE_POSITIONS)} or 'index:K' "
        "(e.g. index:5, or index:-1 for the last attended token)."
    )


@dataclass(frozen=True)
class TokenRoles:
    """Token indices by role for every example (right or left padding both work)."""

    sep: np.ndarray  # (N,) the first separator after x, else the last attended token
    cls: np.ndarray  # (N,) the first attended token
    last: np.ndarray  # (N,) the last attended token
    x_mask: np.ndarray  # (N, T) bool, the x tokens

    @property
    def last_x(self) -> np.ndarray:
        """(N,) the last x token."""
        T = self.x_mask.shape[1]
        return T - 1 - np.argmax(self.x_mask[:, ::-1], axis=1)

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


def token_roles(
    input_ids: np.ndarray,
    attention_mask: np.ndarray | None = None,
    *,
    special_ids: Sequence[int] = (),
    sep_id: int | None = None,
) -> TokenRoles:
    """Find SEP, CLS and the x tokens of each row from the ids and the special-token ids."""
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
    return TokenRoles(sep=sep, cls=first, last=last, x_mask=x_mask)


def tokenizer_roles(tokenizer, input_ids, attention_mask=None) -> TokenRoles:
    """`token_roles` with the special tokens and separator of a HF tokenizer."""
    return token_roles(
        input_ids,
        attention_mask,
        special_ids=tokenizer.all_special_ids,
        sep_id=tokenizer.sep_token_id,
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
