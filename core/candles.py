"""The candle frame: its schema and its validity rule, shared by every layer.

A candle frame is a pandas DataFrame with the columns ``timestamp`` (int64, candle open time in
epoch milliseconds, UTC, strictly increasing), ``open``, ``high``, ``low``, ``close`` and
``volume`` (float64), on a RangeIndex. Every part of the bot, the backtester and the signals
command passes candles around in this one shape; ``storage.candles`` only reads and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.errors import CandleFileError

__all__ = ["CANDLE_COLUMNS", "PRICE_COLUMNS", "CandleFetch", "CandleFileError", "CandleSource",
           "candle_problem", "candles_from_columns", "columns_problem", "empty_candles"]

CANDLE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


def empty_candles() -> pd.DataFrame:
    """A candle frame with no rows and the right dtypes."""
    frame = pd.DataFrame({col: pd.Series(dtype="float64") for col in CANDLE_COLUMNS})
    frame["timestamp"] = frame["timestamp"].astype("int64")
    return frame


def candle_problem(frame: pd.DataFrame) -> tuple[int, str] | None:
    """The first problem in a candle frame as (row position, reason), or None when it is clean.

    Checks, in this order for each row: missing values, non-positive prices, high below low,
    open or close outside [low, high], negative volume, and a timestamp that does not increase
    strictly over the previous row's.
    """
    if len(frame) == 0:
        return None
    prices = np.column_stack([frame[name].to_numpy(dtype="float64") for name in PRICE_COLUMNS])
    return columns_problem(frame["timestamp"].to_numpy(), prices,
                           frame["volume"].to_numpy(dtype="float64"))


def columns_problem(stamps: np.ndarray, prices: np.ndarray,
                    volume: np.ndarray) -> tuple[int, str] | None:
    """``candle_problem`` on plain arrays: open times (n,), open/high/low/close (n, 4), volume.

    The exchange client checks every reply with it before any frame is built: on a few rows
    pandas costs milliseconds a cycle where numpy costs microseconds.
    """
    if len(stamps) == 0:
        return None
    checks: list[tuple[Any, str]] = []  # numpy types "array < 0" as bool | array
    missing = np.isnan(prices).any(axis=1) | np.isnan(volume)
    checks.append((missing, "a price or the volume is missing (NaN)"))
    with np.errstate(invalid="ignore"):
        checks.append(((prices <= 0).any(axis=1), "a price is zero or negative"))
        op, hi, lo, cl = prices.T
        checks.append((hi < lo, "high is below low"))
        checks.append(((op < lo) | (op > hi), "open is outside [low, high]"))
        checks.append(((cl < lo) | (cl > hi), "close is outside [low, high]"))
        checks.append((volume < 0, "volume is negative"))
    order = np.zeros(len(stamps), dtype=bool)
    order[1:] = np.diff(stamps) <= 0
    checks.append((order, "timestamp is not after the previous row's (unsorted or duplicate)"))
    first: tuple[int, str] | None = None
    for bad, reason in checks:
        hits = np.flatnonzero(bad)
        if hits.size and (first is None or hits[0] < first[0]):
            first = (int(hits[0]), reason)
    return first


def candles_from_columns(stamps: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """A candle frame from open times (n,) and open/high/low/close/volume (n, 5), built once."""
    if len(stamps) == 0:
        return empty_candles()
    columns = {"timestamp": np.asarray(stamps, dtype="int64")}
    for index, name in enumerate(CANDLE_COLUMNS[1:]):
        columns[name] = np.ascontiguousarray(values[:, index], dtype="float64")
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class CandleFetch:
    """Closed, validated candles, or the reason this cycle is skipped (exactly one is set)."""

    frame: pd.DataFrame | None
    skip_reason: str | None

    @property
    def skipped(self) -> bool:
        """True when there are no candles to act on this cycle."""
        return self.frame is None


class CandleSource(Protocol):
    """Where the bot's candle window gets closed candles: the exchange client, or a double.

    ``fetch_closed_candles`` returns the last ``limit`` closed, validated candles as a
    ``CandleFetch``; a failed or bad read is a ``CandleFetch`` with a ``skip_reason``, never an
    exception, so the loop skips the cycle and goes on.
    """

    def fetch_closed_candles(self, limit: int) -> CandleFetch:
        """The last ``limit`` closed candles, or why there are none this cycle."""
        ...
