"""Parity with TradingView: the built-in RSI and MACD strategies' exported trade lists.

``tests/fixtures/tradingview`` (vendored from PyneCore) holds TradingView's "List of trades"
exports of its RSI Strategy (194 trades) and MACD Strategy (1,808 trades) on 23,054 EURUSD 1h
bars, 1 contract, no commission. The backtester must reproduce every trade.
"""

import csv

import pytest

import main
from backtest.data import load_candles
from backtest.engine import FillRules
from backtest.run import run_backtest
from backtest.tvexport import parse_number, read_tv_trades
from tests.conftest import require_tv_reference

CASES = [("rsi", "rsi_trades.csv", 194), ("macd", "macd_trades.csv", 1808)]


@pytest.mark.parametrize(("strategy", "export", "count"), CASES)
def test_compare_matches_every_tradingview_trade(strategy, export, count, capsys):
    """
    Given TradingView's trade export of a built-in strategy and the chart's candles
    When compare runs long-short with 1 contract and no commission
    Then every trade matches (side, entry and exit time, prices, P&L) and it exits 0
    """
    trades = require_tv_reference(export)
    candles = require_tv_reference("ohlcv.csv")
    status = main.main(["compare", "--tv-trades", str(trades), "--data", str(candles),
                        "--strategy", strategy, "--mode", "long-short", "--qty", "1",
                        "--commission", "0"])
    out = capsys.readouterr().out
    assert f"matched {count} of {count} trades, mismatched 0" in out
    assert status == 0


@pytest.mark.parametrize(("strategy", "export", "count"), CASES)
def test_run_up_and_drawdown_match_the_export_too(strategy, export, count):
    """
    Given the same exports
    When the backtest's per-trade run-up and drawdown are checked against the export's
    Then all of them match to the export's rounding, in currency and in percent
    """
    theirs = require_tv_reference(export)
    candles = load_candles(require_tv_reference("ohlcv.csv"))
    rules = FillRules(mode="long-short", qty=1, commission=0, stop_loss=None, take_profit=None)
    ledger = run_backtest(candles, strategy, None, rules, 1_000_000.0).ledger
    rows = sorted((r for r in csv.DictReader(theirs.open()) if r["Type"].startswith("Exit")),
                  key=lambda r: int(r["Trade #"]))
    assert len(rows) == len(read_tv_trades(theirs)) == ledger.run_up.size == count
    for k, row in enumerate(rows):
        value = ledger.entry_value[k]
        assert parse_number(row["Run-up USD"]).matches(ledger.run_up[k]), row
        assert parse_number(row["Drawdown USD"]).matches(ledger.drawdown[k]), row
        assert parse_number(row["Run-up %"]).matches(100 * ledger.run_up[k] / value), row
        assert parse_number(row["Drawdown %"]).matches(100 * ledger.drawdown[k] / value), row
