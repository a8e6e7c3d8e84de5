"""Parity with TradingView's own indicator exports (EURUSD, PyneCore's fixtures).

The exports are vendored in ``tests/fixtures/tradingview`` with their notice.

Export layout: ``time`` (Unix seconds), ``open, high, low, close`` (and ``Volume``), then one
column per plotted expression, named by the expression (``ta.sma(hl2, 20)``), NaN where the
value is na. In ``cross.csv`` the three boolean columns are plotted as numbers: ``ta.cross``
as 0.5 when true, ``ta.crossover`` as 1 and ``ta.crossunder`` as -1, 0 otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import indicators as ta
from tests.tv_support import assert_parity, load


def sources(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pine's built-in price sources, in Pine's evaluation order."""
    o, h, low, c = (frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    return {
        "close": c,
        "high": h,
        "hl2": (h + low) / 2,
        "hlc3": (h + low + c) / 3,
        "ohlc4": (o + h + low + c) / 4,
        "hlcc4": (h + low + c + c) / 4,
    }


@pytest.mark.parametrize(
    "column, function, source, length",
    [
        ("ta.sma(close, 10)", ta.sma, "close", 10),
        ("ta.sma(hl2, 20)", ta.sma, "hl2", 20),
        ("ta.sma(hlc3, 15)", ta.sma, "hlc3", 15),
        ("ta.ema(close, 20)", ta.ema, "close", 20),
        ("ta.ema(ohlc4, 10)", ta.ema, "ohlc4", 10),
        ("ta.rma(hlcc4, 5)", ta.rma, "hlcc4", 5),
        ("ta.rma(high, 15)", ta.rma, "high", 15),
    ],
)
def test_moving_averages_match_tradingview(column, function, source, length):
    """
    Given TradingView's export of a moving average on 150 EURUSD bars (ma.csv)
    When our function computes it from the same bars
    Then the na warm-up is the same bar for bar and every value is within 1e-9
    """
    frame = load("ma.csv")
    assert_parity(function(sources(frame)[source], length), frame[column])


def test_macd_line_signal_and_histogram_match_tradingview():
    """
    Given TradingView's export of ta.macd(close, 12, 26, 9) on 200 bars (macd.csv)
    When our macd computes it
    Then line, signal and histogram have the same na bars and are within 1e-9
    """
    frame = load("macd.csv")
    line, signal, hist = ta.macd(frame["close"], 12, 26, 9)
    assert_parity(line, frame["ta.macd(close, 12, 26, 9).macd"])
    assert_parity(signal, frame["ta.macd(close, 12, 26, 9).signal"])
    assert_parity(hist, frame["ta.macd(close, 12, 26, 9).hist"])


def test_rsi_matches_tradingview():
    """
    Given TradingView's export of ta.rsi(close, 14) on 200 bars (mfi+rsi+stoch.csv)
    When our rsi computes it
    Then the first value is on bar 14 as there and every value is within 1e-9
    """
    frame = load("mfi+rsi+stoch.csv")
    ours = ta.rsi(frame["close"], 14)
    assert_parity(ours, frame["ta.rsi(close, 14)"])
    assert np.flatnonzero(~np.isnan(ours))[0] == 14


def test_ema_crossings_match_tradingview_event_for_event():
    """
    Given TradingView's cross/crossover/crossunder of ema(close, 5) vs ema(close, 11) (cross.csv)
    When our crossover and crossunder evaluate the same EMAs
    Then the events are on exactly the same bars (5 up, 5 down)
    """
    frame = load("cross.csv")
    fast, slow = ta.ema(frame["close"], 5), ta.ema(frame["close"], 11)
    up, down = ta.crossover(fast, slow), ta.crossunder(fast, slow)
    assert np.array_equal(up, frame["ta.crossover(ema1, ema2)"].to_numpy() == 1)
    assert np.array_equal(down, frame["ta.crossunder(ema1, ema2)"].to_numpy() == -1)
    assert np.array_equal(up | down, frame["ta.cross(ema1, ema2)"].to_numpy() == 0.5)
    assert up.sum() == 5 and down.sum() == 5
