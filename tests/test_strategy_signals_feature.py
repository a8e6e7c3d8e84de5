"""Runs features/strategy_signals.feature: BUY / SELL / HOLD of each strategy, as users read it.

Steps pass the chosen strategy, the closes and the computed signals to later steps with
``target_fixture``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from strategies.indicators import crossover, crossunder
from strategies.registry import Strategy, get_strategy

scenarios("strategy_signals.feature")

TURN = 80  # every shaped series turns after this many bars


@dataclass(frozen=True)
class Chosen:
    """A strategy and the parameters it runs with (None: its defaults)."""

    strategy: Strategy
    params: dict[str, int] | None


@dataclass(frozen=True)
class Computed:
    """The candle frame the closes made, the strategy's output and its signal column."""

    frame: pd.DataFrame
    out: pd.DataFrame
    signal: np.ndarray


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


@given(parsers.parse('the "{name}" strategy with its default parameters'),
       target_fixture="chosen")
def default_strategy(name) -> Chosen:
    return Chosen(get_strategy(name), None)


@given(parsers.parse('the "{name}" strategy with {key} set to {value:d}'),
       target_fixture="chosen")
def strategy_with_param(name, key, value) -> Chosen:
    return Chosen(get_strategy(name), {key: value})


@given(parsers.re(r"closes that move by (?P<first>[-+]\d+) for (?P<bars>\d+) bars and then by "
                  r"(?P<steps>[-+\d, ]+?)(?: in turn)? for (?P<after>\d+) bars"),
       target_fixture="close")
def shaped_closes(first, bars, steps, after) -> np.ndarray:
    assert int(bars) == TURN
    return _moves(first, int(bars), steps, int(after))


@given(parsers.parse("{count:d} equal closes"), target_fixture="close")
def equal_closes(count) -> np.ndarray:
    return np.full(count, 42.0)


@given(parsers.parse("random closes one bar fewer than its warm-up of {warmup:d} bars"),
       target_fixture="close")
def short_random_closes(chosen, warmup) -> np.ndarray:
    assert chosen.strategy.warmup() == warmup
    return 100 + np.random.default_rng(7).normal(0, 2, warmup - 1).cumsum()


@when("the signals are computed", target_fixture="computed")
def compute(chosen, close) -> Computed:
    frame = _frame(close, chosen.strategy.inputs == "bars")
    out = chosen.strategy.compute(frame, chosen.params)
    return Computed(frame, out, out["signal"].to_numpy())


@then(parsers.parse("the only signal is a {kind} after the turn"))
def only_signal(computed, kind):
    hits = np.flatnonzero(computed.signal)
    assert hits.size == 1 and hits[0] > TURN
    assert computed.signal[hits[0]] == {"BUY": 1, "SELL": -1}[kind]


@then("every bar is a HOLD")
def all_hold(computed):
    assert (computed.signal == 0).all()


@then(parsers.parse("the short SMA crosses {direction} the long SMA after the turn with RSI at "
                    "{level:d} or {side}"))
def crossing_with_rsi(computed, direction, level, side):
    out = computed.out
    cross = crossover if direction == "over" else crossunder
    bars = np.flatnonzero(cross(out["sma_short"], out["sma_long"]))
    assert bars.size == 1 and bars[0] > TURN
    value = out["rsi"].iloc[bars[0]]
    assert value >= level if side == "above" else value <= level


@then(parsers.parse("no bar is a {kind}"))
def no_bar_is(computed, kind):
    assert not (computed.signal == {"BUY": 1, "SELL": -1}[kind]).any()


@then("it comes earlier than with the default RSI_OVERSOLD of 30, as RSI rising from 0 passes "
      "10 first")
def earlier_than_default(chosen, close, computed):
    default = chosen.strategy.compute(_frame(close))["signal"].to_numpy()
    assert np.flatnonzero(computed.signal)[0] < np.flatnonzero(default)[0]


@given(parsers.parse("{count:d} closes of {level:g}, then a close of {low:g}, then a close of "
                     "{back:g}"), target_fixture="close")
def dip_and_back(count, level, low, back) -> np.ndarray:
    return np.r_[np.full(count, level), low, back]


@given(parsers.parse("{count:d} closes of {level:g}, then a close of {jump:g}"),
       target_fixture="close")
def jump(count, level, jump) -> np.ndarray:
    return np.r_[np.full(count, level), jump]


@given(parsers.parse("{count:d} random closes"), target_fixture="close")
def random_closes(count) -> np.ndarray:
    return (100 + np.random.default_rng(3).normal(0, 1, count).cumsum()).round(2)


@then("the last candle arms a buy stop at its lower band")
def buy_stop_at_lower(computed):
    out = computed.out
    assert np.flatnonzero(out["long_entry"]).tolist() == [len(out) - 1]
    assert out["long_stop"].iloc[-1] == out["lower"].iloc[-1]


@then("every other candle cancels the buy stop")
def cancels_elsewhere(computed):
    cancel = computed.out["long_cancel"].to_numpy()
    assert cancel[:-1].all() and not cancel[-1]


@then(parsers.parse("the last candle arms a buy stop at {level:g}"))
def buy_stop_at(computed, level):
    out = computed.out
    assert np.flatnonzero(out["long_entry"]).tolist() == [len(out) - 1]
    assert out["long_stop"].iloc[-1] == pytest.approx(level)


@then(parsers.parse("from candle {first:d} on every candle arms a buy stop {tick:g} above the "
                    "highest high of the last {n:d}"))
def channel_buy_stops(computed, first, tick, n):
    out, frame = computed.out, computed.frame
    assert not out["long_entry"][: first - 1].any() and out["long_entry"][first - 1:].all()
    expected = frame["high"].rolling(n).max() + tick
    assert np.allclose(out["long_stop"][first - 1:], expected[first - 1:])


@then(parsers.parse("from candle {first:d} on every candle arms a sell stop {tick:g} below the "
                    "lowest low of the last {n:d}"))
def channel_sell_stops(computed, first, tick, n):
    out, frame = computed.out, computed.frame
    assert out["short_entry"].all()
    expected = frame["low"].rolling(n).min() - tick
    assert np.allclose(out["short_stop"][first - 1:], expected[first - 1:])


@then(parsers.parse("the first {count:d} candles sell at market, as Pine does with a stop of na"))
def market_sells(computed, count):
    out = computed.out
    assert np.isnan(out["short_stop"][:count]).all()
    assert out["signal"][:count].tolist() == [-1] * count and not out["signal"][count:].any()
