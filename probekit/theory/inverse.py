"""ψ⁻¹ read as a function of x: each latent's exact degree in x and its linear decodability.

`analyse_inverse(world)` says what is known of z_j = (ψ⁻¹(x))_j without enumerating the
cube when it need not:

- GF(2)-affine inverses (`identity`, `signed_permutation`, `gf2_linear`, and
  `reversible_circuit`s without Toffoli gates): z_j = s_j χ_{B_j}(x) with B a 0/1 matrix
  (for gf2_linear B = A⁻¹, `synthetic.observation.gf2_inverse`), so deg_x z_j = |B_j|, the
  Hamming weight of row j, at any d (`Inverse.affine`).
- Circuits with Toffoli gates: z_j depends only on the x bits its wire reaches through the
  reversed gates (`Inverse.deps`); when there are at most `MAX_LOCAL_BITS` of them its exact
  degree is one Walsh transform over that sub-cube, at any d.
- Anything else (a random bijection): the whole cube, d ≤ `MAX_LOCAL_BITS`.

`latent_report` adds, per latent, whether a linear probe on the raw input x reads it
exactly: least squares of z_j on [1, x] over the (sub-)cube followed by sign agreement
on every point, a *sufficient* test (an affine function whose sign is z_j everywhere
exists); when it fails on at most 2^12 points a linear program decides exactly whether
any such affine function exists. For affine inverses no fit is needed: a parity of two
or more bits is not the sign of an affine function (nor of a degree-2 polynomial, which
covers the redundant bits of m > d), while ±x_i is. Redundant bits (m > d) enter the fit
when their source bits lie inside the sub-cube. `accuracy` is the least-squares probe's
accuracy over the cube (a tie counts ½), a lower bound on the best linear probe's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthetic.bits import cube
from synthetic.fourier import degree

if TYPE_CHECKING:
    from synthetic.world import World

MAX_LOCAL_BITS = 20
MAX_LP_BITS = 12
ROWS_PER_CHUNK = 1 << 16
TOL = 1e-9


@dataclass
class Inverse:
    """What is known of ψ⁻¹'s structure: an affine form, or the x bits each z_j depends on."""

    d: int
    affine: tuple[np.ndarray, np.ndarray] | None  # (B (d, d) uint8, s (d,) ±1)
    deps: list[list[int]] | None  # per latent, the first-d x bits z_j can depend on
    kind: str  # a phrase for the output

    def support(self, j: int) -> list[int] | None:
        """The x bits z_j depends on (None: unknown, i.e. possibly all)."""
        if self.affine is not None:
            return np.nonzero(self.affine[0][j])[0].tolist()
        return None if self.deps is None else self.deps[j]


def analyse_inverse(world: World) -> Inverse:
    """The structure of ψ⁻¹ for `world` (see the module docstring)."""
    psi, d = world.psi, world.d
    name = world.spec.observation
    if name == "identity":
        return Inverse(d, (np.eye(d, dtype=np.uint8), np.ones(d, dtype=np.int8)), None, "identity")
    if name == "signed_permutation":
        b = np.zeros((d, d), dtype=np.uint8)
        b[np.arange(d), psi.inv_perm] = 1  # z_j = signs[inv_perm[j]] · x_{inv_perm[j]}
        return Inverse(d, (b, psi.signs[psi.inv_perm].astype(np.int8)), None, "signed permutation")
    if name == "gf2_linear":
        b = np.asarray(psi.inverse_matrix, dtype=np.uint8)
        return Inverse(d, (b, np.ones(d, dtype=np.int8)), None, "GF(2)-linear: z = A⁻¹ x")
    if name == "reversible_circuit":
        return _circuit(psi.gates, d)
    return Inverse(d, None, None, f"{name}: no structure known, whole cube only")


def _circuit(gates: np.ndarray, d: int) -> Inverse:
    # Decoding runs the gates in reverse on x; follow each wire as an affine form
    # (mask over x, constant bit) while no Toffoli gate is met, and as a set of x bits always.
    mask = np.eye(d, dtype=np.uint8)
    const = np.zeros(d, dtype=np.uint8)
    deps = np.eye(d, dtype=bool)
    affine = True
    for t, c1, c2 in gates[::-1]:
        if c1 < 0:
            const[t] ^= 1
        elif c2 < 0:
            mask[t] ^= mask[c1]
            const[t] ^= const[c1]
            deps[t] |= deps[c1]
        else:
            affine = False
            deps[t] |= deps[c1] | deps[c2]
    if affine:
        signs = (1 - 2 * const.astype(np.int8)).astype(np.int8)
        return Inverse(d, (mask, signs), None, "reversible circuit of NOT/CNOT gates (affine)")
    support = [np.nonzero(row)[0].tolist() for row in deps]
    return Inverse(d, None, support, "reversible circuit (each z_j on the x bits its wire reaches)")


# ---------------------------------------------------------------- per latent


