"""Hidden states of any `transformers` checkpoint, per site and token position, cached on disk.

Sites are the entries of `output_hidden_states`, named by one helper
(`probekit.models.hidden_state_name`): `embed` is the input embedding (for the MLP,
the input x itself) and `layer.i` the residual stream *after block i*. The last
site, `layer.L`, is taken after the final normalisation for GPT-2 (`ln_f`) and Llama
(`norm`), because transformers replaces the last captured state by
`last_hidden_state`; BERT (post-LN inside each block) and the MLP have no final norm.
A model with a representation layer (`model.representation_dim`) has one more site, `repr`,
after `layer.L`: the model output's `representation` (N, D). A transformer computes it at its
own readout position only (SEP for decoders, CLS for BERT), so `repr` is the same whatever
position is asked for.

Sub-layer sites `layer.i.attn` and `layer.i.mlp` (GPT-2, Llama, BERT; named in
`probekit.probing.sublayers`) are read with forward hooks in the same pass; they are
extracted only when asked for by name.

Positions pick one vector per example from a (B, T, H) state by token role (`sep`,
`last_x`, `mean_x`, `mean`, `cls`, `index:K`, `x:K`, `query:J`, `answer:J`; defined in
`probekit.probing.positions`). The MLP has no
tokens: its states are already (B, H) and the position is `none`. A model given as a
path is loaded by `probekit.models.checkpoints`. The public names of those two modules can
also be imported from here.

Extraction is batched, gradient-free and streams each site into a memory-mapped
`.npy` under `cache_dir/<key>/`, where the key hashes the model weights, the inputs,
the position and the sites; a second call with the same key reads the files back
without running the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from probekit.models.checkpoints import (
    Checkpoint,
    checkpoint_dir,
    load_checkpoint,
    random_init_copy,
)
from probekit.models.factory import REPRESENTATION_SITE, has_representation_layer, hidden_state_name
from probekit.models.isolation import forward_inputs
from probekit.probing.positions import (
    ROLE_POSITIONS,
    TokenRoles,
    parse_position,
    token_roles,
    tokenizer_roles,
)
from probekit.probing.sublayers import capture, sublayer_sites

__all__ = [
    "CACHE_VERSION", "NO_POSITION", "ROLE_POSITIONS", "Activations", "Checkpoint", "TokenRoles",
    "check_inputs", "check_sites", "checkpoint_dir", "data_fingerprint", "default_device",
    "extract_activations", "all_site_names", "is_token_model", "load_checkpoint", "model_fingerprint",
    "parse_position", "random_init_copy", "site_name", "site_names", "sublayer_sites",
    "token_roles", "tokenizer_roles",
]  # fmt: skip

NO_POSITION = "none"
CACHE_VERSION = 1


def site_name(index: int) -> str:
    """The stable name of `hidden_states[index]`: `embed` for 0, `layer.{i}` after block i."""
    return hidden_state_name(index)


def site_names(model) -> list[str]:
    """All site names of `model`, in hidden-state order, then `repr` if it has that layer."""
    config = model.config
    n_layers = getattr(config, "num_hidden_layers", None)
    if n_layers is None:
        raise ValueError(
            f"{type(model).__name__} has no num_hidden_layers in its config; "
            "activation sites need a model that returns hidden states per block."
        )
    names = [site_name(i) for i in range(int(n_layers) + 1)]
    return names + [REPRESENTATION_SITE] if has_representation_layer(model.config) else names


def all_site_names(model) -> list[str]:
    """Every site, each block's sub-layer sites just before its output: embed, layer.1.attn,
    layer.1.mlp, layer.1, ... (`--sites all`)."""
    subs = sublayer_sites(model)
    return [x for site in site_names(model) for x in [*(s for s in subs if s.rsplit(".", 1)[0] == site), site]]  # fmt: skip


def check_sites(sites: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The requested sites (all when None or ["all"]), or a ValueError listing the existing ones."""
    if sites is None or list(sites) == ["all"]:
        return list(available)
    unknown = [s for s in sites if s not in available]
    if unknown:
        raise ValueError(
            f"Unknown site(s) {', '.join(map(repr, unknown))}. This model has: "
            f"{', '.join(available)}."
        )
    if not sites:
        raise ValueError(f"No sites requested; choose among {', '.join(available)}.")
    return list(dict.fromkeys(sites))


# --------------------------------------------------------------------------- checks


def is_token_model(model) -> bool:
    """Whether the model reads token ids (transformers) rather than a vector x (the MLP)."""
    return getattr(model, "main_input_name", "input_ids") != "x"


def _backbone_config(model):
    backbone = getattr(model, "backbone", None)
    return backbone.config if backbone is not None else model.config


