"""probekit.sweeps.cluster: a sweep as submitit jobs, content-addressed, requeued, resubmitted."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("submitit")

from conftest import tiny_experiment  # noqa: E402

from probekit.cli import main as cli_main  # noqa: E402
from probekit.sweeps.cluster import make_executor, read_ledger, submit_sweep, wait_for  # noqa: E402
from probekit.sweeps.runner import (  # noqa: E402
    SweepError,
    collect_results,
    config_digest,
    load_sweep,
    run_sweep,
)

REPO = Path(__file__).resolve().parents[1]
TINY = tiny_experiment(train={"log_with": "none"})


def _sweep_file(tmp_path: Path, base: dict | None = None, **sweep) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base or TINY))
    data = {"name": "tiny", "base": "base.yaml", **sweep}
    path = tmp_path / "tiny_sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _local_reference(spec, out: Path) -> list[dict]:
    from probekit.training.loop import train

    run_sweep(spec, out, train_fn=lambda c, d: train(c, d, progress=False), progress=False)
    return _rows(out)


def test_a_point_is_addressed_by_its_resolved_config():
    from probekit.config import load_experiment

    a = load_experiment(None, ["tasks.n=4"])
    assert config_digest(a) == config_digest(load_experiment(None, ["tasks.n=4"]))
    assert config_digest(a) != config_digest(load_experiment(None, ["tasks.n=8"]))
    # Where metrics are sent is not part of what the point computes.
    assert config_digest(a) == config_digest(
        load_experiment(None, ["tasks.n=4", "train.log_with=none"])
    )


def test_debug_cluster_runs_missing_points_only_and_writes_the_local_table(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2, 4]}))
    reference = _local_reference(spec, tmp_path / "local")

    out = tmp_path / "cluster"
    first = submit_sweep(spec, out, make_executor(out, "debug"), only={"tasks.n": 2})
    assert list(first.submitted) == ["tasks.n=2"] and not first.skipped
    assert wait_for(first.jobs) == {}
    (done,) = [job.result() for job in first.jobs]
    assert done == {"point": "tasks.n=2", "before": "new", "resumed_from": 0, "status": "done"}

    second = submit_sweep(spec, out, make_executor(out, "debug"))
    assert list(second.submitted) == ["tasks.n=4"] and second.skipped == {"tasks.n=2": "done"}
    assert wait_for(second.jobs) == {}
    collect_results(spec, out)
    assert _rows(out) == reference
    ledger = read_ledger(out)
    assert {v["point"] for v in ledger.values()} == {"tasks.n=2", "tasks.n=4"}
    digests = {
        p["name"]: p["digest"] for p in json.loads((out / "sweep.json").read_text())["points"]
    }
    assert set(ledger) == set(digests.values())
    assert submit_sweep(spec, out, make_executor(out, "debug")).submitted == {}


def test_a_directory_holding_another_config_stops_the_submission(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2, 4]}, probe=False))
    out = tmp_path / "cluster"
    (out / "tasks.n=4").mkdir(parents=True)
    other = spec.config(spec.points()[1]).to_dict()
    other["train"]["lr"] = 0.5
    (out / "tasks.n=4" / "config.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(SweepError, match="holds a run of another config"):
        submit_sweep(spec, out, make_executor(out, "debug"))
    assert not (out / "tasks.n=2").exists()  # nothing was submitted


def test_cli_submitit_launcher_and_its_errors(tmp_path, capsys):
    path = _sweep_file(tmp_path, grid={"tasks.n": [2]}, probe=False)
    out = tmp_path / "out"
    args = ["sweep", "--config", str(path), "--out", str(out), "--launcher", "submitit"]
    assert cli_main([*args, "--cluster", "debug", "--wait"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[0])["submitted"].keys() == {"tasks.n=2"}
    assert lines[3].startswith("| tasks.n=2 | done |")
    assert json.loads(lines[-1])["done"] == 1
    assert cli_main([*args, "--cluster", "debug"]) == 0  # nothing left to submit
    assert json.loads(capsys.readouterr().out.splitlines()[0])["skipped"] == {"tasks.n=2": "done"}
    assert cli_main(["sweep", "--config", str(path), "--out", str(out), "--collect"]) == 0
    assert "| tasks.n=2 | done |" in capsys.readouterr().out
    assert cli_main([*args, "--cluster", "moon"]) == 2
    assert "--cluster 'moon' is unknown" in capsys.readouterr().err
    assert cli_main([*args, "--cluster", "debug", "--submitit", "wings=2"]) == 2
    assert "submitit refused the executor parameters" in capsys.readouterr().err


# --------------------------------------------------------------------------- real processes


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the tasks of a LocalExecutor controller)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _signal_after_first_checkpoint(jobs: dict, out: Path, deadline: float) -> None:
    """Send each job's task its signal as soon as its point has a training checkpoint."""
    pending = dict(jobs)  # point -> (job, signal)
    while pending and time.time() < deadline:
        for point, (job, sig) in list(pending.items()):
            assert not (out / point / "final").exists(), f"{point} finished before its signal"
            if list((out / point / "checkpoints").glob("step-*")):
                (task,) = _children(int(job.job_id))
                os.kill(task, sig)
                del pending[point]
        time.sleep(0.02)
    assert not pending, f"no checkpoint in time for {sorted(pending)}"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds job processes through /proc")
def test_local_executor_requeues_the_preempted_resubmits_the_killed_and_matches_local(
    tmp_path, monkeypatch
):
    # Same thread count in every process: the same floats as the in-process reference.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = {**TINY, "train": {**TINY["train"], "steps": 400, "eval_every": 200}}
    base["train"]["checkpoint_every"] = 25
    spec = load_sweep(_sweep_file(tmp_path, base, grid={"tasks.n": [3, 4]}))
    reference = _local_reference(spec, tmp_path / "local")

    out = tmp_path / "cluster"
    first = submit_sweep(spec, out, make_executor(out, "local", {"timeout_min": 10}))
    assert list(first.submitted) == ["tasks.n=3", "tasks.n=4"]
    # Submitted again while they run: nothing new, each point is queued or running.
    again = submit_sweep(spec, out, make_executor(out, "local"))
    assert again.submitted == {} and len(again.skipped) == 2
    assert all(r.startswith("queued or running as job") for r in again.skipped.values())

    killed, preempted = first.jobs
    # tasks.n=3 is killed outright; tasks.n=4 is pre-empted (SLURM's SIGUSR2) and requeues.
    victims = {"tasks.n=3": (killed, signal.SIGKILL), "tasks.n=4": (preempted, signal.SIGUSR2)}
    _signal_after_first_checkpoint(victims, out, time.time() + 120)
    assert list(wait_for([killed])) == [killed.job_id]  # it did not finish
    assert not (out / "tasks.n=3" / "final").exists()
    assert list((out / "tasks.n=3" / "checkpoints").glob("step-*"))

    # Submitted again: only the killed point runs (the pre-empted one is requeued, or done).
    second = submit_sweep(spec, out, make_executor(out, "local", {"timeout_min": 10}))
    assert list(second.submitted) == ["tasks.n=3"] and list(second.skipped) == ["tasks.n=4"]
    assert wait_for([*second.jobs, preempted]) == {}
    for job in (preempted, *second.jobs):  # each resumed from a checkpoint, in a new process
        result = job.result()
        assert result["before"] == "partial" and result["resumed_from"] >= 25
        assert result["status"] == "done"
    collect_results(spec, out)
    assert _rows(out) == reference  # the same table, value for value
