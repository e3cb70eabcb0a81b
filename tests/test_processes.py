"""The same answer on any number of processes: two CPU processes (gloo) against one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import subprocess_env
from safetensors.numpy import load_file

from probekit.training.batches import BatchLog

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "world": {"d": 6, "observation": "random_bijection", "seed": 0},
    "tasks": {"family": "walsh", "n": 16, "k": 2, "seed": 0},
    "data": {"format": "array"},
    "model": {"kind": "mlp", "hidden": 32, "n_layers": 2},
    "train": {
        "steps": 40,
        "batch_size": 32,
        "eval_every": 20,
        "checkpoint_every": 20,
        "eval_examples": 128,
        "warmup_steps": 2,
        "log_with": "none",
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(processes: int, config: Path, run: Path, *overrides: str) -> subprocess.Popen:
    train = ["-m", "probekit.train", "--config", str(config), "--run-dir", str(run)]
    train += ["--no-progress", "--log-batches", str(run / "batches"), *overrides]
    if processes == 1:
        cmd = [sys.executable, *train]
    else:
        # torchrun's launcher (`--multi_gpu`); without a GPU the processes join a gloo group
        # on the CPU (probekit.training.accelerator). `accelerate launch --cpu` starts one
        # process unless it is given an MPI host file.
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
        cmd += ["--num_processes", str(processes), "--num_machines", "1"]
        cmd += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += ["--main_process_port", str(_free_port()), *train]
    return subprocess.Popen(
        cmd, env=subprocess_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_two_cpu_processes_train_on_the_same_data_to_the_same_numbers_as_one(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = {n: tmp_path / f"p{n}" for n in (1, 2)}
    procs = {n: _launch(n, config, run) for n, run in runs.items()}  # side by side
    # One process that splits each batch in two as the two processes do: accumulation.
    procs["accum"] = _launch(1, config, tmp_path / "accum", "train.grad_accum=2")
    summaries = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
        (line,) = out.decode().strip().splitlines()  # one summary, from the main process
        summaries[n] = json.loads(line)

    # The same examples at the same (step, global index), half of each batch per process.
    logs = {n: BatchLog.read(run / "batches") for n, run in runs.items()}
    assert len(logs[1]) == 40 * 32 and logs[2] == logs[1]
    shares = [BatchLog.read_file(runs[2] / "batches" / f"process-{p}.jsonl") for p in (0, 1)]
    assert sorted({i for _, i in shares[0]}) == list(range(16))
    assert sorted({i for _, i in shares[1]}) == list(range(16, 32))

    # The same training, to float tolerance: every evaluation, the final metrics, the weights.
    specs = {
        n: json.loads((run / "final" / "probekit_spec.json").read_text()) for n, run in runs.items()
    }
    final = {n: s["final_metrics"] for n, s in specs.items()}
    assert final[2].keys() == final[1].keys() and final[1]["step"] == 40
    for key, value in final[1].items():
        assert final[2][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert summaries[2]["eval_loss"] == summaries[1]["eval_loss"]  # rounded to 4 places
    rows = {n: (run / "metrics.jsonl").read_text().splitlines() for n, run in runs.items()}
    assert len(rows[1]) == len(rows[2]) == 2
    for a, b in zip(rows[1], rows[2], strict=True):
        a, b = json.loads(a), json.loads(b)
        assert a.keys() == b.keys()
        assert all(b[k] == pytest.approx(v, rel=1e-5, abs=1e-6) for k, v in a.items())
    weights = {n: load_file(str(run / "final" / "model.safetensors")) for n, run in runs.items()}
    for name, value in weights[1].items():
        np.testing.assert_allclose(weights[2][name], value, rtol=1e-4, atol=1e-5)

    # Bit for bit against one process accumulating the same two halves: the all-reduce's
    # (g0 + g1) / 2 and accumulation's g0 / 2 + g1 / 2 are the same floats. Only the order
    # of the sum over a whole batch (one process, no accumulation) adds rounding.
    accum = tmp_path / "accum"
    assert BatchLog.read(accum / "batches") == logs[1]
    assert (
        json.loads((accum / "final" / "probekit_spec.json").read_text())["final_metrics"]
        == (final[2])
    )
    exact = load_file(str(accum / "final" / "model.safetensors"))
    for name, value in exact.items():
        np.testing.assert_array_equal(weights[2][name], value)


def test_the_slurm_script_gives_each_node_its_machine_rank(tmp_path):
    # Stand-ins for SLURM's srun / scontrol and for accelerate: srun runs the node command
    # once per node with that node's SLURM_NODEID, accelerate prints its arguments.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "scontrol": 'printf "node-a\\nnode-b\\n"',
        "srun": 'shift; for id in 0 1; do SLURM_NODEID=$id "$@"; done',
        "accelerate": 'echo "$@"',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {
        **subprocess_env(),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_NNODES": "2",
        "SLURM_JOB_NODELIST": "node-[a-b]",
        "SLURM_GPUS_ON_NODE": "4",
        "RUN_DIR": "/shared/runs/x",
    }
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm_train.sh"), "train.steps=10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    for rank, line in enumerate(lines):
        assert f"--num_machines 2 --machine_rank {rank} --num_processes 8" in line
        assert "--main_process_ip node-a --main_process_port 29500" in line
        assert line.endswith(
            "-m probekit.train --config configs/gpt2.yaml --run-dir /shared/runs/x "
            "--no-progress train.steps=10"
        )
