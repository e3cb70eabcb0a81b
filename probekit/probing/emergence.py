"""Emergence over training: probe every saved step of a run, and say when each latent appears.

`probe_steps(RUN, "all")` (`probekit probe RUN --steps all`) probes each saved step
(`probekit.training.snapshots.saved_steps`: weights-only snapshots, accelerate checkpoints,
`final/`) with the ordinary pipeline into `OUT/step-N/`, then writes `OUT/emergence.json`
(the curves and the emergence steps) and `OUT/emergence.png`.

Definitions (docs/probing.md, "Emergence over training"), per scope, site and latent j:

- chance_j: the expected majority-class rate of z_j on the probe inputs (0.5 when they are
  the whole cube, max(p_j, 1 - p_j) for a latent with P(z_j = +1) = p_j otherwise);
- z_j is *present* at a saved step s when the lower end of the 95 % Wilson interval of its
  held-out probe accuracy exceeds chance_j + margin (margin 0.1);
- its *emergence step* is the first saved step from which it is present at every later
  saved step, min{s : present at every s' >= s}; None when it is absent at the last step.
  The step is only known to the grid: the latent emerged after the saved step before it;
- the interval: a percentile bootstrap over the test inputs (the same resample at every
  step, since every step is scored on the same inputs), the emergence step recomputed on
  each resample; `p_emerged` is the fraction of resamples in which it emerged at all, and
  `hi` is None when more than (1 - confidence) / 2 of them never emerged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from probekit.probing.intervals import CONFIDENCE, wilson_interval
from probekit.training.run_dir import RunDir
from probekit.training.snapshots import saved_steps
from synthetic.config import load_yaml, write_atomic

MARGIN = 0.1
N_RESAMPLES = 1000
_SITE_KEYS = ("layer", "acc_z", "acc_z_ci", "acc_z_per_latent", "acc_z_per_target_ci")


def parse_steps(value: str | Sequence[int], available: Sequence[int]) -> list[int]:
    """`all` or a comma list of steps (`0,500,2000`) -> the chosen saved steps, ascending."""
    available = sorted(available)
    if not available:
        raise ValueError(
            "The run has no saved steps (no snapshots/, checkpoints/ or final/). Train it with "
            "train.save_model_every=N to keep a snapshot every N steps."
        )
    if isinstance(value, str) and value.strip() == "all":
        return available
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        wanted = [int(v) for v in parts if str(v).strip()]
    except ValueError:
        raise ValueError(
            f"--steps {value!r}: give `all` or a comma list of steps, e.g. 0,500,2000."
        ) from None
    missing = [s for s in wanted if s not in available]
    if missing or not wanted:
        raise ValueError(
            f"--steps asks for {missing or value!r}, which the run has not saved. Saved steps: "
            f"{', '.join(map(str, available))} (or --steps all)."
        )
    return sorted(set(wanted))


def _lasting_first(present: np.ndarray) -> np.ndarray:
    """present (..., S, k) bool -> the first index from which every later entry is True (S: never)."""
    lasting = np.flip(np.cumprod(np.flip(present, axis=-2), axis=-2), axis=-2).astype(bool)
    S = present.shape[-2]
    return np.where(lasting.any(axis=-2), np.argmax(lasting, axis=-2), S)


def emergence_steps(
    correct: np.ndarray,
    steps: Sequence[int],
    threshold: np.ndarray | float,
    *,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """Per target: the emergence step, its bootstrap interval and the fraction of resamples it emerged.

    `correct` (S, n, k) bool: whether target j was right on test input i at the s-th step;
    `threshold` (k,) or a number: chance + margin. The module docstring defines the step.
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 3 or correct.shape[0] != len(steps):
        raise ValueError(f"correct must be (steps={len(steps)}, n, k), got {correct.shape}.")
    S, n, k = correct.shape
    threshold = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (k,))
    steps_arr = np.asarray(list(steps) + [-1])  # index S: never emerged

    def first(counts: np.ndarray) -> np.ndarray:  # counts (..., S, k) -> index (..., k)
        lo, _ = wilson_interval(counts, n, confidence)
        return _lasting_first(lo > threshold)

    point = first(correct.sum(axis=1))
    # Multinomial weights resample the n inputs; the same weights at every step.
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)
    counts = np.einsum("bn,snk->bsk", weights, correct.astype(np.float64))
    boot = first(np.rint(counts))  # (B, k)
    tail = (1.0 - confidence) / 2.0
    out = []
    for j in range(k):
        lo_i = int(np.quantile(boot[:, j], tail, method="lower"))
        hi_i = int(np.quantile(boot[:, j], 1.0 - tail, method="higher"))
        out.append(
            {
                "step": None if point[j] == S else int(steps_arr[point[j]]),
                "lo": None if lo_i == S else int(steps_arr[lo_i]),
                "hi": None if hi_i == S else int(steps_arr[hi_i]),
                "p_emerged": float(np.mean(boot[:, j] < S)),
            }
        )
    return out


