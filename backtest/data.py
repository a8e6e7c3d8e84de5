"""Candles for a backtest: the bot's candle CSV, or a TradingView chart export.

The candle CSV (``timestamp,open,high,low,close,volume``) goes through
``storage.candles.read_candles``. A TradingView chart export (``time,open,high,low,close[,Volume]``
with Unix seconds or ISO dates with offsets) is accepted too, so a chart and its strategy's
trade list can be compared as exported; it is checked by the same ``candle_problem`` rules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.candles import CANDLE_COLUMNS, CandleFileError, candle_problem
from storage.candle_cache import cached_read
from storage.candles import read_candles


def _chart_export(path: Path) -> pd.DataFrame | None:
    """The candles of a TradingView chart export, or None when the file is not one."""
    with path.open(encoding="utf-8-sig") as handle:
        columns = [c.strip().lower() for c in handle.readline().split(",")]
    if "time" not in columns or not {"open", "high", "low", "close"} <= set(columns):
        return None
    raw = pd.read_csv(path, encoding="utf-8-sig")
    raw.columns = [c.strip().lower() for c in raw.columns]
    time = raw["time"]
    if pd.api.types.is_numeric_dtype(time):
        stamps = time.to_numpy(dtype="int64") * 1000  # TradingView writes Unix seconds
    else:
        parsed = pd.to_datetime(time, utc=True, errors="coerce", format="ISO8601")
        if parsed.isna().any():
            row = int(parsed.isna().to_numpy().argmax())
            raise CandleFileError(f"{path} line {row + 2}: time {time.iloc[row]!r} is not a date")
        stamps = (parsed.astype("int64") // 1_000_000).to_numpy()
    frame = pd.DataFrame({"timestamp": stamps})
    for col in CANDLE_COLUMNS[1:]:
        values = raw[col] if col in raw.columns else pd.Series(0.0, index=raw.index)
        frame[col] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    problem = candle_problem(frame)
    if problem is not None:
        row, reason = problem
        raise CandleFileError(f"{path} line {row + 2}: {reason}; fix or remove that row")
    return frame


def load_candles(path: str | Path) -> pd.DataFrame:
    """The candle frame of a candle CSV or of a TradingView chart export.

    A large file is served from its columnar copy (``storage.candle_cache``) while unchanged.
    Raises CandleFileError (one line) when the file is neither or breaks the candle rules.
    """
    return cached_read(Path(path), _parse_candles)


def _parse_candles(path: Path) -> pd.DataFrame:
    """The candle frame parsed from the file itself (no cache)."""
    try:
        return read_candles(path)
    except CandleFileError:
        if not path.is_file():
            raise
        try:
            frame = _chart_export(path)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError):
            frame = None
        if frame is None:
            raise
        return frame
