"""Numbers published by the paper, and by docs/theory.md's feasibility checks, in one place.

Zhang, Chen & Chen, ICML 2025: the Appendix-D identification error read off its figure
(§4 of docs/theory.md), and the §5 feasibility checks of the MLP and GPT-2 on the
default world. Reports and the Appendix-D figure read them from here; nothing computes
with them.
"""

from __future__ import annotations

# Final values read off the paper's Appendix-D figure (docs/theory.md §4), {k: {n: error}}.
PAPER_FINAL: dict[int, dict[int, float]] = {
    2: {64: 0.07, 8: 0.18, 4: 0.22, 1: 0.19},
    3: {64: 0.06, 8: 0.10, 4: 0.21, 1: 0.26},
    4: {64: 0.05, 8: 0.17, 4: 0.23, 1: 0.23},
}
PAPER_START = 0.22
PAPER_STEPS = 5000

# docs/theory.md §5: the feasibility check (MLP 3x256, d = 10, degree-2 sign tasks), probe
# accuracy on z by observation map and n; T(z) stayed at 0.51 for the random bijection.
SECTION5_MLP = {
    "random_bijection": {1: 0.51, 8: 0.60, 64: 0.90, 256: 0.98},
    "gf2_linear": {1: 0.39, 8: 0.40, 64: 0.85, 256: 1.00},
}
# docs/theory.md §5, GPT-2 (4 layers, width 128) on the same world: best-layer numbers.
SECTION5_GPT2 = {
    64: {
        "task_acc": 0.99,
        "probe_acc_z": 0.91,
        "probe_acc_random_init": 0.49,
    },
    1: {"task_acc": 0.55, "probe_acc_z": 0.49},
}
