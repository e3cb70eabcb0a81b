"""Theory: a world and task set in, the paper's prediction out; a prediction and a probe summary in, a verdict out.

Read `predictions.py` first (`predict`, `write_prediction`); the rules it applies are in
`rules.py`, the exact numbers behind them in `inverse.py` (ψ⁻¹ as a function of x),
`degrees.py` (tasks in z and x), `spectrum.py` (result 4's hypothesis) and `costs.py`;
`verdict.py` compares a prediction with a measurement; `paper.py` holds the published
reference numbers.
"""
