"""Clocks: real, accelerated and manual, shared by the bot loop and the exchange emulator.

Every wait in the bot and every timestamp the emulator serves goes through a Clock, so a test or
a demo can run days of 1-minute candles in seconds without the code under test knowing.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the bot and the emulator need from time."""

    speed: float

    def now_ms(self) -> int:
        """Current time in epoch milliseconds (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time."""

    speed = 1.0

    def now_ms(self) -> int:
        """Current wall-clock time in epoch milliseconds."""
        return int(time.time() * 1000)

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


class AcceleratedClock:
    """Time that runs ``speed`` times faster than the wall clock from ``start_ms`` on."""

    def __init__(self, speed: float, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self.speed = float(speed)
        self._start_ms = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self._real0 = time.monotonic()

    def now_ms(self) -> int:
        """Start time plus the accelerated elapsed wall time."""
        return self._start_ms + int((time.monotonic() - self._real0) * 1000 * self.speed)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / speed`` of wall time."""
        if seconds > 0:
            time.sleep(seconds / self.speed)


class ManualClock:
    """Time that moves only when someone sleeps on it or advances it: for deterministic tests.

    ``sleep`` returns at once after moving time forward, so a loop that waits for a candle close
    runs as fast as the code allows. Thread-safe, so an in-process emulator can read it.
    """

    speed = float("inf")

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        """The current manual time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` and return immediately."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (negative values are ignored)."""
        if seconds > 0:
            with self._lock:
                self._now += int(round(seconds * 1000))


class PacedClock(ManualClock):
    """Manual time that the sleeper drives, paced to at most ``speed`` times real time.

    The in-process bot and emulator share it: simulated time moves only when the bot waits, so
    no candle is ever skipped however slow the machine is, and ``speed`` caps how fast a demo
    runs (``speed=inf`` runs as fast as the code allows).
    """

    def __init__(self, start_ms: int, speed: float = float("inf")) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        super().__init__(start_ms)
        self.speed = float(speed)

    def sleep(self, seconds: float) -> None:
        """Advance time by ``seconds`` after waiting ``seconds / speed`` of wall time."""
        if seconds > 0 and self.speed != float("inf"):
            time.sleep(seconds / self.speed)
        self.advance(seconds)
