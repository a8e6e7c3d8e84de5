"""The four close-only strategies: buy / sell / hold rules, warm-up, parameters, registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import rules
from strategies.indicators import crossover, crossunder, rsi, sma
from strategies.params import KNOWN_KEYS, merge_params, parse_param, period
from strategies.registry import (
    DEFAULT_STRATEGY,
    SIGNAL_STRATEGIES,
    STRATEGIES,
    Strategy,
    get_strategy,
)


def candles(close: np.ndarray) -> pd.DataFrame:
    """A candle frame (1-minute bars) whose open/high/low/close are all ``close``."""
    close = np.asarray(close, dtype=np.float64)
    return pd.DataFrame({
        "timestamp": np.arange(close.size, dtype=np.int64) * 60_000,
        "open": close, "high": close, "low": close, "close": close,
        "volume": np.ones(close.size),
    })


def turn(first: float, bars: int, steps: list[float], after: int, start: float = 200.0):
    """Closes moving by ``first`` for ``bars`` bars, then cycling through ``steps``."""
    moves = [first] * bars + [steps[i % len(steps)] for i in range(after)]
    return start + np.concatenate([[0.0], np.cumsum(moves)])


def signals(name: str, close: np.ndarray, params=None) -> np.ndarray:
    """The signal column of a strategy on some closes."""
    return STRATEGIES[name].compute(candles(close), params)["signal"].to_numpy()


# One series per strategy, exactly warm-up bars long, whose last bar is a BUY.
LAST_BAR_BUY = {
    "ma2line": np.concatenate([200 - np.arange(18.0), [300.0]]),
    "rsi": np.concatenate([200 - np.arange(15.0), [300.0]]),
    "macd": np.concatenate([200 - 0.05 * np.arange(34.0) ** 2, [300.0]]),
    "sma_rsi": np.concatenate([[1000.0], 100 + np.array([0.0, 1.0] * 25)[:49], [101.5]]),
}


@pytest.mark.parametrize("name", sorted(SIGNAL_STRATEGIES))
def test_a_choppy_rise_after_a_fall_gives_one_buy(name):
    """
    Given 80 closes falling by 1 and then 60 closes rising in steps of +3 and -2
    When each strategy computes its signals
    Then there is exactly one signal, a BUY after the turn
    """
    signal = signals(name, turn(-1, 80, [3, -2], 60))
    hits = np.flatnonzero(signal)
    assert hits.size == 1 and hits[0] > 80 and signal[hits[0]] == 1


@pytest.mark.parametrize("name", sorted(SIGNAL_STRATEGIES))
def test_a_choppy_fall_after_a_rise_gives_one_sell(name):
    """
    Given 80 closes rising by 1 and then 60 closes falling in steps of -3 and +2
    When each strategy computes its signals
    Then there is exactly one signal, a SELL after the turn
    """
    signal = signals(name, turn(1, 80, [-3, 2], 60))
    hits = np.flatnonzero(signal)
    assert hits.size == 1 and hits[0] > 80 and signal[hits[0]] == -1


@pytest.mark.parametrize("name", sorted(SIGNAL_STRATEGIES))
def test_flat_prices_hold_on_every_bar(name):
    """
    Given 300 equal closes
    When each strategy computes its signals
    Then every bar is HOLD (0) and the signal column is int8
    """
    frame = STRATEGIES[name].compute(candles(np.full(300, 42.0)))
    assert frame["signal"].dtype == np.int8
    assert (frame["signal"] == 0).all()


@pytest.mark.parametrize("name", sorted(SIGNAL_STRATEGIES))
def test_prices_that_only_rise_or_only_fall_never_signal(name):
    """
    Given 500 closes rising by 1 (and by 0.1 %), and 500 closes falling by 1
    When each strategy computes its signals
    Then every bar is HOLD: the lines are ordered from their first bar, so nothing crosses
    """
    for close in (100 + np.arange(500.0), 100 * 1.001 ** np.arange(500), 600 - np.arange(500.0)):
        assert not signals(name, close).any()


@pytest.mark.parametrize("name", sorted(SIGNAL_STRATEGIES))
def test_warmup_is_the_first_bar_that_can_signal(name):
    """
    Given a series exactly warm-up bars long built to buy on its last bar, and random series
        one bar shorter
    When each strategy computes its signals
    Then the built series buys on its last bar only and the shorter ones never signal
    """
    strategy = STRATEGIES[name]
    built = LAST_BAR_BUY[name]
    assert built.size == strategy.warmup()
    assert np.flatnonzero(signals(name, built)).tolist() == [built.size - 1]
    assert signals(name, built)[-1] == 1
    rng = np.random.default_rng(0)
    for _ in range(50):
        walk = 100 + rng.normal(0, 2, strategy.warmup() - 1).cumsum()
        assert not signals(name, walk).any()


def test_warmup_follows_the_parameters():
    """
    Given non-default parameters
    When each strategy's warm-up is asked for
    Then it is derived from them (slow+1, period+2, slow+signal, max(long, period)+1)
    """
    assert STRATEGIES["ma2line"].warmup({"MA_FAST": 3, "MA_SLOW": 40}) == 41
    assert STRATEGIES["rsi"].warmup({"RSI_PERIOD": 7}) == 9
    assert STRATEGIES["macd"].warmup({"MACD_SLOW": 30, "MACD_SIGNAL": 5}) == 35
    assert STRATEGIES["sma_rsi"].warmup({"SMA_LONG": 20, "RSI_PERIOD": 30}) == 31


def test_ma2line_signals_are_the_sma_crossings():
    """
    Given a random walk
    When ma2line computes its signals
    Then BUY bars are exactly the SMA9-over-SMA18 crossovers and SELL bars the crossunders
    """
    x = 100 + np.random.default_rng(1).normal(0, 1, 2000).cumsum()
    out = STRATEGIES["ma2line"].compute(candles(x))
    fast, slow = sma(x, 9), sma(x, 18)
    assert np.array_equal(out["ma_fast"], fast, equal_nan=True)
    assert np.array_equal(out["signal"] == 1, crossover(fast, slow))
    assert np.array_equal(out["signal"] == -1, crossunder(fast, slow))
    assert (out["signal"] == 1).sum() > 10


def test_rsi_strategy_buys_over_oversold_and_sells_under_overbought():
    """
    Given a random walk
    When the rsi strategy computes its signals
    Then BUY bars are RSI crossing over 30 and SELL bars RSI crossing under 70
    """
    x = 100 + np.random.default_rng(2).normal(0, 1, 3000).cumsum()
    out = STRATEGIES["rsi"].compute(candles(x))
    value = rsi(x, 14)
    assert np.array_equal(out["signal"] == 1, crossover(value, 30))
    assert np.array_equal(out["signal"] == -1, crossunder(value, 70))
    assert (out["signal"] == 1).sum() > 5 and (out["signal"] == -1).sum() > 5


def test_macd_strategy_columns_and_zero_line_crossings():
    """
    Given a random walk
    When the macd strategy computes its signals
    Then the histogram is macd - signal and signals are its crossings of zero
    """
    x = 100 + np.random.default_rng(3).normal(0, 1, 1000).cumsum()
    out = STRATEGIES["macd"].compute(candles(x))
    assert list(out.columns) == ["macd", "macd_signal", "macd_hist", "signal"]
    hist = out["macd"] - out["macd_signal"]
    assert np.array_equal(out["macd_hist"], hist, equal_nan=True)
    assert np.array_equal(out["signal"] == 1, crossover(hist, 0.0))
    assert np.array_equal(out["signal"] == -1, crossunder(hist, 0.0))


def test_sma_rsi_skips_a_crossover_while_rsi_is_overbought():
    """
    Given 80 closes falling by 1 then 60 rising by 1 (RSI about 74 when the SMAs cross)
    When sma_rsi computes its signals
    Then the SMA10/50 crossover happens but no BUY is given
    """
    out = STRATEGIES["sma_rsi"].compute(candles(turn(-1, 80, [1], 60)))
    crossed = np.flatnonzero(crossover(out["sma_short"], out["sma_long"]))
    assert crossed.size == 1 and out["rsi"].iloc[crossed[0]] >= 70
    assert not (out["signal"] == 1).any()


def test_sma_rsi_skips_a_crossunder_while_rsi_is_oversold():
    """
    Given 80 closes rising by 1 then 60 falling by 1 (RSI about 26 when the SMAs cross)
    When sma_rsi computes its signals
    Then the SMA10/50 crossunder happens but no SELL is given
    """
    out = STRATEGIES["sma_rsi"].compute(candles(turn(1, 80, [-1], 60)))
    crossed = np.flatnonzero(crossunder(out["sma_short"], out["sma_long"]))
    assert crossed.size == 1 and out["rsi"].iloc[crossed[0]] <= 30
    assert not (out["signal"] == -1).any()


def test_sma_rsi_filter_uses_the_pine_tolerance(monkeypatch):
    """
    Given an SMA crossover on a bar where RSI is 70 minus half of 1e-10, and one 1e-9 below 70
    When sma_rsi decides (Pine's rsi < 70 is false within 1e-10 of 70)
    Then the first bar holds and the second buys
    """
    x = turn(-1, 80, [3, -2], 60)
    cross_bar = int(np.flatnonzero(signals("sma_rsi", x))[0])
    for offset, expected in ((-0.5e-10, 0), (-1e-9, 1)):
        pinned = np.full(x.size, 50.0)
        pinned[cross_bar] = 70.0 + offset
        monkeypatch.setattr(rules, "rsi", lambda close, n, pinned=pinned: pinned)
        assert signals("sma_rsi", x)[cross_bar] == expected


def test_compute_keeps_the_frame_index_and_uses_given_params():
    """
    Given a candle frame with a custom index and RSI_PERIOD=7
    When the rsi strategy computes
    Then the result has the same index and the RSI is RSI(7)
    """
    x = 100 + np.random.default_rng(4).normal(0, 1, 100).cumsum()
    frame = candles(x)
    frame.index = pd.RangeIndex(1000, 1100)
    out = STRATEGIES["rsi"].compute(frame, {"RSI_PERIOD": 7})
    assert out.index.equals(frame.index)
    assert np.array_equal(out["rsi"], rsi(x, 7), equal_nan=True)


def test_compute_refuses_a_frame_without_close():
    """
    Given a frame without a close column
    When a strategy computes
    Then ValueError says the close column is missing
    """
    with pytest.raises(ValueError, match="no 'close' column"):
        STRATEGIES["macd"].compute(pd.DataFrame({"open": [1.0]}))


def test_registry_names_titles_and_defaults():
    """
    Given the registry
    When its strategies are listed
    Then the nine names, TradingView titles and the STRATEGY_PARAMS defaults are there
    """
    assert set(STRATEGIES) == {"sma_rsi", "ma2line", "rsi", "macd", "supertrend", "bollinger",
                               "keltner", "channel_breakout", "barupdn"}
    assert set(SIGNAL_STRATEGIES) == {"sma_rsi", "ma2line", "rsi", "macd"}
    assert DEFAULT_STRATEGY == "sma_rsi"
    assert STRATEGIES["ma2line"].title == "MovingAvg2Line Cross"
    assert STRATEGIES["rsi"].title == "RSI Strategy"
    assert STRATEGIES["macd"].title == "MACD Strategy"
    assert STRATEGIES["ma2line"].defaults == {"MA_FAST": 9, "MA_SLOW": 18}
    assert STRATEGIES["macd"].defaults == {"MACD_FAST": 12, "MACD_SLOW": 26, "MACD_SIGNAL": 9}
    assert STRATEGIES["sma_rsi"].defaults == {
        "SMA_SHORT": 10, "SMA_LONG": 50, "RSI_PERIOD": 14, "RSI_OVERBOUGHT": 70,
        "RSI_OVERSOLD": 30,
    }
    assert all(isinstance(s, Strategy) and hash(s) for s in STRATEGIES.values())


def test_get_strategy_finds_names_and_lists_them_when_unknown():
    """
    Given the registry
    When a strategy is looked up by a known name (any case) and by an unknown one
    Then the known one is returned and the unknown one raises ValueError listing the names
    """
    assert get_strategy(" MACD ") is STRATEGIES["macd"]
    with pytest.raises(ValueError, match="unknown strategy 'ichimoku'; known: sma_rsi"):
        get_strategy("ichimoku")


def test_params_merge_over_defaults_and_ignore_other_strategies_keys():
    """
    Given the whole STRATEGY_PARAMS mapping with RSI_PERIOD changed
    When the rsi strategy merges it
    Then only its own three keys come back, with the new period
    """
    everything = {key: 10 for key in KNOWN_KEYS} | {
        "RSI_PERIOD": 21, "RSI_OVERBOUGHT": 80, "RSI_OVERSOLD": 20, "SMA_LONG": 50,
        "MA_SLOW": 18, "MACD_SLOW": 26,
    }
    merged = STRATEGIES["rsi"].params(everything)
    assert merged == {"RSI_PERIOD": 21, "RSI_OVERBOUGHT": 80, "RSI_OVERSOLD": 20}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"RSI_PERIODS": 14}, "unknown strategy parameter 'RSI_PERIODS'"),
        ({"RSI_PERIOD": 14.5}, "RSI_PERIOD=14.5 is not a whole number"),
        ({"RSI_PERIOD": 0}, "RSI_PERIOD=0 is out of range; use 1 to 5000"),
        ({"RSI_PERIOD": True}, "RSI_PERIOD=True is not a whole number"),
        ({"RSI_PERIOD": "14"}, "RSI_PERIOD='14' is not a whole number"),
        ({"RSI_OVERBOUGHT": 100}, "RSI_OVERBOUGHT=100 is out of range"),
        ({"RSI_OVERSOLD": float("nan")}, "RSI_OVERSOLD=nan is not a number"),
        ({"RSI_OVERSOLD": 75}, "RSI_OVERSOLD=75 must be below RSI_OVERBOUGHT=70"),
        ({"SMA_SHORT": 50}, "SMA_SHORT=50 must be below SMA_LONG=50"),
    ],
)
def test_invalid_params_raise_one_line_value_errors(params, message):
    """
    Given a bad parameter for sma_rsi
    When the strategy validates or computes with it
    Then ValueError carries a one-line message naming the key, the value and what to use
    """
    strategy = STRATEGIES["sma_rsi"]
    with pytest.raises(ValueError, match=message) as caught:
        strategy.validate(params)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=message):
        strategy.compute(candles(np.ones(5)), params)


def test_merge_params_accepts_integral_floats_and_numpy_numbers():
    """
    Given periods given as 14.0 and numpy integers, and a numpy float level
    When they are merged
    Then periods become plain ints and the level a plain float
    """
    merged = merge_params(
        {"RSI_PERIOD": 14, "RSI_OVERBOUGHT": 70},
        {"RSI_PERIOD": np.int64(21), "RSI_OVERBOUGHT": np.float64(75.5)},
    )
    assert merged == {"RSI_PERIOD": 21, "RSI_OVERBOUGHT": 75.5}
    assert type(merged["RSI_PERIOD"]) is int and type(merged["RSI_OVERBOUGHT"]) is float
    assert merge_params({"MA_FAST": 9}, {"MA_FAST": 12.0}) == {"MA_FAST": 12}


def test_parse_param_reads_key_value_text():
    """
    Given --param texts, good and malformed
    When they are parsed
    Then KEY=VALUE gives the key (upper case) and a number, and the rest raise ValueError
    """
    assert parse_param("rsi_period=21") == ("RSI_PERIOD", 21)
    assert parse_param("RSI_OVERBOUGHT = 72.5") == ("RSI_OVERBOUGHT", 72.5)
    assert parse_param("MA_FAST=9.5") == ("MA_FAST", 9.5)
    for text, message in (("RSI_PERIOD", "not KEY=VALUE"), ("FOO=1", "unknown strategy"),
                          ("RSI_PERIOD=abc", "not a number")):
        with pytest.raises(ValueError, match=message):
            parse_param(text)


def test_to_signal_encodes_buy_sell_hold_as_int8():
    """
    Given buy and sell flags
    When they are encoded
    Then BUY is 1, SELL is -1, neither is 0, as int8
    """
    out = rules.to_signal(np.array([True, False, False]), np.array([False, True, False]))
    assert out.tolist() == [1, -1, 0] and out.dtype == np.int8


def test_period_reads_a_merged_period_as_an_int():
    """
    Given parameters merged from a float-typed override (SMA_LONG=60.0)
    When the period is read for a rule
    Then it is the int 60, and merging keeps rejecting a fractional period
    """
    merged = merge_params({"SMA_SHORT": 10, "SMA_LONG": 50}, {"SMA_LONG": 60.0})
    assert period(merged, "SMA_LONG") == 60 and isinstance(period(merged, "SMA_LONG"), int)
    with pytest.raises(ValueError, match="not a whole number"):
        merge_params({"SMA_LONG": 50}, {"SMA_LONG": 60.5})