def chance_levels(experiment: dict, max_cube_d: int) -> np.ndarray:
    """(d,) the expected majority-class rate of each latent on the probe inputs of a run's config."""
    world = experiment["world"]
    d, bias = int(world["d"]), world.get("latent_bias")
    if d <= max_cube_d or bias is None:  # the whole cube, or uniform latents: balanced
        return np.full(d, 0.5)
    p = np.asarray(bias, dtype=np.float64)
    return np.maximum(p, 1.0 - p)


def probe_steps(
    run: str | Path,
    steps: str | Sequence[int] = "all",
    *,
    out: str | Path | None = None,
    margin: float = MARGIN,
    n_resamples: int = N_RESAMPLES,
    progress: bool = True,
    **probe_kwargs,
) -> dict:
    """Probe the chosen saved steps of a run; write per-step results, emergence.json and the plot."""
    from probekit.config import ProbeConfig
    from probekit.probing.emergence_plot import plot_emergence
    from probekit.probing.pipeline import probe_checkpoint

    run_dir = RunDir(run)
    if not run_dir.config.is_file():
        raise ValueError(
            f"--steps needs a run directory (holding config.yaml and its saved steps); {run} "
            "is not one."
        )
    paths = saved_steps(run_dir.path)
    chosen = parse_steps(steps, list(paths))
    out = Path(out) if out is not None else run_dir.path / "emergence"
    experiment = load_yaml(run_dir.config) or {}
    max_cube_d = (experiment.get("probe") or {}).get("max_cube_d", ProbeConfig.max_cube_d)
    reports = []
    for step in tqdm(chosen, desc="steps", disable=not progress):
        report = probe_checkpoint(
            paths[step], out=out / f"step-{step:08d}", progress=False, **probe_kwargs
        )
        if "z" not in report.summary.get("families", {}):
            raise ValueError(
                "--steps draws when the latents z emerge: it needs a run of a synthetic world "
                "probed on its own inputs (not --text-dataset)."
            )
        reports.append(report)
    probe = (
        "linear" if "linear" in reports[-1].summary["probes"] else reports[-1].summary["probes"][0]
    )
    # A train region that fixes latents leaves them out of the probe (docs/probing.md).
    latents = (reports[-1].summary.get("inputs") or {}).get("probed_latents")
    chance = chance_levels(experiment, max_cube_d)
    latents = list(range(len(chance))) if latents is None else list(latents)
    chance = chance[latents]
    result = {
        "run": str(run_dir.path),
        "probe": probe,
        "family": "z",
        "margin": margin,
        "confidence": CONFIDENCE,
        "n_resamples": n_resamples,
        "latents": [f"z{j}" for j in latents],
        "chance": chance.tolist(),
        "steps": chosen,
        "paths": [str(paths[s]) for s in chosen],
        "headline_scope": reports[-1].summary["scope"],
        "task_acc": _task_curve(run_dir),
        "scopes": {},
    }
    rng = np.random.default_rng([reports[-1].summary["seed"], 13])
    for scope in ("unseen", "seen"):
        entry = _scope_curve(
            reports, scope, probe, chosen, chance + margin, result["latents"], rng, n_resamples
        )
        if entry is not None:
            result["scopes"][scope] = entry
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "emergence.json", json.dumps(result, indent=2))
    plot_emergence(result, out / "emergence.png")
    result["out"] = str(out)
    return result


