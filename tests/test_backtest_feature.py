"""Runs features/backtest.feature: fills, protective exits, fees and the open position.

Steps pass the fill rules, the candles with their signals and the result on with
``target_fixture``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.engine import REASONS, FillRules
from backtest.run import BacktestResult, run_on_signal
from backtest.tradelist import trade_rows

scenarios("backtest.feature")

T0 = 1_704_067_200_000
SIGNALS = {"BUY": 1, "SELL": -1, "HOLD": 0}


@dataclass(frozen=True)
class Market:
    """The scenario's candles and the signal of each."""

    candles: pd.DataFrame
    signal: np.ndarray


@given(parsers.parse("a long-only backtest of {qty:g} BTC with a {sl:g} % stop-loss and a "
                     "{tp:g} % take-profit"), target_fixture="rules")
def backtest_settings(qty, sl, tp) -> FillRules:
    return FillRules(qty=qty, commission=0.0, stop_loss=sl / 100, take_profit=tp / 100)


@given(parsers.parse("a commission of {pct:g} % per side"), target_fixture="rules")
def commission(rules, pct) -> FillRules:
    return replace(rules, commission=pct / 100)


@given("these candles and signals", target_fixture="market")
def candles_and_signals(datatable) -> Market:
    head, *rows = datatable
    table = pd.DataFrame(rows, columns=head)
    candles = pd.DataFrame({
        "timestamp": T0 + 60_000 * np.arange(len(table), dtype=np.int64),
        **{col: table[col].astype(float) for col in ("open", "high", "low", "close")},
        "volume": 1.0,
    })
    return Market(candles, np.array([SIGNALS[s] for s in table["signal"]], dtype=np.int8))


@when("the backtest runs", target_fixture="result")
def run(rules, market) -> BacktestResult:
    return run_on_signal(market.candles, market.signal, rules, 10_000.0, "sma_rsi")


def _trade(result, number):
    trades = result.trades
    assert len(trades) >= number, f"only {len(trades)} trade(s)"
    return trades, number - 1


@then(parsers.parse("trade {number:d} enters long at {price:g} on candle {candle:d}"))
def enters(result, number, price, candle):
    trades, k = _trade(result, number)
    assert trades.direction[k] == 1
    assert trades.entry_price[k] == pytest.approx(price)
    assert trades.entry_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} exits at {price:g} on candle {candle:d} by {reason}"))
def exits(result, number, price, candle, reason):
    trades, k = _trade(result, number)
    assert REASONS[trades.reason[k]] == reason.replace("-", "_")
    assert trades.exit_price[k] == pytest.approx(price)
    assert trades.exit_bar[k] == candle - 1


@then(parsers.parse("trade {number:d} pays {fee:g} USDT commission for a net P&L of "
                    "{pnl:g} USDT"))
def pays(result, number, fee, pnl):
    _, k = _trade(result, number)
    ledger = result.ledger
    assert ledger.commission[k] == pytest.approx(fee)
    assert ledger.net_pnl[k] == pytest.approx(pnl)


@then(parsers.parse("the report's Commission Paid is {fee:g} USDT"))
def commission_paid(result, fee):
    assert result.summary["Commission Paid"] == pytest.approx(fee)


@then(parsers.parse("trade {number:d} is open, marked to {price:g} on candle {candle:d}"))
def still_open(result, number, price, candle):
    trades, k = _trade(result, number)
    assert bool(trades.is_open[k])
    assert trades.exit_price[k] == pytest.approx(price)
    assert trades.exit_bar[k] == candle - 1


@then(parsers.parse("the report shows {closed:d} closed trades, {opened:d} open trade and an "
                    "Open PL of {pnl:g} USDT"))
def open_in_report(result, closed, opened, pnl):
    summary = result.summary
    assert summary["Total Closed Trades"] == closed
    assert summary["Total Open Trades"] == opened
    assert summary["Open PL"] == pytest.approx(pnl)


@then(parsers.parse("the trade list's exit row of trade {number:d} says Open"))
def open_in_trade_list(result, number):
    rows = trade_rows(result.trades, result.ledger, result.timestamps, "sma_rsi",
                      result.rules.qty, result.capital)
    exit_row = rows[2 * number - 1]
    assert exit_row[1] == "Exit long" and exit_row[3] == "Open"
