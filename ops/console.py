"""What a person watching the terminal sees: a line per closed candle, or one progress line.

In real (or paced) time each closed candle prints ``time close signal -> action | position``
as it happens. At ``--speed max`` candles close thousands of times a second, so a single
progress line (candles done, candles/s, ETA when ``--max-candles`` is set) is rewritten in
place instead. Logs are not touched: this is a listener on the loop (bot/events.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from bot.events import BotEvents, CandleEvent
from core.formatting import format_number, format_utc

SIGNAL_WORDS = {1: "BUY", -1: "SELL", 0: "-"}
# The progress line is rewritten at most this often (wall seconds): a terminal is slow.
PROGRESS_EVERY_S = 0.25


def format_duration(seconds: float) -> str:
    """``seconds`` as H:MM:SS (or M:SS under an hour)."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def candle_line(event: CandleEvent, position: str) -> str:
    """One console line for a finished cycle."""
    if event.skipped is not None:
        return f"cycle skipped: {event.skipped} | {position}"
    when = "?" if event.candle_ms is None else format_utc(event.candle_ms)[:16].replace("T", " ")
    if event.close is None:
        return f"{when} {event.action} | {position}"
    signal = SIGNAL_WORDS.get(event.signal if event.signal is not None else 0, "?")
    return (f"{when} close {format_number(event.close)} signal {signal} -> {event.action}"
            f" | {position}")


def progress_line(done: int, rate: float, total: int | None) -> str:
    """``1234 candles, 5678 candles/s, ETA 0:12`` (ETA and the total only with a total)."""
    if total:
        left = max(total - done, 0)
        eta = format_duration(left / rate) if rate > 0 else "?"
        return f"{done}/{total} candles, {rate:,.0f} candles/s, ETA {eta}"
    return f"{done} candles, {rate:,.0f} candles/s"


class ConsoleView(BotEvents):
    """Prints candle lines (``mode="lines"``) or one progress line (``mode="progress"``).

    ``position`` returns the one-word-ish position text (e.g. "flat", "long 0.001 BTC at
    95000"); ``wall`` is the wall clock in seconds, injectable for tests.
    """

    def __init__(
        self,
        stream: TextIO,
        mode: str,
        position: Callable[[], str],
        *,
        total: int | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("lines", "progress"):
            raise ValueError(f"console mode must be 'lines' or 'progress', got {mode!r}")
        self.stream = stream
        self.mode = mode
        self.position = position
        self.total = total
        self.wall = wall
        self._start = wall()
        self._last_draw = float("-inf")
        self._done = 0

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Restart the rate measurement when trading starts (the start-up is not candles)."""
        self._start = self.wall()

    def candle(self, event: CandleEvent) -> None:
        """Print the candle's line, or redraw the progress line when it is due."""
        self._done = event.candles_processed
        if self.mode == "lines":
            self._write(candle_line(event, self.position()) + "\n")
            return
        now = self.wall()
        finished = self.total is not None and self._done >= self.total
        if now - self._last_draw >= PROGRESS_EVERY_S or finished:
            self._draw(now)

    def stopped(self, summary: str, now_ms: int) -> None:
        """Draw the final progress figures and end the line."""
        if self.mode == "progress":
            self._draw(self.wall())
            self._write("\n")

    def _draw(self, now: float) -> None:
        elapsed = now - self._start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        self._last_draw = now
        self._write("\r" + progress_line(self._done, rate, self.total) + "\033[K")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def position_text(positions: Any) -> str:
    """``flat`` or ``long <qty> <BASE> at <entry>`` for a position manager."""
    pos = positions.position
    if pos is None:
        return "flat"
    return (f"long {format_number(pos.quantity)} {positions.base_asset} at "
            f"{format_number(pos.entry_price)}")
