"""How long work reports progress and learns that it is cancelled.

Each step (download, network, alignment) takes a `Progress(done, total)`; a whole run takes
a `StageProgress(stage, done, total)` and hands each step its stage's share. `cancel()` is
polled between batches and iterations (`core.errors.raise_if_cancelled`).
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

Progress = Callable[[int, int], None]  # (done, total) of one step
StageProgress = Callable[[str, int, int], None]  # (stage, done, total) of a run
Cancel = Callable[[], bool]  # True once the user asked to stop


def for_stage(progress: Optional[StageProgress], stage: str) -> Progress:
    """The `Progress` of one stage of a run (a no-op without `progress`)."""
    if progress is None:
        return lambda done, total: None
    return lambda done, total: progress(stage, done, total)


class ProgressPrinter:
    """A `StageProgress` for consoles: one line per stage and about every 10 %."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stdout
        self.last: tuple[str, int] = ("", -1)
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = int(10 * done / total) if total else 0
        if (stage, tenth) == self.last:
            return
        self.last = (stage, tenth)
        count = f" {done}/{total}" if total else ""
        print(f"DUSt3R [{time.perf_counter() - self.t0:7.1f} s] {stage}{count}",
              file=self.stream, flush=True)
