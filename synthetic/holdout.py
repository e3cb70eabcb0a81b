"""Which latents are held out of training: the seeded hash and the train region, one rule.

An input z is *held out* (never in a training stream, a training dataset split or the
training-side evaluation set; the `ood` split, `eval_acc_heldout` and probing's `unseen`
inputs instead) when

    the seeded hash holds it out (`holdout_fraction`, each cube point independently)
    OR it lies outside the train region (`train_region`, when one is given).

`heldout_mask` is that rule and the only place it is written; everything that needs to
know whether a z was trained on (`DataSpec.heldout_mask`, the samplers of
`synthetic.sequences`, dataset splits, the training loop, probe inputs) calls it.

Train regions (`DataSpec.train_region`, a dict; None: no region, the whole cube):

- `{kind: latent_fixed, latent: j, value: ±1}`: the inputs with z_j = value (value
  defaults to +1). Half of the cube; the other half is the distribution shift.
- `{kind: hamming_ball, radius: r, center: null | [±1, ...]}`: the inputs within Hamming
  distance r of the center (default the all-(+1) vector), 0 ≤ r < d.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

REGION_KINDS: dict[str, dict[str, bool]] = {  # kind -> {key: required}
    "latent_fixed": {"kind": True, "latent": True, "value": False},
    "hamming_ball": {"kind": True, "radius": True, "center": False},
}
EXAMPLES = "{kind: latent_fixed, latent: 0, value: 1} or {kind: hamming_ball, radius: 3}"

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


# --------------------------------------------------------------------------- hash


def _splitmix64(v: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, a good 64-bit mixing function (wraps mod 2^64)."""
    v = (v + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    v = ((v ^ (v >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    v = ((v ^ (v >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return v ^ (v >> np.uint64(31))


def hash_mask(z: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(N,) bool: the seeded hash's part of the rule; each cube point is held out,
    independently, with probability `fraction`.

    A hash of the bits decides, so the rule needs no enumeration of the cube.
    """
    z = np.asarray(z)
    if fraction <= 0:
        return np.zeros(z.shape[0], dtype=bool)
    bits = (z == -1).astype(np.uint64)
    h = np.full(z.shape[0], np.uint64(seed) & _MASK64, dtype=np.uint64)
    h = _splitmix64(h)
    for start in range(0, z.shape[1], 32):  # 32 bits per round keeps d unbounded
        chunk = bits[:, start : start + 32]
        word = chunk @ (np.uint64(1) << np.arange(chunk.shape[1], dtype=np.uint64))
        h = _splitmix64(h ^ word)
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < fraction


# --------------------------------------------------------------------------- regions


def check_region(region: Any, d: int | None = None) -> None:
    """Validate a `train_region` dict (the d-dependent checks when d is given)."""
    if region is None:
        return
    if not isinstance(region, Mapping):
        raise ValueError(
            f"DataSpec.train_region must be null or a mapping such as {EXAMPLES}, got {region!r}."
        )
    kind = region.get("kind")
    if kind not in REGION_KINDS:
        raise ValueError(
            f"DataSpec.train_region kind must be one of {', '.join(REGION_KINDS)}, got {kind!r}; "
            f"e.g. {EXAMPLES}."
        )
    keys = REGION_KINDS[kind]
    unknown = sorted(str(k) for k in set(region) - set(keys))
    if unknown:
        raise ValueError(
            f"Unknown key {unknown[0]!r} in DataSpec.train_region ({kind}). "
            f"Known keys: {', '.join(keys)}"
        )
    missing = [k for k, required in keys.items() if required and k not in region]
    if missing:
        raise ValueError(f"DataSpec.train_region ({kind}) needs {missing[0]!r}; e.g. {EXAMPLES}.")
    if kind == "latent_fixed":
        latent, value = region["latent"], region.get("value", 1)
        if not _is_int(latent) or latent < 0:
            raise ValueError(
                f"DataSpec.train_region 'latent' must be an integer ≥ 0, got {latent!r}."
            )
        if d is not None and latent >= d:
            raise ValueError(
                f"DataSpec.train_region 'latent'={latent} is out of range for d={d}; "
                f"use 0..{d - 1}."
            )
        if not _is_int(value) or value not in (1, -1):
            raise ValueError(f"DataSpec.train_region 'value' must be 1 or -1, got {value!r}.")
        return
    radius, center = region["radius"], region.get("center")
    if not _is_int(radius) or radius < 0:
        raise ValueError(f"DataSpec.train_region 'radius' must be an integer ≥ 0, got {radius!r}.")
    if d is not None and radius >= d:
        raise ValueError(
            f"DataSpec.train_region 'radius'={radius} covers the whole d={d} cube (nothing "
            f"would be held out); use a radius in [0, {d})."
        )
    if center is not None:
        ok = isinstance(center, (list, tuple)) and all(_is_int(c) and c in (1, -1) for c in center)
        if not ok:
            raise ValueError(
                f"DataSpec.train_region 'center' must be null or a list of ±1, got {center!r}."
            )
        if d is not None and len(center) != d:
            raise ValueError(
                f"DataSpec.train_region 'center' has {len(center)} bits; the world has d={d}."
            )


def region_mask(z: np.ndarray, region: Mapping | None) -> np.ndarray:
    """(N,) bool: whether each z lies inside the train region (all True without one)."""
    z = np.asarray(z)
    if region is None:
        return np.ones(z.shape[0], dtype=bool)
    check_region(region, z.shape[1])
    if region["kind"] == "latent_fixed":
        return z[:, int(region["latent"])] == int(region.get("value", 1))
    center = region.get("center")
    center = np.ones(z.shape[1], np.int8) if center is None else np.asarray(center, np.int8)
    return (z != center).sum(axis=1) <= int(region["radius"])


# --------------------------------------------------------------------------- the rule


def heldout_mask(
    z: np.ndarray, fraction: float, seed: int, region: Mapping | None = None
) -> np.ndarray:
    """(N,) bool: whether each z is held out of training.

    Held out = the seeded hash holds it out (probability `fraction`, from `seed`) OR it
    lies outside `region`. The one rule for dataset splits, training streams and
    evaluation sets, and probing's `unseen` inputs.
    """
    held = hash_mask(z, fraction, seed)
    if region is not None:
        held |= ~region_mask(z, region)
    return held


def holds_out(fraction: float, region: Mapping | None) -> bool:
    """Whether the rule holds anything out at all (there is then an ood set)."""
    return fraction > 0 or region is not None


def describe(fraction: float, region: Mapping | None) -> str:
    """A short description of the rule, for error messages."""
    parts = [f"holdout_fraction={fraction}"] if fraction > 0 or region is None else []
    if region is not None:
        parts.append(f"train_region={dict(region)}")
    return " and ".join(parts)


def spec_heldout_mask(z: np.ndarray, data) -> np.ndarray:
    """`heldout_mask` with the fields of a DataSpec (`holdout_fraction`, `seed`, `train_region`)."""
    return heldout_mask(z, data.holdout_fraction, data.seed, getattr(data, "train_region", None))
