"""Storing the bot's candles with no silent gap: back-fill what the window no longer holds.

The window (``bot.window``) holds the last ``HISTORY_CANDLES`` closed candles, which is all
the strategy needs. The candle file is the backtesting source and must hold every closed
candle the exchange has, so after a stall longer than the window (an outage, a frozen
process, a full disk) the candles between the file's last row and the window's first are
paged from the exchange exactly as ``download`` does (at most ``PAGES_PER_CYCLE`` pages a
cycle), then the window is appended. A stretch the exchange itself has no candles for is
logged once, when it is stored.
See docs/decisions/0092-candle-back-fill.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS
from core.lognames import EVENTS_LOGGER
from exchange.client import MAX_KLINES
from exchange.download import DownloadInterrupted, download_candles
from exchange.validation import describe_time
from storage.candles import (
    append_candles,
    last_stored_timestamp,
    replace_last_row,
    stored_last_row,
)

log = logging.getLogger(EVENTS_LOGGER)

# A gap of years (an old data folder) is filled over several cycles, this many 1000-candle
# pages each, so one cycle never spends minutes downloading before its signal.
PAGES_PER_CYCLE = 10


@dataclass
class StoreResult:
    """What one cycle stored: window rows appended, candles back-filled before the window,
    and whether the file is now complete up to the window's last candle."""

    appended: int = 0
    backfilled: int = 0
    complete: bool = True


class CandleRecorder:
    """Appends each cycle's window to the candle file, back-filling any gap first."""

    def __init__(self, client: Any, path: Path, timeframe_ms: int,
                 pages_per_cycle: int = PAGES_PER_CYCLE) -> None:
        if pages_per_cycle < 1:
            raise ValueError(f"pages_per_cycle must be at least 1, got {pages_per_cycle}")
        self.client = client
        self.path = Path(path)
        self.timeframe_ms = timeframe_ms
        self.pages_per_cycle = pages_per_cycle

    def store(self, frame: pd.DataFrame) -> StoreResult:
        """Back-fill the candles between the file's last row and ``frame``, then append it.

        When the back-fill cannot finish (the exchange became unavailable or sent bad
        candles) the window is not appended either: the next cycle resumes from the file's
        last row, so the gap is filled later rather than sealed in.
        """
        tf = self.timeframe_ms
        self._check_last_row(frame)
        before = last_stored_timestamp(self.path)
        first = int(frame["timestamp"].iloc[0])
        backfilled = 0
        if before is not None and first > before + tf:
            until = min(first, before + tf + self.pages_per_cycle * MAX_KLINES * tf)
            try:
                fill = download_candles(self.client, self.path, before + tf, until)
            except DownloadInterrupted as exc:
                log.warning("Back-fill of the candles missed since %s stopped after %d"
                            " (%s); it resumes next cycle", describe_time(before),
                            exc.result.rows_written, exc.cause)
                return StoreResult(backfilled=exc.result.rows_written, complete=False)
            backfilled = fill.rows_written
            left = (first - until) // tf
            if backfilled:
                more = f"; {left} more to go, next cycle" if left else ""
                log.info("Back-filled %d closed candles (%s to %s) that closed while the bot"
                         " was not storing them%s", backfilled, describe_time(fill.first_ms),
                         describe_time(fill.last_ms), more)
            for gap in fill.gaps:
                self._log_hole(gap.start_ms, gap.end_ms)
            if left:
                # The window waits until the gap before it is filled, so none is sealed in.
                return StoreResult(backfilled=backfilled, complete=False)
        # Only a back-fill moves the file's end between here and ``before``: no second read.
        stored = last_stored_timestamp(self.path) if backfilled else before
        appended = append_candles(self.path, frame)
        previous = stored
        for stamp in frame["timestamp"]:
            stamp = int(stamp)
            if previous is not None and stamp > previous + tf:
                self._log_hole(previous + tf, stamp)
            previous = stamp if previous is None else max(previous, stamp)
        return StoreResult(appended=appended, backfilled=backfilled)

    def _check_last_row(self, frame: pd.DataFrame) -> None:
        """Replace the file's last row when the exchange's candle at that time differs."""
        stored = stored_last_row(self.path)
        if stored is None:
            return
        hits = np.flatnonzero(frame["timestamp"].to_numpy() == int(stored[0]))
        if hits.size == 0:
            return
        fresh = [float(frame[name].to_numpy()[hits[0]]) for name in CANDLE_COLUMNS]
        if fresh == stored:
            return
        same = frame.iloc[hits[:1]]
        log.warning("The candle file's last row (%s) differs from the exchange's candle at that"
                    " time (stored %s, exchange %s): a row cut short that looked whole; replaced"
                    " it with the exchange's", describe_time(int(stored[0])), stored[1:],
                    fresh[1:])
        replace_last_row(self.path, same.head(1))

    def _log_hole(self, start_ms: int, end_ms: int) -> None:
        """One line for a stretch [start, end) the exchange has no candles for, as stored."""
        missing = (end_ms - start_ms) // self.timeframe_ms
        log.warning("The exchange has no candles from %s to %s (%d candles); the candle file"
                    " has the same gap", describe_time(start_ms),
                    describe_time(end_ms - self.timeframe_ms), missing)
