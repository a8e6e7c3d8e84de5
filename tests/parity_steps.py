"""The steps of features/parity.feature (run by tests/test_live_backtest_parity.py).

The scenarios run in the module whose tests use the same replayed run, so it is made once.
The replayed run and the comparison pass between steps with ``target_fixture``; the made-up
trade lists of the small scenarios are built step by step in a ``TradeLists`` fixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pytest_bdd import given, parsers, then, when

from tests.parity_support import (
    CANDLES,
    SEED,
    TIMEFRAME_MS,
    Trade,
    at,
    compare,
    parity_run,
    tiny_run,
)


@dataclass
class TradeLists:
    """A small made-up case: each side's trades, the bot's polls and the candles' lows."""

    bt: list[Trade] = field(default_factory=list)
    bot: list[Trade] = field(default_factory=list)
    polls: list[tuple[int, float]] = field(default_factory=list)
    lows: list[float] = field(default_factory=lambda: [99.7] * 12)


@pytest.fixture
def lists() -> TradeLists:
    return TradeLists()


@given(parsers.parse("a candle file of {n:d} one-minute candles generated with seed {seed:d}"))
def candle_file(n, seed):
    assert (n, seed) == (CANDLES, SEED), "the parity run is defined in tests/parity_support.py"


@when("the bot trades it on the emulator and the backtester runs on it with the same rules",
      target_fixture="run")
def trade_and_backtest():
    return parity_run()


@pytest.fixture
def result(run):
    """The comparison of the replayed run (the small scenarios set their own)."""
    return compare(run)


@then("the bot stored exactly the candles of the file")
def same_candles(run):
    assert run.stored.equals(run.candles.iloc[: len(run.candles) - 1].reset_index(drop=True))


@then("each trade enters in the candle after its signal, at the open for the backtester and 2 s"
      " later for the bot")
def entries(run, result):
    first = int(run.candles["timestamp"].iat[0])
    for backtest, bot in result.matched:
        open_ms = first + bot.entry_bar * TIMEFRAME_MS
        assert backtest.entry_price == run.candles["open"].iat[bot.entry_bar]
        assert bot.entry_price == pytest.approx(run.price_at(open_ms + 2000), abs=1e-9)


@then("every trade exits in the same candle for the same reason, or by a stop or target the"
      " bot's polls never saw")
def exits(result):
    assert result.unexplained == []
    for _, _, why in result.explained:
        assert "never its own level" in why or "levels, differ" in why or "before the cycle" in why


@then(parsers.parse("at least {n:d} trades agree, with signal exits and stop-loss or take-profit"
                    " exits among them"))
def enough(result, n):
    reasons = {a.reason for a, _ in result.matched}
    assert len(result.matched) >= n
    assert "signal" in reasons and reasons & {"stop_loss", "take_profit"}


@given(parsers.parse("the backtester stopped out in candle {k:d}, whose low {low:g} went under"
                     " its stop {stop:g}"))
def backtest_stop_with_low(lists, k, low, stop):
    assert stop == pytest.approx(100.0 * (1 - 0.004))
    lists.lows[k] = low
    lists.bt.append(Trade(2, k, "stop_loss", 100.0))


@given(parsers.parse("the backtester stopped out in candle {k:d}"))
def backtest_stop(lists, k):
    lists.lows[k] = 99.5
    lists.bt.append(Trade(2, k, "stop_loss", 100.0))


@given(parsers.parse("the bot's four polls in candle {k:d} all stayed at {price:g}, and it sold"
                     " on a signal in candle {j:d}"))
def polls_above(lists, k, price, j):
    lists.polls += [(at(k, s), price) for s in (2, 17, 32, 47)]
    lists.bot.append(Trade(2, j, "signal", 100.0, at(j, 2)))


@given(parsers.parse("one of the bot's polls in candle {k:d} was below the bot's own stop,"
                     " yet it held on"))
def poll_below(lists, k):
    lists.polls.append((at(k, 17), 99.55))
    lists.bot.append(Trade(2, k + 2, "signal", 100.0, at(k + 2, 2)))


@given(parsers.parse("both sides later bought in candle {e:d} and sold in candle {x:d}"))
def later_trade(lists, e, x):
    lists.bt.append(Trade(e, x, "signal", 100.0))
    lists.bot.append(Trade(e, x, "signal", 100.0, at(x, 2)))


@when("the two trade lists are compared", target_fixture="result")
def compare_lists(lists):
    return compare(tiny_run(lists.bot, lists.bt, lists.polls, lows=lists.lows))


@then(parsers.parse("the stop in candle {k:d} is explained by the unseen extreme"))
def explained(result, k):
    [(_, _, why)] = result.explained
    assert why.startswith(f"candle {k}: backtest stop_loss") and "never its own level" in why


@then(parsers.parse("the trades from candle {e:d} on match again"))
def match_again(result, e):
    assert [a.entry_bar for a, _ in result.matched] == [e]
    assert result.unexplained == []


@then("the difference is reported as unexplained")
def unexplained(result):
    assert len(result.unexplained) == 1 and not result.explained
