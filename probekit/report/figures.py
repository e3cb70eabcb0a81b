"""The report's drawn figures: training curves and per-layer probe curves as PNG bytes.

One concept: drawing a run's numbers with matplotlib (the Agg backend, so no display
is ever needed) into PNG bytes. `training_figure` plots task accuracy, probe accuracy
of z and T(z) and the identification error against the step from `metrics.jsonl`;
`layer_figure` plots held-out linear-probe accuracy per layer with its controls from
`probe/results.jsonl`. `run_figures` and `sweep_figures` gather a run's or a sweep's
figures (the PNGs `probekit probe` and `probekit sweep` wrote, else drawn here), each with a
caption saying what it shows; `probekit.report.document` places them in the sections.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from probekit.report.render import Figure  # noqa: E402
from probekit.training.run_dir import read_jsonl  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def training_figure(metrics: list[dict], title: str = "") -> bytes | None:
    """Task accuracy, probe accuracy of z and T(z), and identification error vs step."""
    rows = [r for r in metrics if "step" in r]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for key, label, style in (
        ("eval_acc", "task accuracy", "-"),
        ("probe_acc_z", "probe accuracy: z", "-"),
        ("probe_acc_alt_basis", "probe accuracy: alternative basis T(z)", ":"),
    ):
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            left.plot(
                steps, [math.nan if y is None else y for y in ys], style, marker=".", label=label
            )
    left.set(xlabel="step", ylabel="accuracy", ylim=(0.4, 1.02), title=title)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    ys = [r.get("identification_error") for r in rows]
    right.plot(steps, [math.nan if y is None else y for y in ys], "-", marker=".", color="C3")
    # The error: 0 is z up to sign and order, 2 no correlation, above 2 anti-correlated on
    # the held-out rows (matching is done on others).
    right.set(xlabel="step", ylabel="identification error", ylim=(0, None))
    right.grid(alpha=0.3)
    return _png(fig)


def layer_figure(rows: list[dict], title: str = "") -> bytes | None:
    """Per-layer linear-probe accuracy on z with controls, drawn from probe/results.jsonl."""
    acc = [r for r in rows if r.get("metric") == "accuracy" and r.get("probe") == "linear"]
    # The reported split: inputs the model never saw when there are any (older files: no split).
    splits = {r.get("split") for r in acc}
    reported = "test_unseen" if "test_unseen" in splits else "test_seen"
    acc = [r for r in acc if r.get("split", reported) == reported]

    def series(model: str, family: str) -> tuple[list[int], list[float]]:
        by_layer: dict[int, list[float]] = {}
        for r in acc:
            if r["model"] == model and r["target_family"] == family:
                by_layer.setdefault(r["layer"], []).append(r["value"])
        layers = sorted(by_layer)
        return layers, [sum(by_layer[k]) / len(by_layer[k]) for k in layers]

    trained = series("trained", "z")
    if not trained[0]:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for model, family, style, label in (
        ("trained", "z", "-", "trained: z"),
        ("random_init", "z", "--", "random init: z"),
        ("trained", "alt_basis", ":", "trained: alternative basis T(z)"),
        ("trained", "control_task", "-.", "trained: control task"),
    ):
        xs, ys = series(model, family)
        if xs:
            ax.plot(xs, ys, style, marker="o", label=label)
    raw = [r["value"] for r in acc if r["model"] == "input" and r["target_family"] == "z"]
    if raw:
        ax.axhline(sum(raw) / len(raw), color="C4", linestyle=(0, (1, 3)), label="raw input: z")
    ax.set_xticks(trained[0])
    ax.set(xlabel="layer (0 = embedding / input)", ylabel="held-out probe accuracy", title=title)
    ax.set_ylim(min(0.4, ax.get_ylim()[0]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


# --------------------------------------------------------------------------- captions

CONTROLS = (
    "an untrained copy at the same layer, the alternative basis T(z), a control task, the raw input"
)
PROBE_CAPTIONS = {  # file-name pattern of probe/*.png -> caption ({probe}: linear or mlp)
    r"accuracy_(?P<probe>\w+)": "{probe} probe accuracy on the latents per layer, on inputs "
    "held out from the probe (and from the model when it has any), with controls: "
    + CONTROLS
    + "; and the MCC of the layer's units with z",
    r"correlation_(?P<probe>\w+)": "|correlation| of the units of the layer the {probe} probe "
    "chose with each latent z_j, after matching units to latents one to one (Hungarian); "
    "a bright diagonal is a layer whose units each carry one latent",
}
SWEEP_CAPTIONS = {
    "appendix_d": "identification error of the representation layer vs training step, one "
    "panel per task degree k and one curve per number of tasks n (mean over seeds, 95 % "
    "band); circles: the paper's Appendix D final values, on its own scale (compare trends)",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "figure"


def _caption(stem: str, captions: dict[str, str]) -> str:
    for pattern, caption in captions.items():
        found = re.fullmatch(pattern, stem)
        if found:
            return caption.format(**found.groupdict())
    return stem.replace("_", " ")


def run_figures(name: str, probe_dir: Path, metrics: list[dict]) -> list[Figure]:
    """A run's probe plots (as written by `probekit probe`, else drawn here) and training curves."""
    figs = []
    pngs = sorted(probe_dir.glob("*.png")) if probe_dir.is_dir() else []
    for png in pngs:
        caption = f"{name}: {_caption(png.stem, PROBE_CAPTIONS)}."
        figs.append(Figure(_slug(f"{name}-{png.stem}"), caption, png.read_bytes()))
    if not pngs:
        drawn = layer_figure(read_jsonl(probe_dir / "results.jsonl"), name)
        if drawn is not None:
            caption = f"{name}: {_caption('accuracy_linear', PROBE_CAPTIONS)}."
            figs.append(Figure(_slug(f"{name}-layers"), caption, drawn))
    curves = training_figure(metrics, name)
    if curves is not None:
        caption = (
            f"{name}: during training, task accuracy and the in-training probe's accuracy on z "
            "and T(z) (left), and the identification error of the representation's units "
            "(right; 0 = z up to sign and order, 2 = no correlation)."
        )
        figs.append(Figure(_slug(f"{name}-training"), caption, curves))
    return figs


def sweep_figures(sweep_dir: Path) -> list[Figure]:
    """The figures a sweep wrote (SWEEP/*.png), with captions."""
    return [
        Figure(
            _slug(f"sweep-{png.stem}"),
            f"Sweep: {_caption(png.stem, SWEEP_CAPTIONS)}.",
            png.read_bytes(),
        )
        for png in sorted(sweep_dir.glob("*.png"))
    ]
