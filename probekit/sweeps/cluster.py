"""A sweep's points as a SLURM job array through submitit (`probekit sweep --launcher submitit`).

One job per point: a `PointJob` holds the point's resolved config and trains (resuming
from the point's checkpoints) and probes it in `SWEEP/<point>`, the directory a local
sweep uses, so `results.jsonl` and the table are the same whoever ran the points
(`runner.collect_results`). Points are content-addressed: `SWEEP/submitit/jobs.json`
records, per hash of a point's resolved config (`runner.config_digest`), the job that last
ran it. Submitting again submits only the points that are neither finished nor queued or
running under their recorded job; a directory that holds a run of another config stops
the submission before any job starts.

Pre-emption and time limits use submitit's checkpoint-and-requeue: on the signal SLURM
sends before it stops a job (SIGUSR2), submitit calls `PointJob.checkpoint`, which
requeues the same point; the new job resumes from the point's last training checkpoint
(`train.checkpoint_every`). `--cluster local` runs the jobs as local processes
(submitit's LocalExecutor, the same pickles, signals and requeueing), `debug` in this
process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from probekit.config import ExperimentConfig
from probekit.sweeps.results import point_status
from probekit.sweeps.runner import (
    config_digest,
    point_tags,
    probe_run,
    run_point,
    train_point,
    write_sweep_json,
)
from probekit.sweeps.spec import SweepError, SweepSpec, select, validate
from probekit.training.run_dir import RunDir, atomic_write_text

CLUSTERS = ("auto", "slurm", "local", "debug")
# Generous: a point is small, and one that runs out of time is requeued from its checkpoint.
DEFAULT_PARAMETERS = {"timeout_min": 120}
# SLURM states of a job that is still queued or running (squeue / sacct).
_ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
    "CONFIGURING",
    "COMPLETING",
    "SIGNALING",
    "STAGE_OUT",
}


@dataclass
class PointJob:
    """One sweep point as a submitit job: train (resuming) and probe it; requeued when pre-empted."""

    name: str
    config: dict  # the point's resolved ExperimentConfig, as a plain dict
    run_dir: str
    probe: bool
    tags: dict = field(default_factory=dict)

    def __call__(self) -> dict[str, Any]:
        """Run the point to the end; its status before, the step it resumed from, its status."""
        cfg = ExperimentConfig.from_dict(self.config)
        run_dir = Path(self.run_dir)
        latest = RunDir(run_dir).latest_checkpoint()
        partial = point_status(run_dir, self.probe) == "partial"
        resumed = RunDir.checkpoint_step(latest) if partial and latest is not None else 0
        before = run_point(
            cfg,
            run_dir,
            probe=self.probe,
            train_fn=lambda c, d: train_point(c, d, tags=self.tags),
            probe_fn=probe_run,
        )
        after = point_status(run_dir, self.probe)
        return {"point": self.name, "before": before, "resumed_from": resumed, "status": after}

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Pre-empted or out of time: requeue the same point. Training checkpoints every
        `train.checkpoint_every` steps on its own, so the requeued job resumes from there."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


@dataclass
class Submission:
    """What `submit_sweep` did: submitted points and their jobs, skipped points and why."""

    out: Path
    cluster: str
    submitted: dict[str, str] = field(default_factory=dict)  # point -> job id
    skipped: dict[str, str] = field(default_factory=dict)  # point -> reason
    jobs: list = field(default_factory=list)  # submitit Jobs, in the order of `submitted`


def make_executor(
    out: str | Path, cluster: str = "auto", parameters: Mapping[str, Any] | None = None
):
    """A submitit executor writing its pickles and logs in SWEEP/submitit/<job id>/.

    `cluster`: auto (SLURM when `sbatch` is on PATH, else local processes), slurm, local or
    debug; `parameters`: submitit's (timeout_min, gpus_per_node, cpus_per_task, mem_gb,
    slurm_partition, slurm_array_parallelism, ...)."""
    try:
        import submitit
    except ImportError as err:
        raise SweepError(
            "--launcher submitit needs the submitit package: pip install submitit "
            "(or pip install -e '.[cluster]')."
        ) from err
    if cluster not in CLUSTERS:
        raise SweepError(f"--cluster {cluster!r} is unknown. Available: {', '.join(CLUSTERS)}")
    folder = Path(out).resolve() / "submitit" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=None if cluster == "auto" else cluster)
    try:
        executor.update_parameters(**{**DEFAULT_PARAMETERS, **dict(parameters or {})})
    except (NameError, ValueError, TypeError) as err:
        raise SweepError(
            f"submitit refused the executor parameters {dict(parameters or {})}: {err} "
            "(give them as --submitit KEY=VALUE, e.g. --submitit slurm_partition=gpu)"
        ) from err
    return executor


def _ledger_path(out: Path) -> Path:
    return out / "submitit" / "jobs.json"


def read_ledger(out: str | Path) -> dict[str, dict]:
    """SWEEP/submitit/jobs.json: {config digest: {point, job_id, cluster}} ({} if none)."""
    path = _ledger_path(Path(out))
    return json.loads(path.read_text()) if path.is_file() else {}


def job_is_active(folder: Path, cluster: str, job_id: str) -> bool:
    """Whether a recorded job is still queued or running (so its point must not be resubmitted)."""
    if cluster == "local":
        return _local_process_alive(job_id)
    if cluster != "slurm":
        return False  # debug jobs run inside the process that submitted them
    from submitit import SlurmJob

    try:
        state = SlurmJob(folder, job_id).state
    except Exception:  # sacct unreachable or the job forgotten: nothing is running it
        return False
    return bool(state) and str(state).upper().split()[0] in _ACTIVE


def _local_process_alive(job_id: str) -> bool:
    """A LocalExecutor job id is the pid of its controller process: alive and still submitit's?"""
    proc = Path("/proc") / str(job_id)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        return state != "Z" and "submitit" in cmdline
    try:
        os.kill(int(job_id), 0)
    except (OSError, ValueError):
        return False
    return True


