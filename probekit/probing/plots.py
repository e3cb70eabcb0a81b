"""PNG plots of a probe sweep (matplotlib, Agg backend), written atomically.

- `plot_layer_accuracy`: probe accuracy per layer on the latents for the trained model,
  with every control on the same axes (random init, T(z), control tasks, raw input).
- `plot_label_accuracy`: for a text dataset, one line per label for the trained model, the
  untrained copy dashed in the same colour, the bag of tokens dotted;
- `plot_correlation_matrix`: |correlation| of a layer's units with the latents z_j, after
  matching units to latents one to one (Hungarian); a recovered world shows a bright
  diagonal (a permutation pattern once the matching is undone).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never needs a display; safe in tests and on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _is_block_site(site: str) -> bool:
    """Sites on the layer axis (sub-layer sites share their block's number: not drawn)."""
    return site in ("embed", "repr", "input") or re.fullmatch(r"layer\.\d+", site) is not None


def _series(per_site: dict, key: str, label: str | None = None) -> tuple[list[int], list[float]]:
    """(layers, values) of `key` (of `key`[label] for per-label dicts) over block sites."""
    pts = sorted(
        (v["layer"], v[key] if label is None else v[key].get(label))
        for site, v in per_site.items()
        if _is_block_site(site) and v.get(key) is not None
    )
    pts = [p for p in pts if p[1] is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_layer_accuracy(
    summary: dict, path: str | Path, *, probe: str = "linear", family: str = "z"
) -> Path:
    """Accuracy per layer on `family` for the trained model and each control, one axes."""
    models = summary["models"]
    key = f"acc_{family}"
    fig, ax = plt.subplots(figsize=(6, 4))
    trained = models.get("trained", {}).get(probe, {})
    lines = [
        ("trained", trained, key, "C0", "-", f"trained: {family}"),
        (
            "random_init",
            models.get("random_init", {}).get(probe, {}),
            key,
            "C1",
            "--",
            f"random init: {family}",
        ),
        ("trained", trained, "acc_alt_basis", "C2", ":", "trained: alternative basis T(z)"),
        ("trained", trained, "acc_control_task", "C3", "-.", "trained: control task"),
        ("trained", trained, "mcc_units", "C5", "-", "trained: MCC of units (§6)"),
    ]
    for _, per_site, k, color, style, label in lines:
        xs, ys = _series(per_site, k)
        if xs:
            ax.plot(xs, ys, style, marker="o", color=color, label=label)
    raw = models.get("input", {}).get(probe, {}).get("input", {}).get(key)
    if raw is not None:
        ax.axhline(raw, color="C4", linestyle=(0, (1, 3)), label=f"raw input: {family}")
    layers = sorted(v["layer"] for site, v in trained.items() if _is_block_site(site))
    ax.set_xticks(layers)
    ax.set_xticklabels(["embed" if i == 0 else str(i) for i in layers])
    ax.set_xlabel("layer (state after block i)")
    ax.set_ylabel("held-out accuracy / MCC" if family != "user" else "held-out probe score")
    position = summary.get("position")
    # An MLP has no token positions: its layers are read whole.
    ax.set_title(
        f"{probe} probe" + (f", position {position}" if position not in (None, "none") else "")
    )
    ax.set_ylim(min(0.4, ax.get_ylim()[0]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, Path(path))


def plot_label_accuracy(summary: dict, path: str | Path, *, probe: str = "linear") -> Path:
    """Held-out accuracy of every label per layer: trained (solid), untrained copy (dashed),
    bag of tokens (dotted horizontal), one colour per label."""
    family = summary.get("primary_family", "user")
    key = f"acc_{family}_per_label"
    models = summary["models"]
    trained = models.get("trained", {}).get(probe, {})
    untrained = models.get("random_init", {}).get(probe, {})
    raw = models.get("input", {}).get(probe, {}).get("input", {}).get(key) or {}
    labels = list(dict.fromkeys(lab for v in trained.values() for lab in v.get(key) or {}))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, label in enumerate(labels):
        color = f"C{i % 10}"
        xs, ys = _series(trained, key, label)
        ax.plot(xs, ys, "-", marker="o", color=color, label=f"{label}: trained")
        xs, ys = _series(untrained, key, label)
        if xs:
            ax.plot(xs, ys, "--", color=color, alpha=0.7, label=f"{label}: untrained copy")
        if raw.get(label) is not None:
            ax.axhline(raw[label], color=color, linestyle=":", alpha=0.7,
                       label=f"{label}: bag of tokens")  # fmt: skip
    layers = sorted(v["layer"] for site, v in trained.items() if _is_block_site(site))
    ax.set_xticks(layers)
    ax.set_xticklabels(["embed" if i == 0 else str(i) for i in layers])
    ax.set_xlabel("layer (state after block i)")
    ax.set_ylabel("held-out accuracy per label")
    split = summary.get("split_by") or "distinct input"
    ax.set_title(f"{probe} probe per label, split by {split}", fontsize=9)
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return _save(fig, Path(path))


def correlation_title(site: str = "") -> str:
    """What the heat map shows, as its title."""
    layer = f"the units of {site}" if site else "a layer's units"
    return f"|correlation| of {layer} with z,\nafter matching units to latents one to one"


def plot_correlation_matrix(
    matrix: np.ndarray, path: str | Path, *, site: str = "", title: str = ""
) -> Path:
    """Heat map of a matched |correlation| matrix (rows: the units matched to z_1..z_d, columns: latents)."""
    matrix = np.abs(np.asarray(matrix, dtype=float))
    matrix = matrix[: matrix.shape[1]]  # the matched units; the unmatched ones follow them
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xlabel("latent z_j")
    ax.set_ylabel("unit matched to z_j (one-to-one)")
    ax.set_title(title or correlation_title(site), fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="|correlation|")
    return _save(fig, Path(path))
