"""Sub-layer sites: the attention and MLP outputs of every block, named in one place.

`layer.i.attn` is the output of block i's attention sub-layer and `layer.i.mlp` the output
of its MLP, both *before* they are added to the residual stream (i counts blocks from 1,
as `layer.i` does, so `layer.i.attn` and `layer.i.mlp` are what block i writes into the
state that becomes `layer.i`). For the pre-LN decoders that addition is all a block does:
`layer.i = layer.(i-1) + layer.i.attn + layer.i.mlp` (GPT-2, Llama; the last `layer.L` is
taken after the final norm). BERT is post-LN: its sub-layer outputs are the projections
(`attention.output.dense`, `output.dense`) that each LayerNorm adds to the residual.

`SUBLAYER_MODULES` is the one table of where these live per architecture; `capture` hooks
them for one forward pass at a time. Other architectures have block sites only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

SUBLAYERS = ("attn", "mlp")
# model_type -> sub-layer -> module path under the stock base model ({i}: 0-based block).
SUBLAYER_MODULES: dict[str, dict[str, str]] = {
    "gpt2": {"attn": "h.{i}.attn", "mlp": "h.{i}.mlp"},
    "llama": {"attn": "layers.{i}.self_attn", "mlp": "layers.{i}.mlp"},
    "bert": {
        "attn": "encoder.layer.{i}.attention.output.dense",
        "mlp": "encoder.layer.{i}.output.dense",
    },
}
_SITE = re.compile(r"layer\.(\d+)\.(attn|mlp)")


def sublayer_site(block: int, kind: str) -> str:
    """The site name of block `block`'s (1-based) sub-layer `kind` (`attn` or `mlp`)."""
    if kind not in SUBLAYERS:
        raise ValueError(f"Unknown sub-layer {kind!r}; use one of {', '.join(SUBLAYERS)}.")
    return f"layer.{int(block)}.{kind}"


def parse_sublayer_site(site: str) -> tuple[int, str] | None:
    """(1-based block, kind) of a sub-layer site name; None for any other site."""
    found = _SITE.fullmatch(site)
    return (int(found.group(1)), found.group(2)) if found else None


def base_model(model):
    """The stock transformers model inside `model` (a probekit task-heads model's backbone)."""
    backbone = getattr(model, "backbone", None)
    return backbone if backbone is not None else getattr(model, "base_model", model)


def sublayer_sites(model) -> list[str]:
    """Every sub-layer site of `model`, in block order; [] for architectures not in the table."""
    base = base_model(model)
    if base.config.model_type not in SUBLAYER_MODULES:
        return []
    n_blocks = int(base.config.num_hidden_layers)
    return [sublayer_site(b, k) for b in range(1, n_blocks + 1) for k in SUBLAYERS]


def sublayer_modules(model, sites: Sequence[str]) -> dict:
    """site -> the `torch.nn.Module` whose output is that site."""
    base = base_model(model)
    paths = SUBLAYER_MODULES.get(base.config.model_type)
    out = {}
    for site in sites:
        parsed = parse_sublayer_site(site)
        if parsed is None or paths is None:
            raise ValueError(
                f"{site!r} is not a sub-layer site of this {base.config.model_type} model; "
                f"sub-layer sites exist for {', '.join(SUBLAYER_MODULES)}."
            )
        block, kind = parsed
        out[site] = base.get_submodule(paths[kind].format(i=block - 1))
    return out


@contextmanager
def capture(model, sites: Sequence[str]) -> Iterator[dict]:
    """Within the block, every forward pass fills the yielded dict: site -> output (B, T, H)."""
    captured: dict = {}
    handles = []

    def hook(site):
        def store(_module, _inputs, output):
            # Attention modules return (output, weights, ...); the output comes first.
            captured[site] = output[0] if isinstance(output, tuple) else output

        return store

    try:
        for site, module in sublayer_modules(model, sites).items():
            handles.append(module.register_forward_hook(hook(site)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()
