"""Interventions on a site's state along what a probe finds: steer, erase, interchange, and the
random-direction control.

For latent z_i at one site, from the probe's fit inputs (never the inputs scored):

- the probe: a logistic `LinearProbe` of z_i on the site's vectors; its normal n (unit, in
  the site's own coordinates) and its typical margin m, the median distance of the fit
  states to its decision boundary;
- **steer**: v' = v − z_i · s · m · n, which moves the state across the boundary, towards
  the other value of z_i, by s typical margins (s = 2 mirrors a typical state; the scale
  is swept and chosen on validation inputs);
- **random direction**: the same displacement along a random unit vector r instead of n;
- **interchange**: v' = v + ((v_src − v) · n) n, the component of v along n replaced by
  that of another input whose z_i differs;
- **erase**: LEACE (`concept_erasure.LeaceEraser`, Belrose et al. 2023), the least-squares
  affine edit after which no linear classifier can read z_i from the state better than a
  constant.

Steer, interchange and the random direction are per-example shifts of the probed vector;
erase is an affine map. `shift_edit` / `map_edit` turn them into edits of the site's whole
state (`probekit.probing.hooks.site_edit`) at the position the probe read: the read-out
token (SEP / CLS), or every x token. At the x tokens the probe reads their mean, so a shift
is added to each x token (the mean moves by exactly that shift) and the eraser is applied
to each x token (the mean is then erased too, the map being affine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from probekit.probing.estimators import LinearProbe
from probekit.probing.hooks import Edit

INTERVENTIONS = ("steer", "erase", "interchange")
CONTROLS = ("random_direction", "random_init", "embed")
DEFAULT_SCALES = (0.5, 1.0, 2.0, 4.0)
POSITION_MODES = ("readout", "x")


@dataclass
class LatentProbe:
    """A fitted linear probe of one latent: logit = coef · v + intercept (positive: z_i = +1)."""

    coef: np.ndarray  # (H,)
    intercept: float
    margin: float  # median distance of the fit states to the decision boundary

    @property
    def normal(self) -> np.ndarray:
        """(H,) the unit normal of the decision boundary, pointing to z_i = +1."""
        return self.coef / max(float(np.linalg.norm(self.coef)), 1e-12)

    def decision(self, v: np.ndarray) -> np.ndarray:
        """(N,) logits of the states v (N, H)."""
        return np.asarray(v, np.float64) @ self.coef + self.intercept


def fit_latent_probes(
    acts: np.ndarray,
    z: np.ndarray,
    *,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    cv: int = 3,
    seed: int = 0,
) -> list[LatentProbe]:
    """One logistic probe per column of z (N, k) ±1 on the states acts (N, H), C by CV."""
    acts = np.asarray(acts, np.float64)
    probe = LinearProbe(kind="logistic", Cs=tuple(Cs), cv=cv, random_state=seed)
    probe.fit(acts, np.asarray(z))
    out = []
    for coef, b in zip(probe.coef_, probe.intercept_, strict=True):
        norm = max(float(np.linalg.norm(coef)), 1e-12)
        margin = float(np.median(np.abs(acts @ coef + b)) / norm)
        out.append(LatentProbe(np.asarray(coef, np.float64), float(b), margin))
    return out


def fit_eraser(acts: np.ndarray, z_i: np.ndarray):
    """The LEACE eraser of one latent z_i (N,) ±1 from the states acts (N, H), in float64."""
    from concept_erasure import LeaceEraser

    x = torch.as_tensor(np.asarray(acts), dtype=torch.float64)
    labels = torch.as_tensor((np.asarray(z_i) > 0).astype(np.float64))[:, None]
    return LeaceEraser.fit(x, labels)


def random_normals(width: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, width) random unit vectors, uniform on the sphere."""
    r = rng.standard_normal((n, width))
    return r / np.linalg.norm(r, axis=1, keepdims=True)


# --------------------------------------------------------------------------- per-example shifts


