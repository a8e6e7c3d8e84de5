"""Pine's band, range and channel built-ins against TradingView's exports and plain loops.

The exports (tests/fixtures/tradingview, EURUSD, from PyneCore's fixtures): ``bb.csv``,
``kc.csv``, ``tr.csv``, ``supertrend.csv`` (the line plotted while up / while down) and
``highest+lowest.csv``. Same na warm-up bar for bar, values within 1e-9.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from strategies import channels as ch
from tests.tv_support import assert_parity, load


def hlc(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High, low and close columns as arrays."""
    return tuple(frame[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close"))


def test_bollinger_bands_and_width_match_tradingview():
    """
    Given TradingView's ta.bb(close, 20, 2) and ta.bbw(close, 20, 2.1) on 150 bars (bb.csv)
    When our bb computes them
    Then basis, upper, lower and the width have the same na bars and are within 1e-9
    """
    frame = load("bb.csv")
    basis, upper, lower = ch.bb(frame["close"], 20, 2)
    assert_parity(basis, frame["ta.bb(close, 20, 2).base"])
    assert_parity(upper, frame["ta.bb(close, 20, 2).upper"])
    assert_parity(lower, frame["ta.bb(close, 20, 2).lower"])
    b, u, lo = ch.bb(frame["close"], 20, 2.1)
    assert_parity((u - lo) / b * 100, frame["ta.bbw(close, 20, 2.1)"])


def test_true_range_both_ways_and_atr_match_tradingview():
    """
    Given TradingView's ta.tr(false), ta.tr(true), ta.tr and ta.atr(14) (tr.csv)
    When ours compute them
    Then tr(false) and tr are na on bar 0, tr(true) is high - low there, ATR starts on bar 13
    """
    frame = load("tr.csv")
    h, lo, c = hlc(frame)
    assert_parity(ch.tr(h, lo, c, handle_na=False), frame["ta.tr(false)"])
    assert_parity(ch.tr(h, lo, c, handle_na=True), frame["ta.tr(true)"])
    assert_parity(ch.tr(h, lo, c), frame["ta.tr"])
    assert_parity(ch.atr(h, lo, c, 14), frame["ta.atr(14)"])


def test_keltner_channels_and_width_match_tradingview():
    """
    Given TradingView's ta.kc(close, 20, 2) and ta.kcw(close, 20, 2.1, useTrueRange=false)
    When our kc computes them
    Then the basis starts on bar 19 and the true-range bands on bar 20, all within 1e-9
    """
    frame = load("kc.csv")
    h, lo, c = hlc(frame)
    basis, upper, lower = ch.kc(c, h, lo, c, 20, 2)
    assert_parity(basis, frame["ta.kc(close, 20, 2).base"])
    assert_parity(upper, frame["ta.kc(close, 20, 2).upper"])
    assert_parity(lower, frame["ta.kc(close, 20, 2).lower"])
    b, u, w = ch.kc(c, h, lo, c, 20, 2.1, use_true_range=False)
    assert_parity((u - w) / b, frame["ta.kcw(close, 20, 2.1, useTrueRange=false)"])


def test_supertrend_matches_tradingview_including_the_bar_zero_quirk():
    """
    Given TradingView's ta.supertrend(3, 10) plotted while up and while down (supertrend.csv)
    When our supertrend computes line and direction on the same 200 bars
    Then both plots match within 1e-9 with the same na bars, bar 0 being 0.0 "down"
    """
    frame = load("supertrend.csv")
    h, lo, c = hlc(frame)
    line, direction = ch.supertrend(h, lo, c, 3, 10)
    assert line[0] == 0.0 and direction[0] == 1
    assert_parity(np.where(direction < 0, line, np.nan), frame["ta.supertrend(3, 10).up"])
    assert_parity(np.where(direction < 0, np.nan, line), frame["ta.supertrend(3, 10).down"])
    assert (np.diff(direction) != 0).sum() >= 2  # the sample turns both ways


@pytest.mark.parametrize(
    "column, function, source",
    [
        ("ta.highest(10)", ch.highest, "high"),
        ("ta.highest(close, 10)", ch.highest, "close"),
        ("ta.lowest(10)", ch.lowest, "low"),
        ("ta.lowest(close, 10)", ch.lowest, "close"),
        ("ta.highestbars(10)", ch.highestbars, "high"),
        ("ta.highestbars(close, 10)", ch.highestbars, "close"),
        ("ta.lowestbars(10)", ch.lowestbars, "low"),
        ("ta.lowestbars(close, 10)", ch.lowestbars, "close"),
    ],
)
def test_highest_lowest_and_their_offsets_match_tradingview(column, function, source):
    """
    Given TradingView's 10-bar highest/lowest of high, low and close and their *bars offsets
    When ours compute them
    Then they are na on bars 0-8 and equal on every later bar (ties included)
    """
    frame = load("highest+lowest.csv")
    assert_parity(function(frame[source], 10), frame[column])


def test_offsets_point_at_the_oldest_of_equal_extremes():
    """
    Given a window of 3 holding the same high twice
    When highestbars and lowestbars are computed
    Then they point at the older of the two equal bars
    """
    x = np.array([1.0, 5.0, 5.0, 2.0, 0.0, 0.0])
    assert ch.highestbars(x, 3)[2:].tolist() == [-1.0, -2.0, -2.0, -2.0]
    assert ch.lowestbars(x, 3)[5] == -1.0
    assert np.isnan(ch.highest(x, 3)[:2]).all() and ch.highest(x, 3)[3] == 5.0


def test_rolling_extremes_equal_a_plain_window_scan_for_any_length():
    """
    Given 500 random values and window lengths from 1 to 600
    When highest and lowest are computed
    Then every defined value equals max/min of its window and earlier bars are na
    """
    x = np.random.default_rng(7).normal(size=500).round(2)
    for n in (1, 2, 3, 7, 64, 499, 500, 600):
        hi, lo = ch.highest(x, n), ch.lowest(x, n)
        assert np.isnan(hi[: n - 1]).all() and np.isnan(lo[: n - 1]).all()
        for t in range(n - 1, x.size):
            assert hi[t] == x[t - n + 1:t + 1].max() and lo[t] == x[t - n + 1:t + 1].min()


def test_change_is_the_difference_to_length_bars_back():
    """
    Given 1, 3, 6, 10
    When change with length 1 and 2 is computed
    Then it is na on the first bars and x - x[length] afterwards
    """
    x = np.array([1.0, 3.0, 6.0, 10.0])
    assert np.isnan(ch.change(x)[0]) and ch.change(x)[1:].tolist() == [2.0, 3.0, 4.0]
    assert ch.change(x, 2)[2:].tolist() == [5.0, 7.0]


def test_stdev_is_the_biased_deviation_and_na_bars_are_skipped():
    """
    Given 2, 4, 4, 4, 5, 5, 7, 9 with an na in the middle
    When stdev over 8 values is taken
    Then it is 2 (the biased deviation) on the 8th non-na value and na before and on the na
    """
    x = np.array([2.0, 4.0, 4.0, np.nan, 4.0, 5.0, 5.0, 7.0, 9.0])
    out = ch.stdev(x, 8)
    assert np.isnan(out[:8]).all() and out[8] == 2.0
    assert ch.stdev(np.full(5, 1.1), 3)[2:].tolist() == [0.0, 0.0, 0.0]  # clamped, never na


def plain_supertrend(h, lo, c, factor, period):
    """Pine's ta.supertrend as a per-bar loop (the reference for the vectorised version)."""
    atr = ch.atr(h, lo, c, period)
    line, direction = [0.0], [1]
    pl = pu = pc = ps = math.nan
    pdir = None
    for t in range(1, len(c)):
        if math.isnan(atr[t]):
            line.append(math.nan)
            direction.append(pdir or 1)
            continue
        src = (h[t] + lo[t]) / 2
        up, dn = src + factor * atr[t], src - factor * atr[t]
        if pdir is None:
            d, st, low_band, up_band = 1, up, dn, up
        else:
            low_band = dn if (dn > pl or pc < pl) else pl
            up_band = up if (up < pu or pc > pu) else pu
            if ps == pu:
                d = -1 if c[t] > up_band else 1
            else:
                d = 1 if c[t] < low_band else -1
            st = up_band if d == 1 else low_band
        line.append(st)
        direction.append(d)
        pdir, ps, pl, pu, pc = d, st, low_band, up_band, c[t]
    return np.array(line), np.array(direction, dtype=float)


def test_vectorised_supertrend_equals_the_per_bar_loop_bit_for_bit():
    """
    Given 3,000 random-walk candles (and a short ATR so the bands reset often)
    When supertrend is computed vectorised and by Pine's per-bar loop
    Then line and direction are identical on every bar
    """
    rng = np.random.default_rng(11)
    c = 100 + np.cumsum(rng.normal(size=3000)).round(2)
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) + rng.uniform(0, 1, 3000).round(2)
    lo = np.minimum(o, c) - rng.uniform(0, 1, 3000).round(2)
    for factor, period in ((3.0, 10), (1.0, 2), (0.5, 1)):
        line, direction = ch.supertrend(h, lo, c, factor, period)
        ref_line, ref_dir = plain_supertrend(h, lo, c, factor, period)
        assert np.array_equal(direction, ref_dir)
        assert np.array_equal(line, ref_line, equal_nan=True)
        assert (np.diff(direction) != 0).sum() > 50
