"""Our rsi and macd signals reproduce TradingView's built-in strategies' trade lists.

``rsi_trades.csv`` / ``macd_trades.csv`` are Strategy Tester "List of trades" exports of the
built-in RSI Strategy (14/30/70) and MACD Strategy (12/26/9) run on ``ohlcv.csv`` (EURUSD 1h,
23,054 bars, chart time US/Eastern). TradingView's engine fills a market order at the open of
the bar after the signal bar; a signal in the direction already held is ignored (pyramiding
0) and the opposite signal reverses. Filtering our signals that way must give every entry
time and direction of both exports, and no other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.registry import STRATEGIES
from tests.conftest import require_tv_reference


def parse_time(text: pd.Series) -> pd.Series:
    """Export or chart times (``2022-01-05T17:00:00-0500``, ``...-05:00``, ``2022-01-05 17:00``)
    as UTC epoch milliseconds; a time without an offset is taken as UTC."""
    stamps = pd.to_datetime(text, utc=True, format="ISO8601")
    return stamps.astype("int64") // 1_000_000


def read_ohlcv(path) -> pd.DataFrame:
    """TradingView's chart export (``time`` ISO with offset, ``Volume``) as a candle frame."""
    raw = pd.read_csv(path)
    frame = pd.DataFrame({"timestamp": parse_time(raw["time"]).to_numpy(dtype=np.int64)})
    for column in ("open", "high", "low", "close"):
        frame[column] = raw[column].to_numpy(dtype=np.float64)
    frame["volume"] = raw["Volume"].to_numpy(dtype=np.float64)
    return frame


def read_entries(path) -> list[tuple[int, str]]:
    """(entry time ms, "long"|"short") per trade of a "List of trades" export.

    Works with both header layouts (``Trade #,Type,Date/Time,Signal,...`` and the older
    ``Trade #,Type,Signal,Date/Time,...``) and either row order, keyed by ``Trade #``.
    """
    raw = pd.read_csv(path)
    entries = raw[raw["Type"].str.startswith("Entry")].copy()
    entries["ms"] = parse_time(entries["Date/Time"]).to_numpy()
    entries = entries.sort_values("Trade #")
    sides = entries["Type"].str.split().str[1].str.lower()
    return list(zip(entries["ms"].tolist(), sides.tolist(), strict=True))


def tradingview_entries(frame: pd.DataFrame, signal: np.ndarray) -> list[tuple[int, str]]:
    """Entries TradingView's engine makes from bar signals (next-bar open, reverse, no pyramid)."""
    held = 0
    entries = []
    stamps = frame["timestamp"].to_numpy()
    for bar in np.flatnonzero(signal):
        wanted = int(signal[bar])
        if wanted == held or bar + 1 >= len(frame):
            continue
        held = wanted
        entries.append((int(stamps[bar + 1]), "long" if wanted == 1 else "short"))
    return entries


@pytest.mark.parametrize(
    "strategy, export, count",
    [("rsi", "rsi_trades.csv", 194), ("macd", "macd_trades.csv", 1808)],
)
def test_signals_give_every_tradingview_entry_and_no_other(strategy, export, count):
    """
    Given TradingView's trade list of its built-in strategy on 23,054 EURUSD 1h bars
    When our strategy's signals on the same bars are filled the way TradingView fills them
    Then the entries (time and direction) are exactly the exported ones, all of them
    """
    frame = read_ohlcv(require_tv_reference("ohlcv.csv"))
    expected = read_entries(require_tv_reference(export))
    assert len(frame) == 23_054 and len(expected) == count  # SOURCE.md says 23,053
    signal = STRATEGIES[strategy].compute(frame)["signal"].to_numpy()
    assert tradingview_entries(frame, signal) == expected


def test_fill_model_ignores_repeats_reverses_and_drops_a_last_bar_signal():
    """
    Given signals BUY, BUY, SELL, HOLD, BUY on bars 0-4, the last one on the final bar
    When they are turned into TradingView entries
    Then the second BUY is ignored, the SELL reverses at the next open, the last BUY never fills
    """
    frame = pd.DataFrame({"timestamp": [0, 10, 20, 30, 40]})
    entries = tradingview_entries(frame, np.array([1, 1, -1, 0, 1]))
    assert entries == [(10, "long"), (30, "short")]


def test_export_parsers_read_both_header_layouts(tmp_path):
    """
    Given a current export and an older one (Signal before Date/Time, rows in any order)
    When the entries are read
    Then both give the same (UTC ms, side) list sorted by trade number
    """
    current = tmp_path / "current.csv"
    current.write_text(
        "Trade #,Type,Date/Time,Signal,Price USD\n"
        "1,Entry short,2022-01-05T17:00:00-0500,MacdSE,1.1\n"
        "1,Exit short,2022-01-06T09:00:00-0500,MacdLE,1.2\n"
        "2,Entry long,2022-01-06T09:00:00-0500,MacdLE,1.2\n"
    )
    older = tmp_path / "older.csv"
    older.write_text(
        "Trade #,Type,Signal,Date/Time,Price USD,Contracts\n"
        "2,Entry long,MacdLE,2022-01-06 14:00,1.2,1\n"
        "1,Exit short,MacdLE,2022-01-06 14:00,1.2,1\n"
        "1,Entry short,MacdSE,2022-01-05 22:00,1.1,1\n"
    )
    expected = [(1641420000000, "short"), (1641477600000, "long")]
    assert read_entries(current) == expected
    assert read_entries(older) == expected
