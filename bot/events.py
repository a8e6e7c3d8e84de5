"""The loop's observer seam: what the runner tells alerts, metrics, the console and systemd.

The runner calls these hooks and knows nothing of what listens. Every listener must return
quickly and never raise into the loop: ``EventFanout`` calls each in turn and logs (once per
listener and hook) a listener that fails, so a broken alert or metrics target can never cost
a cycle or a stop-loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.lognames import ERRORS_LOGGER

errors = logging.getLogger(ERRORS_LOGGER)


@dataclass(frozen=True)
class CandleEvent:
    """One closed-candle cycle as the loop saw it."""

    candle_ms: int | None
    close: float | None
    signal: int | None
    action: str
    skipped: str | None
    failed: bool
    new_candles: int
    candles_processed: int
    cycles_skipped: int
    now_ms: int


class BotEvents:
    """Every hook the loop calls; the defaults do nothing, so a listener overrides only some."""

    def started(self, info: dict[str, Any]) -> None:
        """Settings and start-up facts (exchange, symbol, strategy, ...), before reconcile."""

    def ready(self, notes: list[str], now_ms: int) -> None:
        """The saved state was reconciled with the exchange; the loop starts."""

    def tick(self, now_ms: int) -> None:
        """The loop is alive (called at least once a second of wall time while waiting)."""

    def price(self, price: float, now_ms: int) -> None:
        """A last price was read for the stop-loss / take-profit check."""

    def candle(self, event: CandleEvent) -> None:
        """A candle-close cycle finished (acted, found nothing new, or was skipped)."""

    def fill(self, row: Any) -> None:
        """A filled order was journaled (a ``storage.trades.TradeRow``)."""

    def stopped(self, summary: str, now_ms: int) -> None:
        """The loop ended; ``summary`` is the position manager's one-line summary."""

    def close(self) -> None:
        """Release threads and sockets; called once after ``stopped``."""


class EventFanout(BotEvents):
    """Calls every listener in order; a failing listener is logged once, never raised."""

    def __init__(self, listeners: Iterable[BotEvents] = ()) -> None:
        self.listeners: list[BotEvents] = list(listeners)
        self._reported: set[tuple[int, str]] = set()

    def add(self, listener: BotEvents) -> None:
        """Append a listener."""
        self.listeners.append(listener)

    def _each(self, hook: str, *args: Any) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, hook)(*args)
            except Exception:  # noqa: BLE001 - a listener must never break the loop
                key = (id(listener), hook)
                if key not in self._reported:
                    self._reported.add(key)
                    errors.exception("%s.%s failed (reported once)",
                                     type(listener).__name__, hook)

    def started(self, info: dict[str, Any]) -> None:
        """Fan out ``started``."""
        self._each("started", info)

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Fan out ``ready``."""
        self._each("ready", notes, now_ms)

    def tick(self, now_ms: int) -> None:
        """Fan out ``tick``."""
        self._each("tick", now_ms)

    def price(self, price: float, now_ms: int) -> None:
        """Fan out ``price``."""
        self._each("price", price, now_ms)

    def candle(self, event: CandleEvent) -> None:
        """Fan out ``candle``."""
        self._each("candle", event)

    def fill(self, row: Any) -> None:
        """Fan out ``fill``."""
        self._each("fill", row)

    def stopped(self, summary: str, now_ms: int) -> None:
        """Fan out ``stopped``."""
        self._each("stopped", summary, now_ms)

    def close(self) -> None:
        """Fan out ``close``."""
        self._each("close")


class ObservedJournal:
    """A trade journal that reports each newly appended row to ``on_fill``.

    Wraps the real journal so the position manager needs no hook of its own; every other
    attribute is the wrapped journal's.
    """

    def __init__(self, journal: Any, on_fill: Callable[[Any], None]) -> None:
        self._journal = journal
        self._on_fill = on_fill

    def append(self, row: Any) -> bool:
        """Append through the real journal; report the row when it was new."""
        added = self._journal.append(row)
        if added:
            self._on_fill(row)
        return added

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)