def check_inputs(model, inputs: Mapping[str, np.ndarray]) -> int:
    """Raise a clear error if the inputs cannot go through `model`; returns the row count."""
    if not is_token_model(model):
        x = inputs.get("x", inputs.get("inputs"))
        if x is None:
            raise ValueError(
                f"The MLP checkpoint reads a vector x, but the inputs have columns "
                f"{sorted(inputs)}; pass 'x' (N, m)."
            )
        m = int(model.config.m)
        if np.ndim(x) != 2 or np.shape(x)[1] != m:
            raise ValueError(
                f"The MLP checkpoint has input width m={m} but the data's x has shape "
                f"{np.shape(x)}; probe it with data from the same world (m={m})."
            )
        return int(np.shape(x)[0])
    ids = inputs.get("input_ids")
    if ids is None:
        raise ValueError(
            f"The checkpoint reads token ids, but the inputs have columns {sorted(inputs)}; "
            "pass 'input_ids' (and 'attention_mask')."
        )
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be (N, T), got shape {ids.shape}.")
    vocab = model.get_input_embeddings().num_embeddings
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(
            f"Token ids range over [{ids.min()}, {ids.max()}] but the checkpoint's vocabulary "
            f"has {vocab} entries; the data was tokenized for another model (use the "
            "checkpoint's own tokenizer or a dataset from the same world)."
        )
    max_pos = getattr(_backbone_config(model), "max_position_embeddings", None)
    if max_pos is not None and ids.shape[1] > max_pos:
        raise ValueError(
            f"Sequences have {ids.shape[1]} tokens but the checkpoint has only {max_pos} "
            "positions; truncate the inputs or use a checkpoint trained on this format."
        )
    return int(ids.shape[0])


# --------------------------------------------------------------------------- fingerprints


