"""The four strategies' signal rules: pure functions of the close prices and the parameters.

Each returns its indicator columns plus ``signal`` (int8: 1 BUY, -1 SELL, 0 HOLD), and each
has a ``*_warmup`` giving the bars needed before its first possible signal. The Pine sources in
``strategies/pine/`` state the same rules for TradingView.
"""

from __future__ import annotations

import numpy as np

from strategies.indicators import (
    crossover,
    crossunder,
    macd,
    pine_greater,
    pine_less,
    rsi,
    smas,
)
from strategies.params import Params, period

Columns = dict[str, np.ndarray]


def to_signal(buy: np.ndarray, sell: np.ndarray) -> np.ndarray:
    """1 where ``buy``, -1 where ``sell``, else 0, as int8 (a bar never holds both here)."""
    return (buy.astype(np.int8) - sell.astype(np.int8)).astype(np.int8)


def ma2line(close: np.ndarray, p: Params) -> Columns:
    """MovingAvg2Line Cross: BUY when SMA(fast) crosses over SMA(slow), SELL when under."""
    fast, slow = smas(close, period(p, "MA_FAST"), period(p, "MA_SLOW"))
    signal = to_signal(crossover(fast, slow), crossunder(fast, slow))
    return {"ma_fast": fast, "ma_slow": slow, "signal": signal}


def ma2line_warmup(p: Params) -> int:
    """The slow SMA is first defined on bar slow-1; a cross needs the bar before it too."""
    return max(period(p, "MA_FAST"), period(p, "MA_SLOW")) + 1


def rsi_strategy(close: np.ndarray, p: Params) -> Columns:
    """RSI Strategy: BUY when RSI crosses over oversold, SELL when it crosses under overbought."""
    value = rsi(close, period(p, "RSI_PERIOD"))
    buy = crossover(value, p["RSI_OVERSOLD"])
    sell = crossunder(value, p["RSI_OVERBOUGHT"])
    return {"rsi": value, "signal": to_signal(buy, sell)}


def rsi_warmup(p: Params) -> int:
    """RSI(n) is first defined on bar n; its first cross can come one bar later."""
    return period(p, "RSI_PERIOD") + 2


def macd_strategy(close: np.ndarray, p: Params) -> Columns:
    """MACD Strategy: delta = MACD - signal; BUY when delta crosses over 0, SELL when under."""
    line, signal_line, delta = macd(close, period(p, "MACD_FAST"), period(p, "MACD_SLOW"),
                                    period(p, "MACD_SIGNAL"))
    signal = to_signal(crossover(delta, 0.0), crossunder(delta, 0.0))
    return {"macd": line, "macd_signal": signal_line, "macd_hist": delta, "signal": signal}


def macd_warmup(p: Params) -> int:
    """The signal line starts on bar slow+signal-2; its first cross one bar later."""
    return max(period(p, "MACD_FAST"), period(p, "MACD_SLOW")) + period(p, "MACD_SIGNAL")


def sma_rsi(close: np.ndarray, p: Params) -> Columns:
    """SMA crossover filtered by RSI: BUY on crossover while RSI < overbought, SELL on
    crossunder while RSI > oversold; both comparisons with Pine's 1e-10 tolerance, na RSI
    blocks the signal."""
    short, long = smas(close, period(p, "SMA_SHORT"), period(p, "SMA_LONG"))
    value = rsi(close, period(p, "RSI_PERIOD"))
    buy = crossover(short, long) & pine_less(value, p["RSI_OVERBOUGHT"])
    sell = crossunder(short, long) & pine_greater(value, p["RSI_OVERSOLD"])
    return {"sma_short": short, "sma_long": long, "rsi": value, "signal": to_signal(buy, sell)}


def sma_rsi_warmup(p: Params) -> int:
    """The long SMA's first cross is on bar long; RSI must be defined there (bar >= period)."""
    return max(period(p, "SMA_SHORT"), period(p, "SMA_LONG"), period(p, "RSI_PERIOD")) + 1
