"""Sweeps: a sweep file in, a grid of trained and probed runs and one results table out.

Read `spec.py` first (the sweep file and its points), then `runner.py` (running the
points, resumably) and `results.py` (collecting them); `appendix_d.py` redraws the
paper's Appendix-D figure from a finished sweep.
"""
