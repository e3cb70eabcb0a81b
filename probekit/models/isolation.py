"""Isolated answers: segment ids -> the custom 4-D attention mask a causal LM is called with.

The `qa_isolated` format (`synthetic.sequences`) gives every token a segment: 0 for the
shared prefix `[BOS] x [SEP]`, j + 1 for query j and its answer. Token i may attend to
token k exactly when k ≤ i and segment k is 0 or segment i. With the format's
`position_ids` (every query restarts right after SEP) each answer is then computed as in
the one-query sequence `[BOS] x [SEP] t_j y_j`, so it depends on x and its own query alone.

transformers (5.x) passes a 4-D `attention_mask` of shape (batch, 1, query, key) to the
attention function as it is, skipping its own causal-mask construction
(`masking_utils._preprocess_mask_arguments`: "If the mask is already 4D, simply return
as-is"); GPT-2 and Llama both build their masks there. The form must then be the one the
attention implementation expects: SDPA takes a boolean mask (True = may attend), eager
attention adds the mask to the scores, so it takes 0 / the dtype's minimum. Flex
attention needs a BlockMask and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

SEGMENT_COLUMN = "segment_ids"


def attention_implementation(model) -> str:
    """The attention implementation of `model` (unwrapping DDP / accelerate wrappers)."""
    inner = getattr(model, "module", model)
    return getattr(inner.config, "_attn_implementation", None) or "sdpa"


def isolated_attention_mask(
    segment_ids: torch.Tensor,
    attended: torch.Tensor | None = None,
    *,
    implementation: str = "sdpa",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(B, 1, T, T) mask: causal, and a token sees segment 0 and its own segment only.

    `attended` (B, T), a 2-D padding mask, removes padded keys as well. Boolean for SDPA
    (True = attend), additive (0 or the minimum of `dtype`) for eager attention.
    """
    if segment_ids.dim() != 2:
        raise ValueError(
            f"segment_ids must be (batch, tokens), got shape {tuple(segment_ids.shape)}."
        )
    seg = segment_ids.long()
    T = seg.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=seg.device).tril()
    key, query = seg[:, None, :], seg[:, :, None]
    allowed = causal[None] & ((key == 0) | (key == query))  # (B, T, T)
    if attended is not None:
        allowed = allowed & (attended[:, None, :] > 0)
    allowed = allowed[:, None]
    if implementation == "eager":
        zero = torch.zeros((), dtype=dtype, device=seg.device)
        return torch.where(allowed, zero, torch.finfo(dtype).min)
    if implementation == "sdpa":
        return allowed
    raise ValueError(
        f"The isolated format needs a custom 4-D attention mask, which attention "
        f"implementation {implementation!r} does not take here; load the model with "
        "attn_implementation='sdpa' or 'eager'."
    )


def forward_inputs(model, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keyword arguments to call `model` with: `segment_ids`, when present, becomes the
    4-D `attention_mask` (a 2-D `attention_mask` in the batch still masks padded keys)."""
    out = dict(batch)
    segments = out.pop(SEGMENT_COLUMN, None)
    if segments is None:
        return out
    inner = getattr(model, "module", model)
    attended = out.get("attention_mask")
    out["attention_mask"] = isolated_attention_mask(
        segments,
        attended if attended is not None and attended.dim() == 2 else None,
        implementation=attention_implementation(model),
        dtype=next(inner.parameters()).dtype,
    )
    return out