def steer_shift(z_i: np.ndarray, probe: LatentProbe, scale: float, direction=None) -> np.ndarray:
    """(N, H) v' − v of steering each state `scale` margins towards −z_i along `direction`
    (the probe's normal by default; a random unit vector for the control)."""
    n = probe.normal if direction is None else np.asarray(direction, np.float64)
    return -np.asarray(z_i, np.float64)[:, None] * (scale * probe.margin) * n[None, :]


def interchange_shift(v: np.ndarray, v_src: np.ndarray, probe: LatentProbe) -> np.ndarray:
    """(N, H) v' − v of replacing the component of v along the probe's normal by v_src's."""
    n = probe.normal
    along = (np.asarray(v_src, np.float64) - np.asarray(v, np.float64)) @ n
    return along[:, None] * n[None, :]


def interchange_sources(
    z_i: np.ndarray, pool_z_i: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(N,) for each input a random index into the pool among those whose z_i differs."""
    z_i, pool_z_i = np.asarray(z_i), np.asarray(pool_z_i)
    out = np.empty(len(z_i), dtype=np.int64)
    for value in np.unique(z_i):
        donors = np.flatnonzero(pool_z_i != value)
        if not len(donors):
            raise ValueError(
                f"No input with z_i != {value} to interchange from; the inputs hold one value."
            )
        rows = np.flatnonzero(z_i == value)
        out[rows] = rng.choice(donors, size=len(rows))
    return out


# --------------------------------------------------------------------------- state edits


@dataclass
class Placement:
    """Where in the site's state the probed vector sits, for the rows being evaluated.

    `mode` "readout" (one token per row, `pos` (N,)), "x" (the x tokens, `x_mask` (N, T))
    or "none" (the state is the vector: the MLP, or `repr`).
    """

    mode: str
    pos: np.ndarray | None = None
    x_mask: np.ndarray | None = None

    def rows(self, idx: np.ndarray) -> Placement:
        """The placement of a subset of the rows."""
        return Placement(
            self.mode,
            None if self.pos is None else self.pos[idx],
            None if self.x_mask is None else self.x_mask[idx],
        )


def _apply(state: torch.Tensor, place: Placement, fn: Callable[[torch.Tensor], torch.Tensor]):
    """`fn` applied to the probed vectors of a (B, H) or (B, T, H) state, the rest kept."""
    if state.dim() == 2 or place.mode == "none":
        return fn(state)
    if place.mode == "readout":
        rows = torch.arange(state.shape[0], device=state.device)
        pos = torch.as_tensor(place.pos, device=state.device)
        out = state.clone()
        out[rows, pos] = fn(state[rows, pos])
        return out
    mask = torch.as_tensor(place.x_mask, device=state.device)[:, :, None]
    return torch.where(mask, fn(state), state)


def shift_edit(shift: np.ndarray, place: Placement) -> Callable[[np.ndarray], Edit]:
    """`make_edit` for `hooks.edited_logits`: add shift[row] (N, H) to each row's probed vectors."""
    shift_t = torch.as_tensor(np.asarray(shift), dtype=torch.float32)

    def make_edit(idx: np.ndarray) -> Edit:
        sub, delta = place.rows(idx), shift_t[torch.as_tensor(idx)]

        def edit(state: torch.Tensor) -> torch.Tensor:
            d = delta.to(state.device, state.dtype)
            # (B, T, H) at the x tokens: the same shift at every position the mask selects
            return _apply(state, sub, lambda h: h + (d[:, None, :] if h.dim() == 3 else d))

        return edit

    return make_edit


def map_edit(fn: Callable[[torch.Tensor], torch.Tensor], place: Placement):
    """`make_edit` for `hooks.edited_logits`: replace each probed vector v by fn(v)."""

    def make_edit(idx: np.ndarray) -> Edit:
        sub = place.rows(idx)
        return lambda state: _apply(state, sub, fn)

    return make_edit


def eraser_fn(eraser) -> Callable[[torch.Tensor], torch.Tensor]:
    """The LEACE eraser as a map of (..., H) float tensors, computed in float64."""
    return lambda h: eraser(h.double()).to(h.dtype)
