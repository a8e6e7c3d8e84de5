"""Progress of a sweep: a bar with rate and ETA on a terminal, a plain line now and then
elsewhere (pipes, CI logs), so a long run shows it is alive either way."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def clock_text(seconds: float) -> str:
    """Seconds as H:MM:SS."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class SweepProgress:
    """``progress.advance(k)`` after k more combinations; ``close()`` at the end."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None,
                 every: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 label: str = "combos") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.total = total
        self.done = 0
        self.every = every
        self.clock = clock
        self.label = label
        self.started = clock()
        self._last_line = self.started
        self._drawn = False

    def line(self) -> str:
        """The progress text: done/total, percent, rate and estimated time left."""
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = "?" if left is None else clock_text(left)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"{self.done:,}/{self.total:,} {self.label} {pct:5.1f} %  {rate:,.1f}/s"
                f"  elapsed {clock_text(elapsed)}  ETA {eta}")

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more finished combinations and redraw (or print, now and then)."""
        self.done += count
        now = self.clock()
        if self.tty:
            width = 24
            filled = int(width * self.done / self.total) if self.total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.line()} ")
            self.stream.flush()
            self._drawn = True
        elif now - self._last_line >= self.every or self.done == self.total:
            self.stream.write(f"optimize: {self.line()}\n")
            self.stream.flush()
            self._last_line = now

    def close(self) -> None:
        """End the bar's line so the next output starts on a fresh one."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
