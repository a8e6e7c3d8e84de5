"""Runs features/stop_entries.feature: the order broker's stop entries, OCA, sizing and risk.

Steps pass the broker settings, the candles with their orders and the trades on with
``target_fixture``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.engine import REASONS, FillRules, Trades
from backtest.orders import INTRADAY_LOSS, OrderRules, simulate_orders
from strategies.orders import Intents

scenarios("stop_entries.feature")

ORDER = re.compile(r"(buy|sell)(?: stop (\S+))?$|cancel (buy|sell)$")


@dataclass(frozen=True)
class Broker:
    """The order backtest's settings: size, tick, capital, percent sizing, OCA and loss stop."""

    qty: float
    tick: float
    capital: float = 10_000.0
    percent: float | None = None
    lot: float = 1e-8
    oca: bool = False
    loss: float | None = None


@dataclass(frozen=True)
class Market:
    """The scenario's candles (open, high, low, close) and the orders placed on each."""

    bars: list[np.ndarray]
    intents: Intents


@given(parsers.parse("a long-short order backtest of {qty:g} contract with a tick of {tick:g}"),
       target_fixture="broker")
def order_backtest(qty, tick) -> Broker:
    return Broker(qty=qty, tick=tick)


@given("the orders are one OCA cancel group", target_fixture="broker")
def oca_group(broker) -> Broker:
    return replace(broker, oca=True)


@given(parsers.parse("orders sized at {pct:g} % of equity in lots of {lot:g} on a capital of "
                     "{capital:g}"), target_fixture="broker")
def percent_sizing(broker, pct, lot, capital) -> Broker:
    return replace(broker, percent=pct, lot=lot, capital=capital)


@given(parsers.parse("a max intraday loss of {pct:g} % of equity and orders of {qty:g} "
                     "contracts on a capital of {capital:g}"), target_fixture="broker")
def intraday_loss(broker, pct, qty, capital) -> Broker:
    return replace(broker, loss=pct, qty=qty, capital=capital)


def parse_orders(cells: list[str]) -> Intents:
    """Each cell: '-', or comma-separated 'buy', 'sell', 'buy stop L', 'cancel sell' ..."""
    n = len(cells)
    entry = {1: np.zeros(n, dtype=bool), -1: np.zeros(n, dtype=bool)}
    stop = {1: np.full(n, np.nan), -1: np.full(n, np.nan)}
    cancel = {1: np.zeros(n, dtype=bool), -1: np.zeros(n, dtype=bool)}
    for bar, cell in enumerate(cells):
        for part in filter(None, (p.strip() for p in cell.split(","))):
            if part == "-":
                continue
            match = ORDER.match(part)
            assert match, f"unknown order {part!r}"
            if match.group(3):
                cancel[1 if match.group(3) == "buy" else -1][bar] = True
                continue
            side = 1 if match.group(1) == "buy" else -1
            entry[side][bar] = True
            stop[side][bar] = float(match.group(2)) if match.group(2) else np.nan
    return Intents(entry[1], stop[1], cancel[1], entry[-1], stop[-1], cancel[-1])


@given("these candles and orders", target_fixture="market")
def candles_and_orders(datatable) -> Market:
    head, *rows = datatable
    table = pd.DataFrame(rows, columns=head)
    bars = [table[c].astype(float).to_numpy() for c in ("open", "high", "low", "close")]
    return Market(bars, parse_orders(table["order"].tolist()))


@when("the orders are run", target_fixture="trades")
def run(broker, market) -> Trades:
    rules = FillRules(mode="long-short", qty=broker.qty, commission=0.0, stop_loss=None,
                      take_profit=None)
    orules = OrderRules(mintick=broker.tick, lot=broker.lot, qty_percent=broker.percent,
                        oca=broker.oca, intraday_loss=broker.loss)
    return simulate_orders(*market.bars, market.intents, rules, orules, broker.capital)


def _trade(trades: Trades, number: int) -> tuple[Trades, int]:
    assert len(trades) >= number, f"only {len(trades)} trade(s)"
    return trades, number - 1


@then(parsers.parse("trade {number:d} enters {side} at {price:g} on candle {candle:d}"))
def enters(trades, number, side, price, candle):
    trades, k = _trade(trades, number)
    assert trades.direction[k] == {"long": 1, "short": -1}[side]
    assert trades.entry_price[k] == pytest.approx(price, abs=1e-12)
    assert trades.entry_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} exits at {price:g} on candle {candle:d} by {reason}"))
def exits(trades, number, price, candle, reason):
    trades, k = _trade(trades, number)
    assert REASONS[trades.reason[k]] == reason
    assert trades.exit_price[k] == pytest.approx(price, abs=1e-12)
    assert trades.exit_bar[k] == candle - 1
    assert reason != "max_intraday_loss" or trades.reason[k] == INTRADAY_LOSS


@then(parsers.parse("trade {number:d} holds {qty:g} contracts"))
def holds(trades, number, qty):
    trades, k = _trade(trades, number)
    assert trades.qty[k] == pytest.approx(qty, abs=1e-9)


@then(parsers.re(r"there (?:is|are) (?P<count>\d+) trades?"))
def trade_count(trades, count):
    assert len(trades) == int(count)
