"""The emergence figure of `probekit probe RUN --steps ...` (PNG, matplotlib Agg), written atomically.

One column per scope (inputs the model never trained on first, when the run held any out;
then its training inputs, held out from the probe). Top: the probe's held-out accuracy on
z (mean over latents, 95 % bootstrap band over test inputs) against training step, one
line per layer, beside the model's task accuracy on the same kind of inputs (from
metrics.jsonl) and the presence threshold chance + margin. Bottom: each latent's accuracy
at the layer chosen on validation at the last step, as a heat map over steps, with its
emergence step and bootstrap interval (probekit.probing.emergence defines both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from probekit.probing.plots import _save, plt

_SCOPE_TITLES = {
    "unseen": "inputs the model never trained on",
    "seen": "the model's training inputs (held out from the probe)",
}


def _edges(steps: list[int]) -> np.ndarray:
    """Cell edges around each step for a heat map over irregular steps."""
    s = np.asarray(steps, dtype=np.float64)
    if len(s) == 1:
        return np.array([s[0] - 0.5, s[0] + 0.5])
    mid = (s[1:] + s[:-1]) / 2
    return np.concatenate([[s[0] - (mid[0] - s[0])], mid, [s[-1] + (s[-1] - mid[-1])]])


def _curves(ax, result: dict, scope: str, entry: dict) -> None:
    steps = result["steps"]
    sites = sorted(entry["sites"].items(), key=lambda kv: kv[1]["layer"])
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(sites), 1)))
    for color, (site, curve) in zip(colors, sites, strict=True):
        acc = np.asarray(curve["acc_z"], dtype=np.float64)
        width = 2.2 if site == entry["site"] else 1.2
        ax.plot(steps, acc, marker="o", ms=3, lw=width, color=color, label=site)
        ci = curve.get("acc_z_ci")
        if ci and all(c is not None for c in ci):
            lo, hi = np.asarray(ci, dtype=np.float64).T
            ax.fill_between(steps, lo, hi, color=color, alpha=0.15, lw=0)
    task = result.get("task_acc") or {}
    if any(v is not None for v in task.get(scope, [])):
        pts = [(s, v) for s, v in zip(task["steps"], task[scope], strict=True) if v is not None]
        ax.plot(*zip(*pts, strict=True), "--", color="0.4", lw=1.2, label="task accuracy")
    threshold = float(np.mean(result["chance"])) + result["margin"]
    ax.axhline(threshold, color="C3", ls=":", lw=1, label=f"chance + {result['margin']}")
    ax.set_ylim(0.35, 1.02)
    ax.set_ylabel("held-out accuracy")
    ax.set_title(f"probe of z, mean over latents:\n{_SCOPE_TITLES.get(scope, scope)}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)


def _latents(ax, fig, result: dict, entry: dict) -> None:
    steps = result["steps"]
    curve = entry["sites"][entry["site"]]
    per = np.asarray(curve["acc_z_per_latent"], dtype=np.float64).T  # (d, steps)
    d = per.shape[0]
    mesh = ax.pcolormesh(
        _edges(steps), np.arange(d + 1) - 0.5, per, vmin=0.5, vmax=1.0, cmap="Greys", shading="flat"
    )
    for j, e in enumerate(curve["emergence"]):
        if e["step"] is None:
            continue
        lo = e["lo"] if e["lo"] is not None else e["step"]
        hi = e["hi"] if e["hi"] is not None else steps[-1]
        ax.errorbar(
            e["step"], j, xerr=[[e["step"] - lo], [hi - e["step"]]], fmt="o", color="C1",
            ms=5, capsize=3, lw=1.5,
        )  # fmt: skip
        if e["hi"] is None:  # the interval runs past the last saved step
            ax.plot(hi, j, ">", color="C1", ms=6)
    ax.set_yticks(range(d))
    ax.set_yticklabels([e["latent"] for e in curve["emergence"]], fontsize=7)
    ax.set_xlabel("training step")
    n = sum(e["step"] is not None for e in curve["emergence"])
    ax.set_title(
        f"each latent at {entry['site']}: accuracy (grey),\nemergence step with 95 % interval "
        f"(orange; {n} of {d} emerged)",
        fontsize=9,
    )
    fig.colorbar(mesh, ax=ax, fraction=0.046, label="held-out accuracy")


def plot_emergence(result: dict, path: str | Path) -> Path:
    """The figure described in the module docstring, from an emergence.json `result`."""
    scopes = list(result["scopes"])
    if result.get("headline_scope") in scopes:  # the headline scope in the first column
        scopes.remove(result["headline_scope"])
        scopes.insert(0, result["headline_scope"])
    fig, axes = plt.subplots(
        2, len(scopes), figsize=(5.5 * len(scopes), 7.5), squeeze=False, sharex="col"
    )
    for col, scope in enumerate(scopes):
        entry = result["scopes"][scope]
        _curves(axes[0, col], result, scope, entry)
        _latents(axes[1, col], fig, result, entry)
    run = Path(result["run"]).name
    fig.suptitle(f"{run}: emergence of z over training ({result['probe']} probe)", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))