def _scope_summary(summary: dict, scope: str) -> dict | None:
    if summary.get("scope") == scope:
        return summary
    return summary.get("seen") if scope == "seen" else None


def _scope_curve(reports, scope, probe, steps, threshold, names, rng, n_resamples) -> dict | None:
    """Per site, the curve of acc_z over steps and the emergence step of every latent."""
    summaries = [_scope_summary(r.summary, scope) for r in reports]
    if any(s is None for s in summaries):
        return None
    last = summaries[-1]
    sites = list(last["models"]["trained"][probe])
    entry = {
        "n_test": None,
        "site": last["best_layer"][probe]["site"],  # chosen on validation at the last step
        "sites": {},
    }
    for site in sites:
        per = [s["models"]["trained"][probe][site] for s in summaries]
        curve = {key: [p.get(key) for p in per] for key in _SITE_KEYS}
        curve["layer"] = per[-1]["layer"]
        curve["latents_recovered"] = [p.get("latents_recovered") for p in per]
        correct = [r.correct[("trained", site, probe, "z", f"test_{scope}")] for r in reports]
        if len({c.shape for c in correct}) != 1:
            raise ValueError(
                f"The saved steps were probed on different test inputs ({site}, {scope}); probe "
                "them with the same --seed and inputs."
            )
        entry["n_test"] = int(correct[0].shape[0])
        found = emergence_steps(
            np.stack(correct), steps, threshold, rng=rng, n_resamples=n_resamples
        )
        curve["emergence"] = [{"latent": n, **e} for n, e in zip(names, found, strict=True)]
        entry["sites"][site] = curve
    return entry


def _task_curve(run: RunDir) -> dict:
    """Task accuracy against step from the run's metrics.jsonl (training and held-out inputs)."""
    rows = run.read_metrics()
    return {
        "steps": [r["step"] for r in rows],
        "seen": [r.get("eval_acc") for r in rows],
        "unseen": [r.get("eval_acc_heldout") for r in rows],
    }


def format_emergence(result: dict) -> str:
    """Per scope: each site's z accuracy at the first and last step, and when each latent emerged."""
    lines = [
        f"probed {len(result['steps'])} saved steps of {result['run']} "
        f"({result['steps'][0]} to {result['steps'][-1]}); a latent emerges when its "
        f"accuracy's 95 % lower bound stays above chance + {result['margin']}"
    ]
    for scope, entry in result["scopes"].items():
        what = "inputs the model never trained on" if scope == "unseen" else "training inputs"
        lines += ["", f"{scope} ({what}, {entry['n_test']} test inputs):"]
        lines.append(f"  {'site':<10} {'z first':>8} {'z last':>8}  latents emerged")
        for site, curve in entry["sites"].items():
            acc, found = curve["acc_z"], curve["emergence"]
            n = sum(e["step"] is not None for e in found)
            mark = "*" if site == entry["site"] else " "
            lines.append(f"{mark} {site:<10} {acc[0]:>8.3f} {acc[-1]:>8.3f}  {n} of {len(found)}")
        lines.append(f"  at {entry['site']} (chosen on validation at the last step):")
        for e in entry["sites"][entry["site"]]["emergence"]:
            if e["step"] is None:
                when = f"not within the run (emerged in {e['p_emerged']:.0%} of resamples)"
            else:
                hi = "after the run" if e["hi"] is None else str(e["hi"])
                when = f"step {e['step']} [{e['lo']}, {hi}]"
            lines.append(f"    {e['latent']}: {when}")
    return "\n".join(lines)
