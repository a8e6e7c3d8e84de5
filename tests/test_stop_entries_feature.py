"""Runs features/stop_entries.feature: the order broker's stop entries, OCA, sizing and risk."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.engine import REASONS, FillRules
from backtest.orders import INTRADAY_LOSS, OrderRules, simulate_orders
from strategies.orders import Intents

scenarios("stop_entries.feature")

ORDER = re.compile(r"(buy|sell)(?: stop (\S+))?$|cancel (buy|sell)$")


@pytest.fixture()
def world():
    """The scenario's broker settings, candles, orders and trades."""
    return {"qty": 1.0, "capital": 10_000.0, "percent": None, "lot": 1e-8, "oca": False,
            "loss": None}


@given(parsers.parse("a long-short order backtest of {qty:g} contract with a tick of {tick:g}"))
def order_backtest(world, qty, tick):
    world.update(qty=qty, tick=tick)


@given("the orders are one OCA cancel group")
def oca_group(world):
    world["oca"] = True


@given(parsers.parse("orders sized at {pct:g} % of equity in lots of {lot:g} on a capital of "
                     "{capital:g}"))
def percent_sizing(world, pct, lot, capital):
    world.update(percent=pct, lot=lot, capital=capital)


@given(parsers.parse("a max intraday loss of {pct:g} % of equity and orders of {qty:g} "
                     "contracts on a capital of {capital:g}"))
def intraday_loss(world, pct, qty, capital):
    world.update(loss=pct, qty=qty, capital=capital)


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


@given("these candles and orders")
def candles_and_orders(world, datatable):
    head, *rows = datatable
    table = pd.DataFrame(rows, columns=head)
    world["bars"] = [table[c].astype(float).to_numpy() for c in ("open", "high", "low", "close")]
    world["intents"] = parse_orders(table["order"].tolist())


@when("the orders are run")
def run(world):
    rules = FillRules(mode="long-short", qty=world["qty"], commission=0.0, stop_loss=None,
                      take_profit=None)
    orules = OrderRules(mintick=world["tick"], lot=world["lot"], qty_percent=world["percent"],
                        oca=world["oca"], intraday_loss=world["loss"])
    world["trades"] = simulate_orders(*world["bars"], world["intents"], rules, orules,
                                      world["capital"])


def _trade(world, number):
    trades = world["trades"]
    assert len(trades) >= number, f"only {len(trades)} trade(s)"
    return trades, number - 1


@then(parsers.parse("trade {number:d} enters {side} at {price:g} on candle {candle:d}"))
def enters(world, number, side, price, candle):
    trades, k = _trade(world, number)
    assert trades.direction[k] == {"long": 1, "short": -1}[side]
    assert trades.entry_price[k] == pytest.approx(price, abs=1e-12)
    assert trades.entry_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} exits at {price:g} on candle {candle:d} by {reason}"))
def exits(world, number, price, candle, reason):
    trades, k = _trade(world, number)
    assert REASONS[trades.reason[k]] == reason
    assert trades.exit_price[k] == pytest.approx(price, abs=1e-12)
    assert trades.exit_bar[k] == candle - 1
    assert reason != "max_intraday_loss" or trades.reason[k] == INTRADAY_LOSS


@then(parsers.parse("trade {number:d} holds {qty:g} contracts"))
def holds(world, number, qty):
    trades, k = _trade(world, number)
    assert trades.qty[k] == pytest.approx(qty, abs=1e-9)


@then(parsers.re(r"there (?:is|are) (?P<count>\d+) trades?"))
def trade_count(world, count):
    assert len(world["trades"]) == int(count)
