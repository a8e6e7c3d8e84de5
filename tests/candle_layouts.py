"""Writers of the candle file layouts users bring, for the reader's tests and scenarios.

Each writer puts a candle frame (``core.candles``) into one layout exactly as the tool that
makes it would (TradingView, freqtrade, Binance's public data, spreadsheet exports), so the
tests read back files of the real shapes without shipping third-party data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from backtest.synthetic import synthetic_candles


def candles(n: int = 60, step_ms: int = 300_000, seed: int = 3) -> pd.DataFrame:
    """Seeded candles rounded to cents, as an exchange would store them."""
    frame = synthetic_candles(n, seed=seed, step_ms=step_ms)
    frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].round(2)
    frame["volume"] = frame["volume"].round(5)
    return frame


def _iso(frame: pd.DataFrame, tz: str = "UTC", fmt: str | None = None) -> pd.Series:
    times = pd.to_datetime(frame["timestamp"], unit="ms", utc=True).dt.tz_convert(tz)
    return times.dt.strftime(fmt) if fmt else times.map(lambda t: t.isoformat())


def project_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def tradingview_seconds(frame: pd.DataFrame, path: Path) -> None:
    out = frame.rename(columns={"volume": "Volume"}).copy()
    out.insert(0, "time", out.pop("timestamp") // 1000)
    out["MA"] = out["close"].rolling(3).mean()  # an indicator column, as TradingView adds
    out.to_csv(path, index=False, lineterminator="\n", na_rep="NaN")


def tradingview_iso(frame: pd.DataFrame, path: Path) -> None:
    out = frame.rename(columns={"volume": "Volume"}).copy()
    out.insert(0, "time", _iso(frame, "America/New_York"))
    out.drop(columns="timestamp").to_csv(path, index=False, lineterminator="\n")


def freqtrade_json(frame: pd.DataFrame, path: Path) -> None:
    path.write_text(json.dumps(frame.values.tolist()))


def freqtrade_feather(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    out.insert(0, "date", pd.to_datetime(out.pop("timestamp"), unit="ms", utc=True))
    out.to_feather(path, compression="lz4")


def _binance_rows(frame: pd.DataFrame, unit: int) -> pd.DataFrame:
    step = int(frame["timestamp"].diff().iloc[1])
    out = pd.DataFrame({"open_time": frame["timestamp"] * unit})
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = frame[col].map(lambda v: f"{v:.8f}")
    out["close_time"] = (frame["timestamp"] + step - 1) * unit
    out["quote_volume"] = (frame["volume"] * frame["close"]).map(lambda v: f"{v:.8f}")
    out["count"] = 100
    out["taker_buy_volume"] = "0.00000000"
    out["taker_buy_quote_volume"] = "0.00000000"
    out["ignore"] = 0
    return out


def binance_ms(frame: pd.DataFrame, path: Path) -> None:
    _binance_rows(frame, 1).to_csv(path, index=False, header=False, lineterminator="\n")


def binance_us(frame: pd.DataFrame, path: Path) -> None:
    _binance_rows(frame, 1000).to_csv(path, index=False, header=False, lineterminator="\n")


def date_ohlcv_comma(frame: pd.DataFrame, path: Path) -> None:
    out = frame.rename(columns=str.capitalize).copy()
    out.insert(0, "Date", _iso(frame, fmt="%Y-%m-%d %H:%M:%S"))
    out.drop(columns="Timestamp").to_csv(path, index=False, lineterminator="\n")


def date_ohlcv_semicolon(frame: pd.DataFrame, path: Path) -> None:
    out = frame.rename(columns=str.capitalize).copy()
    out.insert(0, "Date", _iso(frame, fmt="%Y-%m-%dT%H:%M:%SZ"))
    out.drop(columns="Timestamp").to_csv(path, index=False, sep=";", decimal=",",
                                          lineterminator="\n")


LAYOUTS: dict[str, tuple[str, Callable[[pd.DataFrame, Path], None]]] = {
    "the project's CSV": ("candles.csv", project_csv),
    "a TradingView chart export in Unix seconds": ("chart.csv", tradingview_seconds),
    "a TradingView chart export with New York times": ("chart_ny.csv", tradingview_iso),
    "a freqtrade json file": ("BTC_USDT-5m.json", freqtrade_json),
    "a freqtrade feather file": ("BTC_USDT-5m.feather", freqtrade_feather),
    "a Binance kline CSV in milliseconds": ("BTCUSDT-5m-2024-01.csv", binance_ms),
    "a Binance kline CSV in microseconds": ("BTCUSDT-5m-2025-01.csv", binance_us),
    "a Date,Open,High,Low,Close,Volume CSV": ("yahoo.csv", date_ohlcv_comma),
    "a semicolon CSV with decimal commas": ("excel.csv", date_ohlcv_semicolon),
}


def write_layout(layout: str, frame: pd.DataFrame, folder: Path) -> Path:
    """Write ``frame`` in the named layout into ``folder``; return the file's path."""
    name, writer = LAYOUTS[layout]
    path = folder / name
    writer(frame, path)
    return path
