"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """One bar for the whole run: ``bar.phase("fills", 0.6, 0.9)`` names the step and the part of
    the bar it covers; ``bar(0.5)`` draws half of that step; ``bar.close()`` clears the line.

    Silent when the stream is not a terminal (pipes, CI logs, files), unless ``enabled``.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty()) if enabled is None else enabled
        self.width = width
        self.label = ""
        self.span = (0.0, 1.0)
        self._drawn = False

    def phase(self, label: str, start: float = 0.0, end: float = 1.0) -> None:
        """Start a step covering [start, end] of the bar and draw it at its start."""
        self.label = label
        self.span = (start, end)
        self(0.0)

    def __call__(self, fraction: float) -> None:
        """Draw ``fraction`` (0..1) of the current step."""
        if not self.enabled:
            return
        start, end = self.span
        total = start + (end - start) * min(max(fraction, 0.0), 1.0)
        done = int(round(total * self.width))
        bar = "#" * done + "." * (self.width - done)
        self.stream.write(f"\r{self.label:<12} [{bar}] {total * 100:5.1f} %")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the line so the report starts on a clean one."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * (self.width + 24) + "\r")
            self.stream.flush()
