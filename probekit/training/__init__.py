"""Training: an experiment config in, a run directory with a trained checkpoint out.

Streams or reads batches of the world's examples, trains with accelerate, logs
metrics and a cheap in-training recovery probe, and keeps resumable checkpoints.
Read `loop.py` first (`train`); `run_dir.py` is the layout of what it writes.
"""
