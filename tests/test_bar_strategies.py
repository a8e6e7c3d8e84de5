"""The five bar strategies (Supertrend, Bollinger, Keltner, ChannelBreakOut, BarUpDn): their
rules, order columns, parameters, mintick and the output model the broker and bot read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import bar_rules
from strategies.bars import Bars, bars_of, infer_mintick
from strategies.channels import supertrend
from strategies.orders import ORDER_COLUMNS, has_orders, intents, stop_entry_columns
from strategies.params import parse_param
from strategies.registry import SIGNAL_STRATEGIES, STRATEGIES

BAR_STRATEGIES = sorted(set(STRATEGIES) - set(SIGNAL_STRATEGIES))


def frame_of(o, h, lo, c) -> pd.DataFrame:
    """A candle frame from OHLC lists (1-minute bars)."""
    n = len(c)
    return pd.DataFrame({"timestamp": np.arange(n) * 60_000, "open": o, "high": h, "low": lo,
                         "close": c, "volume": np.ones(n)})


def walk(n: int, seed: int = 3) -> pd.DataFrame:
    """A random-walk candle frame with 2-decimal prices."""
    rng = np.random.default_rng(seed)
    c = (100 + np.cumsum(rng.normal(0, 1, n))).round(2)
    o = np.r_[c[0], c[:-1]]
    h = (np.maximum(o, c) + rng.uniform(0, 1, n)).round(2)
    lo = (np.minimum(o, c) - rng.uniform(0, 1, n)).round(2)
    return frame_of(o, h, lo, c)


def test_the_mintick_comes_from_the_prices_decimals():
    """
    Given EURUSD-like 5-decimal prices, BTC-like 2-decimal ones and whole numbers
    When the mintick is inferred
    Then it is 0.00001, 0.01 and 1; a given mintick is used as it is, a bad one refused
    """
    assert infer_mintick(np.array([1.13734, 1.0683799999999999])) == 1e-5
    assert infer_mintick(np.array([43000.12, 43001.5])) == 0.01
    assert infer_mintick(np.array([5.0, 7.0])) == 1.0
    frame = frame_of([1.0], [1.5], [0.5], [1.25])
    assert bars_of(frame).mintick == 0.01 and bars_of(frame, 0.05).mintick == 0.05
    with pytest.raises(ValueError, match="mintick 0 must be a positive price step"):
        bars_of(frame, 0)
    with pytest.raises(ValueError, match="no 'high' column"):
        bars_of(frame.drop(columns="high"))


@pytest.mark.parametrize("name", BAR_STRATEGIES)
def test_each_bar_strategy_computes_on_a_frame_with_its_kind_of_output(name):
    """
    Given 300 random-walk candles
    When each bar strategy computes
    Then it gives an int8 signal, and the order columns exactly when it places stop entries
    """
    strategy = STRATEGIES[name]
    out = strategy.compute(walk(300))
    assert out["signal"].dtype == np.int8 and len(out) == 300
    assert has_orders(out) == strategy.stop_entries
    assert strategy.inputs == "bars" and len(strategy.entry_ids) == 2
    assert strategy.warmup() >= 2


def test_supertrend_enters_where_the_direction_turns():
    """
    Given 500 random-walk candles
    When the Supertrend strategy computes
    Then BUY is where direction goes from 1 to -1 and SELL where it goes from -1 to 1
    """
    frame = walk(500)
    out = STRATEGIES["supertrend"].compute(frame)
    _, direction = supertrend(frame["high"], frame["low"], frame["close"], 3.0, 10)
    turn = np.r_[0, np.diff(direction)]
    assert np.array_equal(out["signal"].to_numpy(), np.sign(-turn).astype(np.int8))
    assert (out["signal"] != 0).sum() > 4


def test_bollinger_places_a_stop_at_the_band_on_a_cross_and_cancels_otherwise():
    """
    Given 400 random-walk candles
    When the Bollinger strategy computes
    Then a long stop at the lower band exactly on closes crossing over it, cancelled on every
        other bar; the short side mirrors it at the upper band; no market orders
    """
    out = STRATEGIES["bollinger"].compute(walk(400))
    le = out["long_entry"].to_numpy()
    assert le.any() and np.array_equal(out["long_cancel"].to_numpy(), ~le)
    assert np.array_equal(out["long_stop"].to_numpy()[le], out["lower"].to_numpy()[le])
    se = out["short_entry"].to_numpy()
    assert se.any() and np.array_equal(out["short_stop"].to_numpy()[se],
                                       out["upper"].to_numpy()[se])
    assert not out["signal"].any() and STRATEGIES["bollinger"].oca == "BollingerBands"


def test_keltner_carries_the_stop_one_tick_past_the_cross_bar_and_cancels_it():
    """
    Given a flat stretch, a jump that closes above the upper band, a bar under its stop, then
        a fall below the basis
    When the Keltner strategy computes with a 0.01 tick
    Then the long stop is the jump bar's high + 0.01, kept while the bar stays under it, and
        cancelled once the close is back under the basis
    """
    c = [100.0] * 30 + [110.0, 110.0, 99.0]
    h = [x + 0.5 for x in c]
    h[31] = 110.4
    lo = [x - 0.5 for x in c]
    out = STRATEGIES["keltner"].compute(frame_of(c, h, lo, c), mintick=0.01)
    cross = int(np.flatnonzero(out["long_entry"])[0])
    assert cross == 30 and out["long_stop"][cross] == pytest.approx(110.51)
    assert not out["long_cancel"][31] and out["long_cancel"][32]
    bars = Bars(*(np.array(x) for x in (c, h, lo, c)), mintick=0.01)
    assert bar_rules.keltner_strategy(bars, STRATEGIES["keltner"].defaults).keys() >= set(
        ORDER_COLUMNS)


def test_channel_breakout_sells_at_market_until_the_channel_exists_then_stops():
    """
    Given 20 candles and a 5-bar channel
    When the ChannelBreakOut strategy computes with a 0.01 tick
    Then the short is a market order (stop na) on bars 0-3, then a stop one tick under the
        5-bar low; the long stop starts on bar 5 one tick over the 5-bar high
    """
    frame = walk(20)
    out = STRATEGIES["channel_breakout"].compute(frame)
    assert out["short_entry"].all() and np.isnan(out["short_stop"][:4]).all()
    low5 = frame["low"].rolling(5).min().to_numpy()
    assert np.allclose(out["short_stop"][4:], low5[4:] - 0.01)
    assert not out["long_entry"][:5].any() and out["long_entry"][5:].all()
    high5 = frame["high"].rolling(5).max().to_numpy()
    assert np.allclose(out["long_stop"][5:], high5[5:] + 0.01)
    assert out["signal"][:4].tolist() == [-1] * 4 and not out["signal"][4:].any()


def test_barupdn_needs_an_up_bar_opening_above_the_last_close():
    """
    Given an up bar gapping up, an up bar opening below the last close, and a down bar gapping
        down
    When BarUpDn computes
    Then only the gapping bars signal (BUY, SELL), with Pine's 1e-10 comparison tolerance
    """
    o = [10.0, 10.5, 10.0, 10.4, 10.0]
    c = [10.2, 11.0, 10.6, 10.1, 10.0 + 5e-11]
    out = STRATEGIES["barupdn"].compute(frame_of(o, o, o, c))
    assert out["signal"].tolist() == [0, 1, 0, -1, 0]
    assert STRATEGIES["barupdn"].intraday_loss_param == "MAX_INTRADAY_LOSS"


def test_intents_come_from_signal_when_a_frame_has_no_order_columns():
    """
    Given a signal frame (BUY, HOLD, SELL) and a stop-entry column set
    When the broker's intents are read
    Then the signal becomes market entries, and the order columns are read as they are
    """
    plain = intents(pd.DataFrame({"signal": np.array([1, 0, -1], dtype=np.int8)}))
    assert plain.long_entry.tolist() == [True, False, False] and not plain.has_stops
    assert plain.short_entry.tolist() == [False, False, True]
    assert np.isnan(plain.long_stop).all()
    cols = stop_entry_columns([True, False], [1.5, 2.0], [False, True], [True, True],
                              [np.nan, 0.5], [False, False])
    assert cols["long_stop"][1] != cols["long_stop"][1]  # kept only where entered
    assert cols["signal"].tolist() == [-1, 0]  # bar 0: the short is a market order
    read = intents(pd.DataFrame(cols))
    assert read.has_stops and read.at(0)["long_stop"] == 1.5


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("SUPERTREND_FACTOR", 0, "SUPERTREND_FACTOR=0 is out of range; use a number above 0"),
        ("BB_MULT", 51, "BB_MULT=51 is out of range"),
        ("KC_LENGTH", 2.5, "KC_LENGTH=2.5 is not a whole number"),
        ("CHANNEL_LENGTH", 0, "CHANNEL_LENGTH=0 is out of range; use 1 to 5000"),
        ("MAX_INTRADAY_LOSS", 101, "MAX_INTRADAY_LOSS=101 is out of range; use a percent"),
    ],
)
def test_bad_parameters_are_one_line_errors(key, value, message):
    """
    Given a bad value for one of the new parameters
    When a strategy merges it
    Then ValueError names the key, the value and the range in one line
    """
    owner = next(s for s in STRATEGIES.values() if key in s.defaults)
    with pytest.raises(ValueError, match=message) as caught:
        owner.validate({key: value})
    assert "\n" not in str(caught.value)
    assert parse_param(f"{key}=3") == (key, 3)


def test_settings_carry_the_new_parameters_and_refuse_bad_ones():
    """
    Given an environment setting BB_MULT=2.5 (and another with KC_ATR=0)
    When the settings load
    Then STRATEGY_PARAMS holds the new keys with 2.5, and KC_ATR=0 is a one-line SettingsError
    """
    from config.settings import SettingsError, load_settings

    params = load_settings(env={"BB_MULT": "2.5"}).strategy_params
    assert params["BB_MULT"] == 2.5 and params["SUPERTREND_ATR"] == 10
    assert params["MAX_INTRADAY_LOSS"] == 1.0 and params["CHANNEL_LENGTH"] == 5
    with pytest.raises(SettingsError, match="KC_ATR=0 is out of range; use 1 to 5000") as caught:
        load_settings(env={"KC_ATR": "0"})
    assert "\n" not in str(caught.value)
