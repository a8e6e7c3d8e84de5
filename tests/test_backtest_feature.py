"""Runs features/backtest.feature: fills, protective exits, fees and the open position."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.engine import REASONS, FillRules
from backtest.run import run_on_signal
from backtest.tradelist import trade_rows

scenarios("backtest.feature")

T0 = 1_704_067_200_000
SIGNALS = {"BUY": 1, "SELL": -1, "HOLD": 0}


@pytest.fixture()
def world():
    """The scenario's rules, candles and result."""
    return {"commission": 0.0}


@given(parsers.parse("a long-only backtest of {qty:g} BTC with a {sl:g} % stop-loss and a "
                     "{tp:g} % take-profit"))
def backtest_settings(world, qty, sl, tp):
    world.update(qty=qty, sl=sl / 100, tp=tp / 100)


@given(parsers.parse("a commission of {pct:g} % per side"))
def commission(world, pct):
    world["commission"] = pct / 100


@given("these candles and signals")
def candles_and_signals(world, datatable):
    head, *rows = datatable
    table = pd.DataFrame(rows, columns=head)
    world["candles"] = pd.DataFrame({
        "timestamp": T0 + 60_000 * np.arange(len(table), dtype=np.int64),
        **{col: table[col].astype(float) for col in ("open", "high", "low", "close")},
        "volume": 1.0,
    })
    world["signal"] = np.array([SIGNALS[s] for s in table["signal"]], dtype=np.int8)


@when("the backtest runs")
def run(world):
    rules = FillRules(qty=world["qty"], commission=world["commission"], stop_loss=world["sl"],
                      take_profit=world["tp"])
    world["result"] = run_on_signal(world["candles"], world["signal"], rules, 10_000.0,
                                    "sma_rsi")


def _trade(world, number):
    trades = world["result"].trades
    assert len(trades) >= number, f"only {len(trades)} trade(s)"
    return trades, number - 1


@then(parsers.parse("trade {number:d} enters long at {price:g} on candle {candle:d}"))
def enters(world, number, price, candle):
    trades, k = _trade(world, number)
    assert trades.direction[k] == 1
    assert trades.entry_price[k] == pytest.approx(price)
    assert trades.entry_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} exits at {price:g} on candle {candle:d} by {reason}"))
def exits(world, number, price, candle, reason):
    trades, k = _trade(world, number)
    assert REASONS[trades.reason[k]] == reason.replace("-", "_")
    assert trades.exit_price[k] == pytest.approx(price)
    assert trades.exit_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} pays {fee:g} USDT commission for a net P&L of "
                    "{pnl:g} USDT"))
def pays(world, number, fee, pnl):
    _, k = _trade(world, number)
    ledger = world["result"].ledger
    assert ledger.commission[k] == pytest.approx(fee)
    assert ledger.net_pnl[k] == pytest.approx(pnl)


@then(parsers.parse("the report's Commission Paid is {fee:g} USDT"))
def commission_paid(world, fee):
    assert world["result"].summary["Commission Paid"] == pytest.approx(fee)


@then(parsers.parse("trade {number:d} is open, marked to {price:g} on candle {candle:d}"))
def still_open(world, number, price, candle):
    trades, k = _trade(world, number)
    assert bool(trades.is_open[k])
    assert trades.exit_price[k] == pytest.approx(price)
    assert trades.exit_bar[k] == candle - 1


@then(parsers.parse("the report shows {closed:d} closed trades, {opened:d} open trade and an "
                    "Open PL of {pnl:g} USDT"))
def open_in_report(world, closed, opened, pnl):
    summary = world["result"].summary
    assert summary["Total Closed Trades"] == closed
    assert summary["Total Open Trades"] == opened
    assert summary["Open PL"] == pytest.approx(pnl)


@then(parsers.parse("the trade list's exit row of trade {number:d} says Open"))
def open_in_trade_list(world, number):
    result = world["result"]
    rows = trade_rows(result.trades, result.ledger, result.timestamps, "sma_rsi",
                      result.rules.qty, result.capital)
    exit_row = rows[2 * number - 1]
    assert exit_row[1] == "Exit long" and exit_row[3] == "Open"
