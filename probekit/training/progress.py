"""The training progress bar: its rate and ETA count optimiser steps only.

An evaluation (task scores and the recovery probe) or a checkpoint can take longer than
hundreds of steps; left in the bar's clock, one of them makes tqdm's smoothed rate
collapse and the ETA jump (52 minutes shown on a 5-minute run). `paused(bar)` takes the
time spent inside it off the bar's clock, and `Pauses` keeps the total to show beside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Pauses:
    """The seconds a bar's clock was paused for, in total (shown as `eval=...s`)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def paused(self, bar) -> Iterator[None]:
        """Run the block off `bar`'s clock: its elapsed time, rate and ETA leave it out."""
        clock = getattr(bar, "_time", time.time)
        start = clock()
        try:
            yield
        finally:
            spent = clock() - start
            self.seconds += spent
            if not getattr(bar, "disable", True):
                # tqdm's rate is the change in n over the time since its last print, and
                # its elapsed time runs from start_t: moving both on by the pause leaves
                # the pause out of the rate, the ETA and the elapsed time alike.
                bar.start_t += spent
                bar.last_print_t += spent

    def label(self) -> str:
        """`12s` (or `3.4m`): the paused time, for the bar's postfix."""
        s = self.seconds
        return f"{s:.0f}s" if s < 600 else f"{s / 60:.1f}m"