def latent_report(
    world: World, inv: Inverse, whole_cube_d: int = MAX_LOCAL_BITS, max_bits: int = MAX_LOCAL_BITS
) -> dict[str, Any]:
    """Per latent: degree in x, linearly decodable from x (True/False/None), LS accuracy, test.

    A latent of unknown structure is analysed on the whole cube when d ≤ whole_cube_d; one
    that depends on a known set of x bits, on their sub-cube when they are ≤ max_bits.
    """
    d = world.d
    rows: list[dict[str, Any] | None] = [None] * d
    groups: dict[tuple[int, ...], list[int]] = {}
    for j in range(d):
        sup = inv.support(j)
        if inv.affine is not None and len(sup) > 2:
            # χ_B with |B| ≥ 3 is not the sign of any degree-≤2 polynomial of x (x bits and
            # redundant bits alike), and every such feature is orthogonal to it: LS gives 0.
            rows[j] = _row(len(sup), False, 0.5, "GF(2) row weight ≥ 3 (exact)")
        elif inv.affine is not None and world.m == d:
            ok = len(sup) == 1
            rows[j] = _row(len(sup), ok, 1.0 if ok else 0.5, "GF(2) row weight (exact)")
        elif sup is None and d > min(whole_cube_d, max_bits):
            limit = min(whole_cube_d, max_bits)
            rows[j] = _row(None, None, None, f"unknown: ψ⁻¹ is enumerated only for d ≤ {limit}")
        elif sup is not None and len(sup) > max_bits:
            rows[j] = _row(
                None, None, None, f"unknown: z_{j} may depend on {len(sup)} > {max_bits} x bits"
            )
        else:
            groups.setdefault(tuple(range(d)) if sup is None else tuple(sup), []).append(j)
    for bits, latents in groups.items():
        for j, row in zip(latents, _local(world, list(bits), latents), strict=True):
            rows[j] = row
    known = [r["accuracy"] for r in rows if r["accuracy"] is not None]
    return {
        "per_latent": rows,
        "decodable": [j for j, r in enumerate(rows) if r["decodable"]],
        "unknown": [j for j, r in enumerate(rows) if r["decodable"] is None],
        "mean_accuracy": float(np.mean(known)) if len(known) == d else None,
    }


def _row(deg, decodable, accuracy, test) -> dict[str, Any]:
    return {"degree_x": deg, "decodable": decodable, "accuracy": accuracy, "test": test}


def _local(world: World, bits: list[int], latents: list[int]) -> list[dict[str, Any]]:
    """Degree and decodability of z_j (j in latents) over the sub-cube of x bits `bits`.

    The other x bits are fixed at +1: z_j does not depend on them, so its Fourier
    coefficients on subsets of `bits` are its global ones and an affine function of the
    features below that has z_j's sign here has it everywhere.
    """
    d, s = world.d, len(bits)
    x = np.ones((1 << s, d), dtype=np.int8)
    x[:, bits] = cube(s)
    z_all = world.psi.decode(x)
    z = z_all[:, latents]
    step = max(1, (1 << 22) >> s)
    degs = np.concatenate(
        [
            np.atleast_1d(degree(z[:, lo : lo + step].T.astype(np.float64), TOL))
            for lo in range(0, len(latents), step)
        ]
    )
    features = x[:, bits]
    if world.m > d:
        inside = [r for r, src in enumerate(world.redundant_sources) if set(src) <= set(bits)]
        if inside:
            extra = world.encode(z_all)[:, [d + r for r in inside]]
            features = np.concatenate([features, extra], axis=1)
    acc, exact = _least_squares_sign(features, z)
    where = "whole cube" if s == d else f"sub-cube of {s} x bits"
    out = []
    for i in range(len(latents)):
        ok = bool(exact[i])
        if ok:
            test = f"sign of a least-squares fit equals z_j on the {where} (exact)"
        else:
            test = f"least-squares sign test fails on the {where} (only sufficient: unproven)"
            lp = _separable(features, z[:, i]) if s <= MAX_LP_BITS else None
            if lp is not None:
                ok, test = lp, f"linear program on the {where} (exact)"
        out.append(_row(int(degs[i]), ok, float(acc[i]), test))
    return out


def _least_squares_sign(features: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of z: accuracy of sign(LS fit on [1, features]) and whether it is exact."""
    n = features.shape[0]
    gram = np.zeros((features.shape[1] + 1,) * 2)
    rhs = np.zeros((features.shape[1] + 1, z.shape[1]))
    for lo in range(0, n, ROWS_PER_CHUNK):
        a = _design(features[lo : lo + ROWS_PER_CHUNK])
        gram += a.T @ a
        rhs += a.T @ z[lo : lo + ROWS_PER_CHUNK].astype(np.float64)
    coef = np.linalg.pinv(gram) @ rhs
    score = np.zeros(z.shape[1])
    exact = np.ones(z.shape[1], dtype=bool)
    for lo in range(0, n, ROWS_PER_CHUNK):
        margin = (_design(features[lo : lo + ROWS_PER_CHUNK]) @ coef) * z[lo : lo + ROWS_PER_CHUNK]
        score += np.where(margin > TOL, 1.0, np.where(margin < -TOL, 0.0, 0.5)).sum(axis=0)
        exact &= np.all(margin > TOL, axis=0)
    return score / n, exact


def _design(features: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ones((features.shape[0], 1)), features.astype(np.float64)], axis=1)


def _separable(features: np.ndarray, y: np.ndarray) -> bool | None:
    """Is there an affine w with y·(w·[1, f]) ≥ 1 on every row? (None: the solver failed)."""
    from scipy.optimize import linprog

    a = _design(features) * y[:, None].astype(np.float64)
    res = linprog(
        np.zeros(a.shape[1]),
        A_ub=-a,
        b_ub=-np.ones(a.shape[0]),
        bounds=[(None, None)] * a.shape[1],
        method="highs",
    )
    if res.status == 0:
        return True
    if res.status == 2:
        return False
    return None