def model_fingerprint(model) -> str:
    """sha256 of the config and every weight, so a retrained checkpoint never hits a stale cache."""
    h = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}/{t.dtype}/{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def data_fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over named arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}/{a.dtype}/{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- extraction


@dataclass
class Activations:
    """Per-site (N, F) float32 arrays at one position; memory-mapped when read from a cache."""

    sites: list[str]
    arrays: dict[str, np.ndarray]
    position: str
    from_cache: bool = False
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    def __getitem__(self, site: str) -> np.ndarray:
        if site not in self.arrays:
            raise KeyError(f"Unknown site {site!r}. Available: {', '.join(self.sites)}")
        return self.arrays[site]

    def __len__(self) -> int:
        return len(self.sites)

    def stack(self, sites: Sequence[str] | None = None) -> np.ndarray:
        """(L, N, F) for sites of equal width."""
        return np.stack([np.asarray(self[s]) for s in (sites or self.sites)])


def default_device() -> torch.device:
    """CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _select(state, kind: str, pos, x_mask, attended=None) -> torch.Tensor:
    """(B, T, H) -> (B, H) at the chosen position; (B, H) states pass through."""
    if state.dim() == 2:
        return state
    if kind in ("mean_x", "mean"):
        w = (x_mask if kind == "mean_x" else attended).to(state.dtype)[:, :, None]  # (B, T, 1)
        return (state * w).sum(1) / w.sum(1)
    return state[torch.arange(state.shape[0], device=state.device), pos]


def _positions(roles: TokenRoles, kind: str, k: int | None) -> np.ndarray | None:
    if kind == "sep":
        return roles.sep
    if kind == "cls":
        return roles.cls
    if kind == "last_x":
        return roles.last_x
    if kind == "index":
        return roles.index(k)
    if kind in ("x", "query", "answer"):
        return getattr(roles, kind)(k)
    return None  # mean_x and mean use a mask


@torch.inference_mode()
def extract_activations(
    model,
    inputs: Mapping[str, np.ndarray],
    *,
    sites: Sequence[str] | None = None,
    position: str = "sep",
    tokenizer=None,
    roles: TokenRoles | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> Activations:
    """Hidden states of `model` (a model or checkpoint path) at `sites` and `position`, per input row.

    Token models take `input_ids` (+ `attention_mask`); token roles come from `roles`, else
    from `tokenizer`, else from the checkpoint's own tokenizer. The MLP takes `x` (N, m).
    With `cache_dir`, each site streams to a memory-mapped `.npy` and a repeated call with
    the same model, inputs, position and sites reads them back without a forward pass.
    Site `repr` (a representation layer, (N, D)) is what the model computes at its own readout
    position (SEP / CLS), whatever `position` asks for the other sites.
    """
    if isinstance(model, (str, Path)):
        loaded = load_checkpoint(model, progress=progress)
        model, tokenizer = loaded.model, tokenizer or loaded.tokenizer
    n = check_inputs(model, inputs)
    all_sites = site_names(model)  # the hidden states; sub-layer sites come from hooks
    sites = check_sites(all_sites if sites is None else sites, all_site_names(model))
    token_model = is_token_model(model)
    if token_model:
        kind, k = parse_position(position)
        ids = np.asarray(inputs["input_ids"], dtype=np.int64)
        mask = inputs.get("attention_mask")
        mask = np.ones_like(ids) if mask is None else np.asarray(mask, dtype=np.int64)
        if roles is None:
            if tokenizer is None:
                raise ValueError(
                    "Token positions need the special-token ids: pass tokenizer= (or roles=), "
                    "or a checkpoint directory that holds its tokenizer."
                )
            roles = tokenizer_roles(tokenizer, ids, mask)
        pos_all = _positions(roles, kind, k)
        feed = {"input_ids": ids, "attention_mask": mask}
        for name in ("segment_ids", "position_ids"):  # the isolated format's mask and positions
            if inputs.get(name) is not None:
                feed[name] = np.asarray(inputs[name], dtype=np.int64)
        key_arrays = {**feed, "x_mask": roles.x_mask}
        if pos_all is not None:
            key_arrays["pos"] = pos_all
    else:
        position, kind, pos_all = NO_POSITION, NO_POSITION, None
        feed = {"x": np.asarray(inputs.get("x", inputs.get("inputs")), dtype=np.float32)}
        key_arrays = dict(feed)

    key = None
    if cache_dir is not None:
        key = hashlib.sha256(
            json.dumps(
                {
                    "v": CACHE_VERSION,
                    "model": model_fingerprint(model),
                    "data": data_fingerprint(key_arrays),
                    "position": position,
                    "sites": sites,
                }
            ).encode()
        ).hexdigest()[:32]
        cached = _read_cache(Path(cache_dir) / key, sites, position)
        if cached is not None:
            return cached

    device = torch.device(device) if device is not None else default_device()
    was_training = model.training
    model.to(device).eval()
    index = {name: i for i, name in enumerate(all_sites)}
    out: dict[str, np.ndarray] = {}
    tmp = None
    if key is not None:
        tmp = Path(cache_dir) / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    hooks = ExitStack()  # the forward hooks of sub-layer sites never outlive the extraction
    try:
        captured = hooks.enter_context(capture(model, [s for s in sites if s not in index]))
        for start in tqdm(
            range(0, n, batch_size), desc="activations", disable=not progress, leave=False
        ):
            stop = min(start + batch_size, n)
            batch = {k2: torch.from_numpy(v[start:stop]).to(device) for k2, v in feed.items()}
            attended = batch.get("attention_mask")  # 2-D, before forward_inputs makes it 4-D
            output = model(**forward_inputs(model, batch), output_hidden_states=True)
            hidden = list(output.hidden_states or ())
            if REPRESENTATION_SITE in index:  # (B, D): `_select` passes it through
                hidden.append(output.representation)
            if len(hidden) != len(all_sites) or hidden[-1] is None:
                raise ValueError(
                    f"{type(model).__name__} returned {len(hidden)} hidden states (with the "
                    f"representation), expected {len(all_sites)} ({', '.join(all_sites)})."
                )
            pos = None if pos_all is None else torch.from_numpy(pos_all[start:stop]).to(device)
            x_mask = torch.from_numpy(roles.x_mask[start:stop]).to(device) if token_model else None
            for site in sites:
                state = hidden[index[site]] if site in index else captured[site]
                vec = _select(state, kind, pos, x_mask, attended).float().cpu().numpy()
                if site not in out:
                    shape = (n, vec.shape[1])
                    out[site] = (
                        np.lib.format.open_memmap(tmp / f"{site}.npy", "w+", np.float32, shape)
                        if tmp is not None
                        else np.empty(shape, np.float32)
                    )
                out[site][start:stop] = vec
        meta = {"sites": sites, "position": position, "n": n, "model_class": type(model).__name__}
        if tmp is not None:
            for arr in out.values():
                arr.flush()
            (tmp / "meta.json").write_text(json.dumps(meta))
            final = Path(cache_dir) / key
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)  # the cache entry appears complete or not at all
            tmp = None
            written = _read_cache(final, sites, position)
            written.from_cache = False
            return written
        return Activations(sites, out, position, meta=meta)
    finally:
        hooks.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if was_training:
            model.train()


def _read_cache(path: Path, sites: list[str], position: str) -> Activations | None:
    meta_file = path / "meta.json"
    if not meta_file.exists():
        return None
    meta = json.loads(meta_file.read_text())
    if meta.get("sites") != sites or meta.get("position") != position:
        return None
    arrays = {s: np.load(path / f"{s}.npy", mmap_mode="r") for s in sites}
    return Activations(sites, arrays, position, from_cache=True, path=path, meta=meta)
