"""Runs features/strategy_signals.feature: BUY / SELL / HOLD of each strategy, as users read it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from strategies.indicators import crossover, crossunder
from strategies.registry import get_strategy

scenarios("strategy_signals.feature")

TURN = 80  # every shaped series turns after this many bars


@pytest.fixture()
def world():
    """What the scenario has set up and computed so far."""
    return {}


def _frame(close: np.ndarray, whole_bars: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": np.arange(close.size) * 60_000, "close": close})
    if whole_bars:
        # Candles from closes: open at the previous close, 0.25 beyond the body both ways.
        frame["open"] = np.r_[close[:1], close[:-1]]
        frame["high"] = np.maximum(frame["open"], close) + 0.25
        frame["low"] = np.minimum(frame["open"], close) - 0.25
    return frame


def _moves(first: str, bars: int, then_steps: str, after: int) -> np.ndarray:
    steps = [float(s) for s in then_steps.split(",")]
    moves = [float(first)] * bars + [steps[i % len(steps)] for i in range(after)]
    return 200.0 + np.concatenate([[0.0], np.cumsum(moves)])


@given(parsers.parse('the "{name}" strategy with its default parameters'))
def default_strategy(world, name):
    world["strategy"] = get_strategy(name)
    world["params"] = None


@given(parsers.parse('the "{name}" strategy with {key} set to {value:d}'))
def strategy_with_param(world, name, key, value):
    world["strategy"] = get_strategy(name)
    world["params"] = {key: value}


@given(parsers.re(r"closes that move by (?P<first>[-+]\d+) for (?P<bars>\d+) bars and then by "
                  r"(?P<steps>[-+\d, ]+?)(?: in turn)? for (?P<after>\d+) bars"))
def shaped_closes(world, first, bars, steps, after):
    assert int(bars) == TURN
    world["close"] = _moves(first, int(bars), steps, int(after))


@given(parsers.parse("{count:d} equal closes"))
def equal_closes(world, count):
    world["close"] = np.full(count, 42.0)


@given(parsers.parse("random closes one bar fewer than its warm-up of {warmup:d} bars"))
def short_random_closes(world, warmup):
    assert world["strategy"].warmup() == warmup
    world["close"] = 100 + np.random.default_rng(7).normal(0, 2, warmup - 1).cumsum()


@when("the signals are computed")
def compute(world):
    world["frame"] = _frame(world["close"], world["strategy"].inputs == "bars")
    world["out"] = world["strategy"].compute(world["frame"], world["params"])
    world["signal"] = world["out"]["signal"].to_numpy()


@then(parsers.parse("the only signal is a {kind} after the turn"))
def only_signal(world, kind):
    hits = np.flatnonzero(world["signal"])
    assert hits.size == 1 and hits[0] > TURN
    assert world["signal"][hits[0]] == {"BUY": 1, "SELL": -1}[kind]


@then("every bar is a HOLD")
def all_hold(world):
    assert (world["signal"] == 0).all()


@then(parsers.parse("the short SMA crosses {direction} the long SMA after the turn with RSI at "
                    "{level:d} or {side}"))
def crossing_with_rsi(world, direction, level, side):
    out = world["out"]
    cross = crossover if direction == "over" else crossunder
    bars = np.flatnonzero(cross(out["sma_short"], out["sma_long"]))
    assert bars.size == 1 and bars[0] > TURN
    value = out["rsi"].iloc[bars[0]]
    assert value >= level if side == "above" else value <= level


@then(parsers.parse("no bar is a {kind}"))
def no_bar_is(world, kind):
    assert not (world["signal"] == {"BUY": 1, "SELL": -1}[kind]).any()


@then("it comes earlier than with the default RSI_OVERSOLD of 30, as RSI rising from 0 passes "
      "10 first")
def earlier_than_default(world):
    default = world["strategy"].compute(_frame(world["close"]))["signal"].to_numpy()
    assert np.flatnonzero(world["signal"])[0] < np.flatnonzero(default)[0]


@given(parsers.parse("{count:d} closes of {level:g}, then a close of {low:g}, then a close of "
                     "{back:g}"))
def dip_and_back(world, count, level, low, back):
    world["close"] = np.r_[np.full(count, level), low, back]


@given(parsers.parse("{count:d} closes of {level:g}, then a close of {jump:g}"))
def jump(world, count, level, jump):
    world["close"] = np.r_[np.full(count, level), jump]


@given(parsers.parse("{count:d} random closes"))
def random_closes(world, count):
    world["close"] = (100 + np.random.default_rng(3).normal(0, 1, count).cumsum()).round(2)


@then("the last candle arms a buy stop at its lower band")
def buy_stop_at_lower(world):
    out = world["out"]
    assert np.flatnonzero(out["long_entry"]).tolist() == [len(out) - 1]
    assert out["long_stop"].iloc[-1] == out["lower"].iloc[-1]


@then("every other candle cancels the buy stop")
def cancels_elsewhere(world):
    cancel = world["out"]["long_cancel"].to_numpy()
    assert cancel[:-1].all() and not cancel[-1]


@then(parsers.parse("the last candle arms a buy stop at {level:g}"))
def buy_stop_at(world, level):
    out = world["out"]
    assert np.flatnonzero(out["long_entry"]).tolist() == [len(out) - 1]
    assert out["long_stop"].iloc[-1] == pytest.approx(level)


@then(parsers.parse("from candle {first:d} on every candle arms a buy stop {tick:g} above the "
                    "highest high of the last {n:d}"))
def channel_buy_stops(world, first, tick, n):
    out, frame = world["out"], world["frame"]
    assert not out["long_entry"][: first - 1].any() and out["long_entry"][first - 1:].all()
    expected = frame["high"].rolling(n).max() + tick
    assert np.allclose(out["long_stop"][first - 1:], expected[first - 1:])


@then(parsers.parse("from candle {first:d} on every candle arms a sell stop {tick:g} below the "
                    "lowest low of the last {n:d}"))
def channel_sell_stops(world, first, tick, n):
    out, frame = world["out"], world["frame"]
    assert out["short_entry"].all()
    expected = frame["low"].rolling(n).min() - tick
    assert np.allclose(out["short_stop"][first - 1:], expected[first - 1:])


@then(parsers.parse("the first {count:d} candles sell at market, as Pine does with a stop of na"))
def market_sells(world, count):
    out = world["out"]
    assert np.isnan(out["short_stop"][:count]).all()
    assert out["signal"][:count].tolist() == [-1] * count and not out["signal"][count:].any()
