"""Turning raw OHLCV rows from the exchange into a clean candle frame, or saying why not.

Two layers: ``raw_row_problem`` catches what only a raw reply can get wrong (a None row, a
short row, a missing or non-numeric field, a non-integer time); ``core.candles.columns_problem``
then checks the frame rules every candle source shares (NaN, prices <= 0, high < low,
open/close outside [low, high], negative volume, non-increasing timestamps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS, candles_from_columns, columns_problem
from core.errors import ExchangeError

FIELDS = CANDLE_COLUMNS  # ccxt OHLCV order: [timestamp, open, high, low, close, volume]


class CandleDataError(ExchangeError, ValueError):
    """The exchange's candles cannot be used; the message is one line for the log."""


def describe_time(timestamp_ms: Any) -> str:
    """A candle open time as ``YYYY-MM-DD HH:MM UTC`` for messages (raw value if not a time)."""
    try:
        moment = datetime.fromtimestamp(int(timestamp_ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(timestamp_ms)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _as_number(value: Any) -> float | None:
    """``value`` as a float, or None when it is not a number (bools are not numbers here)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def raw_row_problem(row: Any) -> str | None:
    """What is wrong with one raw ``[t, o, h, l, c, v]`` row, or None when its shape is usable.

    Value rules (NaN, ordering of prices, ...) are left to ``candle_problem``, except NaN in
    the timestamp, which cannot go into an integer column.
    """
    if row is None:
        return "the candle is missing (None)"
    if isinstance(row, str | bytes) or not isinstance(row, Sequence):
        return f"the candle is not a list of fields ({type(row).__name__})"
    if len(row) < len(FIELDS):
        return f"the candle has {len(row)} field(s), expected {len(FIELDS)} (t, o, h, l, c, v)"
    for name, value in zip(FIELDS, row, strict=False):
        if value is None:
            return f"{name} is missing (None)"
        number = _as_number(value)
        if number is None:
            return f"{name} {value!r} is not a number"
        if name == "timestamp" and (not math.isfinite(number) or number != int(number)):
            return f"timestamp {value!r} is not whole epoch milliseconds"
    return None


def _row_time(row: Any) -> str:
    """`` (open time)`` of a raw row for messages, or "" when the row has no usable time."""
    if isinstance(row, str | bytes) or not isinstance(row, Sequence) or not row:
        return ""
    stamp = _as_number(row[0])
    if stamp is None or not math.isfinite(stamp) or stamp != int(stamp):
        return ""
    return f" ({describe_time(int(stamp))})"


def _parse_columns(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Raw OHLCV rows as open times (n,) int64 and open..volume (n, 5) float64 arrays.

    Raises CandleDataError naming the first row that is None, short, or has a missing or
    non-numeric field; value rules are left to ``columns_problem``.
    """
    if rows is None:
        raise CandleDataError("the exchange sent no candle list (None)")
    total = len(rows)
    for position, row in enumerate(rows):
        problem = raw_row_problem(row)
        if problem is not None:
            raise CandleDataError(f"candle {position + 1} of {total}{_row_time(row)}: {problem}")
    # every row passed raw_row_problem above, so each field is a number
    stamps = np.array([int(cast(float, _as_number(r[0]))) for r in rows], dtype="int64")
    values = np.array([[_as_number(r[i]) for i in range(1, len(FIELDS))] for r in rows],
                      dtype="float64").reshape(total, len(FIELDS) - 1)
    return stamps, values


def _raise_problem(stamps: np.ndarray, values: np.ndarray, total: int) -> None:
    """CandleDataError for the first ``columns_problem`` in the rows (a prefix of the reply)."""
    problem_at = columns_problem(stamps, values[:, :4], values[:, 4])
    if problem_at is not None:
        position, reason = problem_at
        stamp = describe_time(stamps[position])
        raise CandleDataError(f"candle {position + 1} of {total} ({stamp}): {reason}")


def rows_to_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """A validated candle frame from raw OHLCV rows; raise CandleDataError naming the bad row.

    The frame follows the storage.candles contract (int64 ``timestamp`` = open time in epoch
    ms, float64 prices and volume, strictly increasing, RangeIndex).
    """
    stamps, values = _parse_columns(rows)
    _raise_problem(stamps, values, len(stamps))
    return candles_from_columns(stamps, values)


def closed_candles(rows: Sequence[Any], timeframe_ms: int, now_ms: int) -> pd.DataFrame:
    """The closed candles of a klines reply, validated; CandleDataError naming a bad one.

    Every row must be well-formed and the times strictly increasing, but the price rules are
    applied to the closed candles only: the still-open candle is dropped unused, so a
    transient oddity in it must not cost a cycle. The checks run on arrays and the frame is
    built once, for the closed candles: this runs every cycle.
    """
    stamps, values = _parse_columns(rows)
    total = len(stamps)
    if total > 1:
        unordered = np.flatnonzero(np.diff(stamps) <= 0)
        if unordered.size:
            position = int(unordered[0]) + 1
            raise CandleDataError(
                f"candle {position + 1} of {total} ({describe_time(stamps[position])}): timestamp"
                " is not after the previous row's (unsorted or duplicate)"
            )
    closed = stamps + timeframe_ms <= now_ms
    stamps, values = stamps[closed], values[closed]
    _raise_problem(stamps, values, total)
    return candles_from_columns(stamps, values)

