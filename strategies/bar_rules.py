"""The five strategies that read whole bars: TradingView's Supertrend, Bollinger Bands,
Keltner Channels, ChannelBreakOut and BarUpDn built-ins.

Each rule is a pure function of the bars and the parameters returning its indicator columns
plus ``signal`` (market entries) and, for the stop-entry ones, the order columns of
``strategies.orders``. The Pine v6 sources in ``strategies/pine/`` state the same rules.
Comparisons a script writes (``close < ma``) use Pine's 1e-10 tolerance; the ``ta.*``
built-ins compare exactly.
"""

from __future__ import annotations

import numpy as np

from strategies.bars import Bars
from strategies.channels import atr, bb, change, highest, lowest, supertrend
from strategies.indicators import PINE_EPSILON, crossover, crossunder, ema
from strategies.orders import stop_entry_columns
from strategies.params import Params
from strategies.rules import to_signal

Columns = dict[str, np.ndarray]


def _less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A script's ``a < b``: true only below ``b - 1e-10``; na is false."""
    with np.errstate(invalid="ignore"):
        return (a - b) < -PINE_EPSILON


def _greater(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A script's ``a > b``: true only above ``b + 1e-10``; na is false."""
    with np.errstate(invalid="ignore"):
        return (a - b) > PINE_EPSILON


def _at_least(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A script's ``a >= b`` (not ``a < b``); na is false."""
    with np.errstate(invalid="ignore"):
        return (a - b) >= -PINE_EPSILON


def supertrend_strategy(bars: Bars, p: Params) -> Columns:
    """Supertrend Strategy: long when the direction turns down-to-up (change < 0), short when
    it turns up-to-down (change > 0). Market orders."""
    line, direction = supertrend(bars.high, bars.low, bars.close, p["SUPERTREND_FACTOR"],
                                 int(p["SUPERTREND_ATR"]))
    turn = change(direction)
    signal = to_signal(_less(turn, np.zeros(1)), _greater(turn, np.zeros(1)))
    return {"supertrend": line, "direction": direction, "signal": signal}


def supertrend_warmup(p: Params) -> int:
    """The ATR starts on bar n-1 (the line one bar later for n = 1); a turn needs one more."""
    return int(max(p["SUPERTREND_ATR"], 2)) + 1


def bollinger_strategy(bars: Bars, p: Params) -> Columns:
    """Bollinger Bands Strategy: on a close crossing over the lower band a buy stop at the
    lower band, else cancel it; on a close crossing under the upper band a sell stop at the
    upper band, else cancel it; both in one OCA cancel group."""
    basis, upper, lower = bb(bars.close, int(p["BB_LENGTH"]), p["BB_MULT"])
    buy = crossover(bars.close, lower)
    sell = crossunder(bars.close, upper)
    columns = stop_entry_columns(buy, lower, ~buy, sell, upper, ~sell)
    return {"basis": basis, "upper": upper, "lower": lower, **columns}


def bollinger_warmup(p: Params) -> int:
    """The bands start on bar n-1; their first cross one bar later."""
    return int(p["BB_LENGTH"]) + 1


def _carried(flag: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``flag ? value : nz(carried[1])``: the value of the last flagged bar, 0 before any."""
    positions = np.where(flag, np.arange(flag.size), -1)
    last = np.maximum.accumulate(positions) if flag.size else positions
    return np.where(last >= 0, value[np.maximum(last, 0)], 0.0)


def keltner_strategy(bars: Bars, p: Params) -> Columns:
    """Keltner Channels Strategy (EMA basis, ATR bands): on a close crossing over the upper
    band a buy stop one tick above the high; on one crossing under the lower band a sell stop
    one tick below the low. Once a side has crossed, its stop is cancelled when the close is
    back beyond the basis or the bar reached the stop."""
    c, h, lo = bars.close, bars.high, bars.low
    ma = ema(c, int(p["KC_LENGTH"]))
    width = atr(h, lo, c, int(p["KC_ATR"]))
    upper = ma + width * p["KC_MULT"]
    lower = ma - width * p["KC_MULT"]
    cross_upper = crossover(c, upper)
    cross_lower = crossunder(c, lower)
    bprice = _carried(cross_upper, h + bars.mintick)
    sprice = _carried(cross_lower, lo - bars.mintick)
    crossed_b = np.logical_or.accumulate(cross_upper) if c.size else cross_upper
    crossed_s = np.logical_or.accumulate(cross_lower) if c.size else cross_lower
    cancel_b = crossed_b & (_less(c, ma) | _at_least(h, bprice))
    cancel_s = crossed_s & (_greater(c, ma) | _at_least(sprice, lo))
    columns = stop_entry_columns(cross_upper, bprice, cancel_b, cross_lower, sprice, cancel_s)
    return {"basis": ma, "upper": upper, "lower": lower, **columns}


def keltner_warmup(p: Params) -> int:
    """The bands need the EMA and the ATR; their first cross one bar later."""
    return int(max(p["KC_LENGTH"], p["KC_ATR"])) + 1


def channel_breakout_strategy(bars: Bars, p: Params) -> Columns:
    """ChannelBreakOutStrategy: every bar a buy stop one tick above the highest high of the
    last n bars (once n earlier closes exist) and a sell stop one tick below the lowest low
    (a market sell while that low is still na, as ``stop = na`` is in Pine)."""
    n = int(p["CHANNEL_LENGTH"])
    up = highest(bars.high, n)
    down = lowest(bars.low, n)
    size = bars.close.size
    # ``not na(close[n])``: from bar n on (a missing close in the data is na too).
    earlier = np.zeros(size, dtype=bool)
    if size > n:
        earlier[n:] = ~np.isnan(bars.close[:size - n])
    never = np.zeros(size, dtype=bool)
    columns = stop_entry_columns(earlier, up + bars.mintick, never,
                                 np.ones(size, dtype=bool), down - bars.mintick, never)
    return {"upper": up, "lower": down, **columns}


def channel_breakout_warmup(p: Params) -> int:
    """The long stop is first placed on bar n; it can fill on the next bar."""
    return int(p["CHANNEL_LENGTH"]) + 1


def barupdn_strategy(bars: Bars, p: Params) -> Columns:
    """BarUpDn Strategy: long after an up bar that opened above the previous close, short
    after a down bar that opened below it. Market orders."""
    o, c = bars.open, bars.close
    prev = np.empty_like(c)
    prev[:1] = np.nan
    prev[1:] = c[:-1]
    up = _greater(c, o) & _greater(o, prev)
    down = _less(c, o) & _less(o, prev)
    return {"signal": to_signal(up, down)}


def barupdn_warmup(p: Params) -> int:
    """The rule compares with the previous close: two bars."""
    return 2
