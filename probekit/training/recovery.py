"""A cheap recovery measurement, run at every evaluation during training.

It reads the representation the probing pipeline standardises on (the last hidden
state at the readout position: SEP for decoders, CLS for encoders, the last hidden
layer for the MLP), fits one batched linear probe per latent on a seeded split by
distinct inputs, and reports held-out probe accuracy and the identification error of
docs/theory.md §6 — enough to draw "identification error vs iterations" from one run's log.
"""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def final_representation(
    model, inputs: dict[str, torch.Tensor], readout: torch.Tensor | None, batch_size: int = 1024
) -> np.ndarray:
    """Last hidden state at the readout position for every row of `inputs`, as float32."""
    n = len(next(iter(inputs.values())))
    chunks = []
    for start in range(0, n, batch_size):
        part = {k: v[start : start + batch_size] for k, v in inputs.items()}
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
) -> dict[str, float]:
    """Held-out linear-probe accuracy of z (and of a random recoding T(z)) and identification error."""
    from probekit.probing.controls import random_recoding, split_by_distinct_inputs
    from probekit.probing.metrics import identification_error, predicted_latents
    from probekit.probing.probes import fit_linear_probes

    rng = np.random.default_rng(seed)
    train_idx, test_idx = split_by_distinct_inputs(x, test_fraction, rng)
    recoded = random_recoding(z, rng)
    targets = np.concatenate([z, recoded], axis=1).astype(np.float32)
    result = fit_linear_probes(
        rep[None], targets, train_idx, test_idx, Cs=Cs, cv=3, seed=seed, num_threads=1
    )
    d = z.shape[1]
    scores = np.asarray(result.scores[0])
    predicted = predicted_latents(result.decision_test[0][:, :d])
    ident = identification_error(predicted, z[test_idx].astype(np.float64))
    return {
        "probe_acc_z": float(scores[:d].mean()),
        "probe_acc_recoding": float(scores[d:].mean()),
        "identification_error": float(ident["identification_error"]),
        "mcc": float(ident["mcc"]),
    }
