"""Storing the bot's candles with no silent gap: back-fill what the window no longer holds.

The window (``bot.window``) holds the last ``HISTORY_CANDLES`` closed candles, which is all
the strategy needs. The candle file is the backtesting source and must hold every closed
candle the exchange has, so after a stall longer than the window (an outage, a frozen
process, a full disk) the candles between the file's last row and the window's first are
paged from the exchange exactly as ``download`` does, then the window is appended. A stretch
the exchange itself has no candles for is logged once, when it is stored.
See docs/decisions/0092-candle-back-fill.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from exchange.download import DownloadInterrupted, download_candles
from exchange.validation import describe_time
from storage.candles import append_candles, last_stored_timestamp

log = logging.getLogger("paperbot")


@dataclass
class StoreResult:
    """What one cycle stored: window rows appended, candles back-filled before the window,
    and whether the file is now complete up to the window's last candle."""

    appended: int = 0
    backfilled: int = 0
    complete: bool = True


class CandleRecorder:
    """Appends each cycle's window to the candle file, back-filling any gap first."""

    def __init__(self, client: Any, path: Path, timeframe_ms: int) -> None:
        self.client = client
        self.path = Path(path)
        self.timeframe_ms = timeframe_ms

    def store(self, frame: pd.DataFrame) -> StoreResult:
        """Back-fill the candles between the file's last row and ``frame``, then append it.

        When the back-fill cannot finish (the exchange became unavailable or sent bad
        candles) the window is not appended either: the next cycle resumes from the file's
        last row, so the gap is filled later rather than sealed in.
        """
        tf = self.timeframe_ms
        before = last_stored_timestamp(self.path)
        first = int(frame["timestamp"].iloc[0])
        backfilled = 0
        if before is not None and first > before + tf:
            try:
                fill = download_candles(self.client, self.path, before + tf, first)
            except DownloadInterrupted as exc:
                log.warning("Back-fill of the candles missed since %s stopped after %d"
                            " (%s); it resumes next cycle", describe_time(before),
                            exc.result.rows_written, exc.cause)
                return StoreResult(backfilled=exc.result.rows_written, complete=False)
            backfilled = fill.rows_written
            if backfilled:
                log.info("Back-filled %d closed candles (%s to %s) that closed while the bot"
                         " was not storing them", backfilled, describe_time(fill.first_ms),
                         describe_time(fill.last_ms))
            for gap in fill.gaps:
                self._log_hole(gap.start_ms, gap.end_ms)
        stored = last_stored_timestamp(self.path)
        appended = append_candles(self.path, frame)
        previous = stored
        for stamp in frame["timestamp"]:
            stamp = int(stamp)
            if previous is not None and stamp > previous + tf:
                self._log_hole(previous + tf, stamp)
            previous = stamp if previous is None else max(previous, stamp)
        return StoreResult(appended=appended, backfilled=backfilled)

    def _log_hole(self, start_ms: int, end_ms: int) -> None:
        """One line for a stretch [start, end) the exchange has no candles for, as stored."""
        missing = (end_ms - start_ms) // self.timeframe_ms
        log.warning("The exchange has no candles from %s to %s (%d candles); the candle file"
                    " has the same gap", describe_time(start_ms),
                    describe_time(end_ms - self.timeframe_ms), missing)
