"""Sweeps: a sweep file in, a grid of trained and probed runs and one results table out.

Read `spec.py` first (the sweep file, its points and seeds), then `runner.py` (running the
points, resumably) and `results.py` (collecting them); `cluster.py` runs the same points as
a submitit (SLURM) job array; `aggregate.py` pools the seeds of a
grid point, `tables.py` writes the Markdown results tables of sweep directories
(`scripts/results_tables.py`), and `appendix_d.py` redraws the paper's Appendix-D figure
from a finished sweep.
"""
