"""The exchange's trading day, for ``strategy.risk.max_intraday_loss``.

TradingView's day is the symbol's trading day: for 24/7 crypto the calendar day in the
exchange's zone (UTC for Binance), for FX the session that opens at 17:00 New York time. A day
is given as ``"HH:MM ZONE"`` (``"00:00 UTC"``, ``"17:00 America/New_York"``): the local time
at which a new trading day starts.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from backtest.engine import BacktestError

DEFAULT_DAY_START = "00:00 UTC"


def parse_day_start(text: str) -> tuple[str, int]:
    """``"17:00 America/New_York"`` -> ("America/New_York", 1020 minutes); BacktestError
    (one line) when malformed or the zone is unknown."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s+(\S+)\s*", str(text))
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise BacktestError(f"day start {text!r} is not 'HH:MM ZONE' (e.g. '00:00 UTC' or"
                            " '17:00 America/New_York')")
    zone = match.group(3)
    try:
        pd.Timestamp(0, tz=zone)
    except Exception:  # zoneinfo/pytz raise several types for unknown names
        raise BacktestError(f"day start {text!r}: unknown time zone {zone!r}; use an IANA"
                            " name such as UTC or America/New_York") from None
    return zone, int(match.group(1)) * 60 + int(match.group(2))


def day_numbers(timestamps_ms: np.ndarray, day_start: str = DEFAULT_DAY_START) -> np.ndarray:
    """The trading day (days since 1970 of its local start) of each bar's open time."""
    zone, minutes = parse_day_start(day_start)
    stamps = pd.to_datetime(np.asarray(timestamps_ms, dtype=np.int64), unit="ms", utc=True)
    local = stamps.tz_convert(zone).tz_localize(None) - pd.Timedelta(minutes=minutes)
    return (local.floor("D").asi8 // 86_400_000_000_000).astype(np.int64)
