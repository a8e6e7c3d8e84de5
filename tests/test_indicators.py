"""Pine semantics of the public indicators: warm-up, na handling, edge cases, crossings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from strategies.indicators import (
    PINE_EPSILON,
    as_series_array,
    crossover,
    crossunder,
    ema,
    macd,
    pine_greater,
    pine_less,
    rma,
    rsi,
    sma,
    smas,
)

NA = np.nan


def naive_sma(x: np.ndarray, n: int) -> np.ndarray:
    """The drifting running-sum SMA that the exact one replaces (for contrast only)."""
    total = np.cumsum(x)
    out = np.full(x.size, np.nan)
    out[n - 1] = total[n - 1] / n
    out[n:] = (total[n:] - total[:-n]) / n
    return out


def tie_series() -> np.ndarray:
    """300 random 2-decimal prices, a 30-bar fall, 18 flat bars, then one bar up."""
    rng = np.random.default_rng(8)
    x = np.round(100 + rng.normal(0, 1, 300).cumsum(), 2)
    low = np.round(x[-1] - 5, 2)
    ramp = np.round(np.linspace(x[-1], low, 30), 2)
    return np.concatenate([x, ramp, np.full(18, low), [low + 1]])


def test_sma_warm_up_and_values():
    """
    Given the closes 1..6
    When SMA(3) is computed
    Then bars 0 and 1 are na and later bars are the means of the last three values
    """
    out = sma(np.arange(1.0, 7.0), 3)
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == [2.0, 3.0, 4.0, 5.0]


def test_sma_of_equal_windows_is_identical_so_ties_do_not_fire_early():
    """
    Given a long random history, a fall, 18 flat bars and one bar up
    When SMA9 and SMA18 are compared on the flat bars and crossed
    Then both SMAs are equal on the last flat bar (both windows hold only the flat price),
        the crossover fires only on the bar up, and a naive running sum fires it earlier
    """
    x = tie_series()
    fast, slow = sma(x, 9), sma(x, 18)
    assert fast[-2] == slow[-2]
    assert np.flatnonzero(crossover(fast, slow))[-1] == x.size - 1
    assert not crossover(fast, slow)[x.size - 10:x.size - 1].any()
    naive = np.flatnonzero(crossover(naive_sma(x, 9), naive_sma(x, 18)))
    assert naive[-1] < x.size - 1  # the data does catch the running-sum drift


def test_sma_skips_na_values_and_holds_on_an_na_bar():
    """
    Given a series with two leading na and one na inside
    When SMA(2) is computed
    Then the window counts only defined values and the na bar repeats the last average
    """
    out = sma(np.array([NA, NA, 1.0, 3.0, NA, 5.0]), 2)
    assert np.array_equal(out, [NA, NA, NA, 2.0, 2.0, 4.0], equal_nan=True)


def test_smas_equal_single_smas():
    """
    Given a random walk
    When SMA 10 and 50 are computed together
    Then each equals the single-length SMA
    """
    x = 1.1 + np.random.default_rng(1).normal(0, 0.001, 500).cumsum()
    ten, fifty = smas(x, 10, 50)
    assert np.array_equal(ten, sma(x, 10), equal_nan=True)
    assert np.array_equal(fifty, sma(x, 50), equal_nan=True)


def test_ema_is_seeded_with_the_sma_of_the_first_n_values():
    """
    Given the closes 1..5
    When EMA(3) is computed
    Then bars 0-1 are na, bar 2 is 2.0 (the SMA) and later bars follow prev + a*(x - prev)
    """
    out = ema(np.arange(1.0, 6.0), 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == 2.0
    assert out[3] == 2.0 + 0.5 * (4.0 - 2.0)
    assert out[4] == out[3] + 0.5 * (5.0 - out[3])


def test_ema_and_rma_skip_leading_and_inner_na():
    """
    Given a series with leading na and one inner na
    When EMA(2) and RMA(2) are computed
    Then the seed uses the first two defined values, the na bar gives na and is skipped
    """
    x = np.array([NA, NA, 2.0, 4.0, NA, 6.0])
    e = ema(x, 2)
    assert np.isnan(e[:3]).all() and np.isnan(e[4])
    assert e[3] == 3.0 and e[5] == 3.0 + (2 / 3) * (6.0 - 3.0)
    r = rma(x, 2)
    assert r[3] == 3.0 and np.isnan(r[4]) and r[5] == (3.0 * 1 + 6.0) / 2


def test_rma_of_a_constant_is_that_constant():
    """
    Given a flat series at 7.25
    When RMA(14) is computed
    Then every defined bar is exactly 7.25
    """
    out = rma(np.full(50, 7.25), 14)
    assert np.isnan(out[:13]).all() and (out[13:] == 7.25).all()


def test_length_one_returns_the_source():
    """
    Given a series
    When EMA(1), RMA(1) and SMA(1) are computed
    Then each is the series itself, as in Pine
    """
    x = np.array([1e20, 1.0, 3.5])
    for fn in (ema, rma, sma):
        assert np.array_equal(fn(x, 1), x)


def test_rsi_only_rising_is_100_only_falling_is_0():
    """
    Given a strictly rising series and a strictly falling one
    When RSI(14) is computed
    Then bars 0-13 are na and from bar 14 on it is 100 and 0
    """
    up = rsi(np.arange(1.0, 41.0), 14)
    down = rsi(np.arange(40.0, 0.0, -1.0), 14)
    assert np.isnan(up[:14]).all() and (up[14:] == 100.0).all()
    assert np.isnan(down[:14]).all() and (down[14:] == 0.0).all()


def test_rsi_of_a_flat_start_is_na_until_the_first_change():
    """
    Given 30 equal closes followed by one rise and one fall
    When RSI(14) is computed
    Then it is na while both averages are exactly zero, 100 after the rise, below after the fall
    """
    x = np.concatenate([np.full(30, 50.0), [51.0, 50.5]])
    out = rsi(x, 14)
    assert np.isnan(out[:30]).all()
    assert out[30] == 100.0
    assert 0.0 < out[31] < 100.0


def test_rsi_matches_the_textbook_formula():
    """
    Given a random walk
    When RSI(5) is computed
    Then it equals 100 - 100 / (1 + rma(up)/rma(down)) computed by hand with loops
    """
    x = 1.1 + np.random.default_rng(2).normal(0, 0.001, 60).cumsum()
    items = x.tolist()
    up = [max(b - a, 0.0) for a, b in zip(items, items[1:], strict=False)]
    down = [max(a - b, 0.0) for a, b in zip(items, items[1:], strict=False)]
    ru, rd = math.fsum(up[:5]) / 5, math.fsum(down[:5]) / 5
    expected = [NA] * 5 + [100 - 100 / (1 + ru / rd)]
    for u, d in zip(up[5:], down[5:], strict=True):
        ru, rd = (ru * 4 + u) / 5, (rd * 4 + d) / 5
        expected.append(100 - 100 / (1 + ru / rd))
    assert np.array_equal(rsi(x, 5), np.array(expected), equal_nan=True)


def test_rsi_skips_leading_na():
    """
    Given three leading na before a rising series
    When RSI(3) is computed
    Then the first value comes three defined bars after the first defined one
    """
    out = rsi(np.concatenate([[NA] * 3, np.arange(1.0, 8.0)]), 3)
    assert np.isnan(out[:6]).all() and (out[6:] == 100.0).all()


def test_macd_warm_up_bars_are_25_and_33():
    """
    Given 60 random closes
    When MACD(12, 26, 9) is computed
    Then the line starts on bar 25, signal and histogram on bar 33, hist = line - signal
    """
    x = 100 + np.random.default_rng(3).normal(0, 1, 60).cumsum()
    line, signal, hist = macd(x, 12, 26, 9)
    assert np.flatnonzero(~np.isnan(line))[0] == 25
    assert np.flatnonzero(~np.isnan(signal))[0] == 33
    assert np.array_equal(hist, line - signal, equal_nan=True)
    assert np.array_equal(signal, ema(line, 9), equal_nan=True)


def test_crossover_counts_a_touch_on_the_previous_bar():
    """
    Given a above b, then equal to b, then above again
    When crossover and crossunder are evaluated
    Then crossover fires on the bar after the touch, crossunder never fires
    """
    a = np.array([2.0, 1.0, 2.0])
    b = np.array([1.0, 1.0, 1.0])
    assert crossover(a, b).tolist() == [False, False, True]
    assert not crossunder(a, b).any()


def test_crossunder_counts_a_touch_on_the_previous_bar():
    """
    Given a below b, then equal, then below again
    When crossunder is evaluated
    Then it fires on the bar after the touch
    """
    assert crossunder([0.0, 1.0, 0.5], [1.0, 1.0, 1.0]).tolist() == [False, False, True]


def test_crossover_looks_back_to_the_last_bar_both_were_defined():
    """
    Given a below b, then two bars where a is na, then a above b
    When crossover is evaluated
    Then it fires on the bar after the gap and never on a na bar
    """
    a = np.array([0.0, NA, NA, 2.0, 3.0])
    assert crossover(a, 1.0).tolist() == [False, False, False, True, False]


def test_crossover_is_false_on_the_first_defined_bar():
    """
    Given two series whose first defined bar already has a above b
    When crossover is evaluated
    Then nothing fires (there is no earlier relation)
    """
    assert not crossover([NA, 5.0, 6.0], [NA, 1.0, 1.0]).any()


def test_crossover_of_flat_equal_series_never_fires():
    """
    Given two identical flat series
    When crossover and crossunder are evaluated
    Then neither fires
    """
    flat = np.full(20, 3.0)
    assert not crossover(flat, flat).any() and not crossunder(flat, flat).any()


def test_pine_comparisons_use_the_1e10_tolerance():
    """
    Given values just inside and just outside 1e-10 of a level, and na
    When the script comparisons < and > are applied
    Then only the values beyond the tolerance compare true, and na is false
    """
    level = 70.0
    values = np.array([level - 0.5e-10, level - 1e-9, level + 0.5e-10, level + 1e-9, NA])
    assert pine_less(values, level).tolist() == [False, True, False, False, False]
    assert pine_greater(values, level).tolist() == [False, False, False, True, False]
    assert PINE_EPSILON == 1e-10


def test_inputs_may_be_series_and_lengths_must_be_whole_positive_numbers():
    """
    Given a pandas Series with a missing value, a 2-D array and bad lengths
    When the indicators are called
    Then the Series works (na as NaN) and the bad inputs raise ValueError
    """
    out = sma(pd.Series([1.0, None, 3.0, 5.0]), 2)
    assert isinstance(out, np.ndarray) and out[-1] == 4.0
    assert as_series_array(pd.Series([1, 2], dtype="Int64")).dtype == np.float64
    with pytest.raises(ValueError, match="one-dimensional"):
        sma(np.ones((2, 2)), 2)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="whole number"):
            ema(np.ones(5), bad)
