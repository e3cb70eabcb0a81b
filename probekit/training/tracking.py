"""Experiment tracking: `train.log_with` names any tracker accelerate supports.

RUN/metrics.jsonl is always written; trackers receive the same rows through
`accelerator.log`. `train.log_with` unset (the default) is local and needs no account:
TensorBoard under RUN/tracking/ when the package is installed, nothing more otherwise.
`none` sends nothing beyond metrics.jsonl; `tensorboard`, `wandb`, `trackio`, `mlflow`,
`aim`, `comet_ml`, `clearml`, `dvclive`, `swanlab` (or several, or `all` installed ones)
are accelerate's trackers, configured by their own environment variables (WANDB_MODE,
MLFLOW_TRACKING_URI, ...).

Every run hands its trackers the whole config as flat hyperparameters, and the tags its
caller gives: a sweep tags each run with its sweep, its point and the point's parameters
(`tags`), which become the run's name, group and tags where the tracker has them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The pip package behind each tracker, for the message when one is missing.
_PACKAGES = {"comet_ml": "comet-ml"}


@dataclass
class TrackerSetup:
    """What `Accelerator(log_with=...)` and `init_trackers(...)` are given for one run."""

    trackers: list[str]
    project: str
    config: dict[str, Any]
    init_kwargs: dict[str, dict] = field(default_factory=dict)


def resolve_trackers(log_with: tuple[str, ...] | None) -> list[str]:
    """The trackers to start: the default's TensorBoard-when-installed, or the named ones.

    A named tracker whose package is missing is an error (accelerate would drop it silently).
    """
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import is_tensorboard_available

    if log_with is None:
        return ["tensorboard"] if is_tensorboard_available() else []
    available = [str(t) for t in get_available_trackers()]
    if "all" in log_with:
        return available
    missing = [name for name in log_with if name not in available]
    if missing:
        packages = " ".join(_PACKAGES.get(name, name) for name in missing)
        raise ValueError(
            f"train.log_with asks for {', '.join(missing)}, which is not installed here; "
            f"pip install {packages}, or set train.log_with=none (metrics.jsonl only)."
        )
    return list(log_with)


def flat_config(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as `{dotted.key: scalar}`: every tracker takes scalars (lists as JSON)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_config(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:  # None, lists, empty mappings: TensorBoard's hparams refuse them as they are
            out[name] = json.dumps(value, sort_keys=True, default=str)
    return out


def tracker_setup(
    log_with: tuple[str, ...] | None,
    run_dir: Path,
    config: Mapping[str, Any],
    tags: Mapping[str, Any] | None = None,
) -> TrackerSetup:
    """Trackers, project name, hyperparameters and per-tracker init arguments of one run.

    `tags` (from a sweep: `sweep`, `point` and the point's parameters) name the run and
    are logged as `sweep.<key>` hyperparameters beside the config.
    """
    tags = dict(tags or {})
    project = str(tags.pop("sweep", None) or "probekit")
    name = str(tags.pop("point", None) or Path(run_dir).name)
    hparams = {"run": name, **flat_config(config)}
    if project != "probekit" or tags:
        hparams["sweep.name"] = project
        hparams["sweep.point"] = name
    hparams.update(flat_config(tags, "sweep."))
    labels = [f"{k}={v}" for k, v in flat_config(tags).items()]
    init_kwargs = {
        "wandb": {"name": name, "group": project, "tags": labels, "dir": str(run_dir)},
        "mlflow": {"run_name": name, "tags": {"sweep": project, **flat_config(tags)}},
        "trackio": {"name": name},
    }
    trackers = resolve_trackers(log_with)
    return TrackerSetup(
        trackers,
        project,
        hparams,
        {k: v for k, v in init_kwargs.items() if k in trackers},
    )
