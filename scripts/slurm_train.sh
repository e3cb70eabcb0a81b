#!/usr/bin/env bash
# Train one run on several machines under SLURM: one task per node, each starting
# `accelerate launch` with its node's rank; the processes of all nodes form one group
# (NCCL on GPUs) and each takes its share of the same global batch (train.batch_size),
# so the run gives the numbers a single process gives (to float tolerance).
#
#   sbatch scripts/slurm_train.sh                                   # configs/gpt2.yaml
#   CONFIG=configs/default.yaml RUN_DIR=runs/mlp64 sbatch scripts/slurm_train.sh train.steps=8000
#
# RUN_DIR must be on a file system every node sees: rank 0 writes it, every rank reads its
# checkpoints when the job is requeued (SLURM pre-emption with --requeue restarts this
# script, and training resumes from the last checkpoint). Arguments are dotted overrides.
#SBATCH --job-name=probekit-train
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail

export CONFIG="${CONFIG:-configs/gpt2.yaml}"
export RUN_DIR="${RUN_DIR:-runs/${SLURM_JOB_NAME:-probekit-train}}"
export GPUS_PER_NODE="${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-1}}"
export NUM_PROCESSES=$((SLURM_NNODES * GPUS_PER_NODE))
# The first node of the allocation hosts the rendezvous.
# sed reads the whole list: `head -n 1` could exit first and fail the pipe (SIGPIPE).
MAIN_PROCESS_IP="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)"
export MAIN_PROCESS_IP
export MAIN_PROCESS_PORT="${MAIN_PROCESS_PORT:-29500}"

# srun starts this on every node; SLURM_NODEID (0 .. nodes-1) is the node's machine rank.
# Single quotes: the variables are expanded on each node, not here.
srun --kill-on-bad-exit=1 bash -c '
  exec accelerate launch \
    --multi_gpu \
    --num_machines "$SLURM_NNODES" \
    --machine_rank "$SLURM_NODEID" \
    --num_processes "$NUM_PROCESSES" \
    --main_process_ip "$MAIN_PROCESS_IP" \
    --main_process_port "$MAIN_PROCESS_PORT" \
    --mixed_precision no \
    --dynamo_backend no \
    -m probekit.train --config "$CONFIG" --run-dir "$RUN_DIR" --no-progress "$@"
' slurm_train "$@"
