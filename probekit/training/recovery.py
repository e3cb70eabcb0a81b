"""A cheap recovery measurement, run at every evaluation during training.

It reads one representation: the representation layer (site `repr`, `model.representation_dim`
units) when the model has one, else the last hidden state at the readout position (SEP for
decoders, CLS for encoders, the last hidden layer for the MLP). It fits one batched linear probe
per latent on a seeded split by distinct inputs and reports held-out probe accuracy of z and of
an alternative basis T(z) (a sparse GF(2) recoding, `probekit.probing.controls.alt_basis`), and
the identification error / MCC of docs/theory.md §6 of the representation's own units, matched
to the latents on the training rows and scored on the held-out rows — enough to draw
"identification error vs iterations" from one run's log. On a wide layer the d best-matching
units are scored (docs/probing.md); a representation layer of d units is the theory's Φ.
"""

from __future__ import annotations

import numpy as np
import torch

from probekit.models.factory import has_representation_layer
from probekit.models.isolation import forward_inputs
from synthetic.sequences import layout_for, sequence_positions


def probe_examples(world, tasks, data, seed: int) -> dict[str, np.ndarray]:
    """The recovery probe's inputs: the whole cube up to d = 12, else 2048 sampled latents.

    With a holdout rule, `heldout` marks the inputs the model never trains on.
    """
    from synthetic.dataset import encode_examples

    rng = np.random.default_rng([seed, 4])
    z = world.cube() if world.d <= 12 else world.sample(2048, rng)[0]
    examples = encode_examples(world, tasks, z, data, rng)
    if data.holds_out:
        examples["heldout"] = data.heldout_mask(z)
    return examples


def readout_positions(world, tasks, data, n: int) -> torch.Tensor | None:
    """Where the recovery probe reads: SEP for decoders, CLS for encoders, None for MLPs."""
    if data.format == "array":
        return None
    positions = sequence_positions(
        data.format, layout_for(world, tasks, data), data.queries_per_sequence
    )
    role = "cls" if "cls" in positions else "sep"
    return torch.full((n,), positions[role], dtype=torch.long)


@torch.no_grad()
def final_representation(
    model, inputs: dict[str, torch.Tensor], readout: torch.Tensor | None, batch_size: int = 1024
) -> np.ndarray:
    """The representation the recovery probe reads, for every row of `inputs`, as float32.

    The representation layer's output (N, D) when the model has one (a transformer computes it
    at its own readout position, so `readout` is not used), else the last hidden state at the
    readout position (N, H).
    """
    units = has_representation_layer(model)
    n = len(next(iter(inputs.values())))
    chunks = []
    for start in range(0, n, batch_size):
        part = forward_inputs(model, {k: v[start : start + batch_size] for k, v in inputs.items()})
        if units:
            chunks.append(model(**part).representation.float().cpu().numpy())
            continue
        out = model(**part, output_hidden_states=True)
        last = out.hidden_states[-1]
        if last.dim() == 3:  # (B, T, H): a sequence model, pick the readout token
            pos = readout[start : start + batch_size].to(last.device)
            last = last[torch.arange(len(pos), device=last.device), pos]
        chunks.append(last.float().cpu().numpy())
    return np.concatenate(chunks)


def measure_recovery(
    rep: np.ndarray,
    z: np.ndarray,
    x: np.ndarray,
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    Cs=(0.1, 1.0, 10.0),
    unseen: np.ndarray | None = None,
) -> dict[str, float]:
    """Held-out linear-probe accuracy of z and of T(z), and the §6 error / MCC of rep's units.

    With `unseen` (N,) bool, the rows the model never trained on, the probe fits on the
    other rows and is scored on those; otherwise a split by distinct inputs.
    """
    from probekit.probing.controls import alt_basis, alt_basis_recoding, split_by_distinct_inputs
    from probekit.probing.metrics import identification_error
    from probekit.probing.probes import fit_linear_probes

    rng = np.random.default_rng(seed)

    def varied(idx):  # every latent takes both values on these rows
        return len(idx) > 1 and bool(np.all(np.ptp(z[idx], axis=0) > 0))

    train_idx, test_idx = split_by_distinct_inputs(x, test_fraction, rng)
    on_unseen = (
        unseen is not None and varied(np.flatnonzero(unseen)) and varied(np.flatnonzero(~unseen))
    )
    if on_unseen:
        train_idx, test_idx = np.flatnonzero(~unseen), np.flatnonzero(unseen)
    d = z.shape[1]
    # A basis of pair products needs d ≥ 3 (an invertible recoding with no single-bit row).
    recoded = alt_basis(z, alt_basis_recoding(d, rng)) if d >= 3 else z[:, :0]
    targets = np.concatenate([z, recoded], axis=1).astype(np.float32)
    result = fit_linear_probes(
        rep[None], targets, train_idx, test_idx, Cs=Cs, cv=3, seed=seed, num_threads=1
    )
    scores = np.asarray(result.scores[0])
    z = z.astype(np.float64)
    rep = np.asarray(rep, dtype=np.float64)
    if varied(test_idx) and varied(train_idx):
        ident = identification_error(
            rep[test_idx], z[test_idx], match_on=(rep[train_idx], z[train_idx])
        )
    else:  # a world too small for both sides to see every latent vary
        ident = {"identification_error": float("nan"), "mcc": float("nan")}
    out = {
        "probe_acc_z": float(scores[:d].mean()),
        "probe_acc_alt_basis": float(scores[d:].mean()) if d >= 3 else float("nan"),
        "identification_error": float(ident["identification_error"]),
        "mcc": float(ident["mcc"]),
    }
    seen = np.flatnonzero(~unseen) if on_unseen else None
    if seen is not None and len(np.unique(x[seen], axis=0)) > 2:
        # The same on the model's training inputs, held out from the probe only: behind a
        # random bijection the unseen inputs are at chance by construction, and only
        # these say what the model represents of its data.
        fit, test = (seen[i] for i in split_by_distinct_inputs(x[seen], test_fraction, rng))
        if varied(fit) and varied(test):
            res = fit_linear_probes(
                rep[None], targets[:, :d], fit, test, Cs=Cs, cv=3, seed=seed, num_threads=1
            )
            ident = identification_error(rep[test], z[test], match_on=(rep[fit], z[fit]))
            out["probe_acc_z_seen"] = float(np.asarray(res.scores[0]).mean())
            out["identification_error_seen"] = float(ident["identification_error"])
            out["mcc_seen"] = float(ident["mcc"])
    return out
