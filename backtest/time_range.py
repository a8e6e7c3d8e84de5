"""``--from`` / ``--to``: part of a candle file, with the indicators warmed up on what precedes it.

A strategy's output at a candle depends only on that candle and the ones before it, but on
all of them for the recursive indicators (EMA, RMA, RSI, MACD): a warm-up of "N candles" is
never exact. So the signals are computed on every candle from the file's start up to ``--to``
and only then cut at ``--from`` (``cut_at``): each indicator value and signal inside the range
is bit for bit what a run over the whole file gives, whatever the cut.

``--from`` is inclusive and ``--to`` exclusive (candles that open at or after FROM and before
TO), like Python slices and freqtrade's ``--timerange``: ``--from 2024-01-01 --to 2024-02-01``
is January. Dates are midnight UTC; datetimes without an offset are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd


class TimeRangeError(ValueError):
    """A bad ``--from`` / ``--to`` value or a range holding no candle; one line for the user."""


def parse_utc(text: str, flag: str) -> int:
    """Epoch ms of ``2024-01-31``, ``2024-01-31T12:30``, ``2024-01-31 12:30:00Z`` (UTC)."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        raise TimeRangeError(
            f"{flag} {text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _utc(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class TimeRange:
    """Candles opening in ``[start_ms, end_ms)``; None leaves that side open."""

    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def from_flags(cls, start: str | None, end: str | None) -> TimeRange:
        """The range of ``--from`` / ``--to`` texts; TimeRangeError when bad or reversed."""
        lo = None if start is None else parse_utc(start, "--from")
        hi = None if end is None else parse_utc(end, "--to")
        if lo is not None and hi is not None and lo >= hi:
            raise TimeRangeError(f"--from {start} is not before --to {end}; swap them")
        return cls(lo, hi)

    @property
    def is_whole(self) -> bool:
        """True when neither side is set (the whole file)."""
        return self.start_ms is None and self.end_ms is None

    def describe(self) -> str:
        """``2024-01-01 00:00 UTC to 2024-02-01 00:00 UTC`` (open sides as 'start' / 'end')."""
        lo = "the file's start" if self.start_ms is None else _utc(self.start_ms)
        hi = "the file's end" if self.end_ms is None else _utc(self.end_ms)
        return f"{lo} to {hi}"


@dataclass(frozen=True)
class WarmSlice:
    """The candles up to the range's end (warm-up included) and where the range starts."""

    candles: pd.DataFrame
    first: int

    def cut(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of a frame aligned with ``candles`` (e.g. the strategy's output) in range."""
        return frame.iloc[self.first:].reset_index(drop=True)

    @property
    def in_range(self) -> pd.DataFrame:
        """The candles inside the range."""
        return self.cut(self.candles)


def with_warmup(candles: pd.DataFrame, time_range: TimeRange) -> WarmSlice:
    """The candles from the file's start to the range's end and the range's first index.

    Raises TimeRangeError (one line) naming the file's span when the range holds no candle.
    """
    stamps = candles["timestamp"].to_numpy()
    first = 0 if time_range.start_ms is None else int(
        np.searchsorted(stamps, time_range.start_ms, side="left"))
    stop = len(stamps) if time_range.end_ms is None else int(
        np.searchsorted(stamps, time_range.end_ms, side="left"))
    if stop <= first:
        span = "no candle at all" if not len(stamps) else \
            f"candles from {_utc(stamps[0])} to {_utc(stamps[-1])}"
        raise TimeRangeError(
            f"no candle opens from {time_range.describe()}; the file holds {span}")
    upto = candles if stop == len(stamps) else candles.iloc[:stop].reset_index(drop=True)
    return WarmSlice(upto, first)


def in_range(stamps: np.ndarray, time_range: TimeRange) -> np.ndarray:
    """A boolean mask of the epoch-ms ``stamps`` inside the range."""
    stamps = np.asarray(stamps)
    mask = np.ones(stamps.shape, dtype=bool)
    if time_range.start_ms is not None:
        mask &= stamps >= time_range.start_ms
    if time_range.end_ms is not None:
        mask &= stamps < time_range.end_ms
    return mask


def add_range_arguments(parser) -> None:
    """``--from`` / ``--to`` on a command's parser (backtest, signals, compare, optimize)."""
    parser.add_argument("--from", dest="start", default=None, metavar="WHEN",
                        help="first candle: a UTC date or datetime, inclusive (e.g. 2024-01-01"
                             " or 2024-01-01T12:00); indicators warm up on the candles before")
    parser.add_argument("--to", dest="end", default=None, metavar="WHEN",
                        help="end: candles opening before this UTC date or datetime (exclusive,"
                             " so --from 2024-01-01 --to 2024-02-01 is January)")