def _stale(run_dir: Path, digest: str) -> bool:
    """Whether `run_dir` holds a run whose resolved config has another content address."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return False
    try:
        saved = ExperimentConfig.from_dict(yaml.safe_load(path.read_text()) or {})
    except (ValueError, TypeError, KeyError):
        return False  # written by another version: RunDir.check decides when it resumes
    return config_digest(saved) != digest


def submit_sweep(
    spec: SweepSpec,
    out: str | Path,
    executor,
    *,
    only: Mapping[str, Any] | None = None,
    probe: bool | None = None,
) -> Submission:
    """Submit every selected point that is neither done nor queued/running, as one job array."""
    out = Path(out).resolve()
    probe = spec.probe if probe is None else probe
    points = select(spec, only)
    configs = validate(spec, points)
    digests = {p.name: config_digest(configs[p.name]) for p in points}
    stale = [p.name for p in points if _stale(out / p.name, digests[p.name])]
    if stale:
        raise SweepError(
            f"{out / stale[0]} holds a run of another config than the sweep's point "
            f"({len(stale)} such point(s)); delete it or choose another --out."
        )
    write_sweep_json(spec, out, points, configs)
    ledger = read_ledger(out)
    result = Submission(out, executor.cluster)
    todo = []
    for point in points:
        status = point_status(out / point.name, probe)
        record = ledger.get(digests[point.name])
        if status == "done":
            result.skipped[point.name] = "done"
        elif record and job_is_active(executor.folder, record["cluster"], record["job_id"]):
            result.skipped[point.name] = f"queued or running as job {record['job_id']}"
        else:
            todo.append(point)
    if not todo:
        return result
    jobs = [
        PointJob(p.name, configs[p.name].to_dict(), str(out / p.name), probe, point_tags(spec, p))
        for p in todo
    ]
    with executor.batch():  # one job array on SLURM
        result.jobs = [executor.submit(job) for job in jobs]
    for point, job in zip(todo, result.jobs, strict=True):
        result.submitted[point.name] = str(job.job_id)
        ledger[digests[point.name]] = {
            "point": point.name,
            "job_id": str(job.job_id),
            "cluster": executor.cluster,
        }
    _ledger_path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(_ledger_path(out), json.dumps(ledger, indent=2, sort_keys=True))
    return result


def wait_for(jobs: Sequence) -> dict[str, str]:
    """Wait for every job; {job id: error} of those that did not finish cleanly."""
    from submitit.local.local import LocalJob

    errors = {}
    for job in jobs:
        job.wait()
        if isinstance(job, LocalJob) and not job.paths.result_pickle.exists():
            # Killed before it could write an outcome; on a local disk there is no file-system
            # delay to wait out (submitit waits 15 s for one before it says so).
            errors[str(job.job_id)] = f"no result ({job.state}); log: {job.paths.stderr}"
            continue
        try:
            job.result()
        except Exception as err:  # a killed or failed job: its point stays unfinished
            errors[str(job.job_id)] = f"{type(err).__name__}: {str(err).strip()[-500:]}"
    return errors
