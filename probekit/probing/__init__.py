"""Probing: a checkpoint (and the world its spec names) in, per-site probe results out.

Builds probe inputs and targets, extracts activations at every site, fits batched
linear (and MLP) probes beside the controls, and writes results.jsonl, summary.json
and plots. Read `pipeline.py` first (`probe_checkpoint`); `metrics.py` defines the numbers.
"""
