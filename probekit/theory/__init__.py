"""Theory: a world and task set in, the paper's prediction out; a prediction and a probe summary in, a verdict out.

Read `predictions.py` first (`predict`); `verdict.py` compares a prediction with a
measurement; `paper.py` holds the published reference numbers.
"""
