"""The trade list CSV in TradingView's current "List of trades" layout."""

import numpy as np
import pytest

from backtest.engine import FillRules, simulate
from backtest.ledger import build_ledger
from backtest.tradelist import format_times, header, trade_rows, write_trade_list
from backtest.tvexport import read_tv_trades

CURRENT = ("Trade #,Type,Date/Time,Signal,Price USD,Position size (qty),Position size (value),"
           "Net P&L USD,Net P&L %,Run-up USD,Run-up %,Drawdown USD,Drawdown %,"
           "Cumulative P&L USD,Cumulative P&L %")
HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def example(mode="long-only", signal=(1, 0, -1, 0, 0)):
    """Trades and ledger of five hourly bars; by default one long closed by signal."""
    rows = [(100, 101, 99, 100), (100, 103, 98, 102), (102, 104, 101, 103),
            (104, 105, 103, 104), (104, 106, 103, 105)]
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    rules = FillRules(mode=mode, qty=2.0, commission=0.0, stop_loss=None, take_profit=None)
    trades = simulate(o, h, lo, c, np.array(signal, dtype=np.int8), rules)
    stamps = T0 + HOUR_MS * np.arange(5, dtype=np.int64)
    return trades, build_ledger(trades, h, lo, rules), stamps


def test_header_is_tradingviews_current_layout():
    """
    Given the account currency USD
    When the header is built
    Then it is TradingView's current export header, column for column
    """
    assert ",".join(header("USD")) == CURRENT


def test_times_are_utc_with_an_offset():
    """
    Given the epoch ms of 2024-01-01 00:00 and 13:30 UTC
    When they are formatted
    Then they read 2024-01-01T00:00:00+0000 and 2024-01-01T13:30:00+0000
    """
    got = format_times(np.array([T0, T0 + 13 * HOUR_MS + 1_800_000]))
    assert got == ["2024-01-01T00:00:00+0000", "2024-01-01T13:30:00+0000"]


def test_rows_are_entry_then_exit_per_trade():
    """
    Given one rsi long bought at 100 and sold at 104 with 2 contracts
    When the rows are built
    Then the entry and exit rows carry TradingView's ids, times, prices and the trade's money
    """
    trades, ledger, stamps = example()
    rows = trade_rows(trades, ledger, stamps, "rsi", 2.0, 1000.0)
    assert rows[0][:5] == ["1", "Entry long", "2024-01-01T01:00:00+0000", "RsiLE", "100"]
    assert rows[1][:5] == ["1", "Exit long", "2024-01-01T03:00:00+0000", "RsiSE", "104"]
    # qty, value, net P&L, %, run-up, %, drawdown, %, cumulative, %
    assert rows[1][5:] == ["2", "200", "8", "4", "8", "4", "-4", "-2", "8", "0.8"]


def test_open_trade_exit_row_says_open_at_the_last_close():
    """
    Given a long still open at the end
    When the rows are built
    Then its exit row has Signal Open, the last bar's time and its close
    """
    trades, ledger, stamps = example(signal=(1, 0, 0, 0, 0))
    rows = trade_rows(trades, ledger, stamps, "sma_rsi", 2.0, 1000.0)
    assert rows[1][1:5] == ["Exit long", "2024-01-01T04:00:00+0000", "Open", "105"]


def test_short_rows_in_long_short_mode():
    """
    Given a macd short from the SELL on bar 0 reversed by a BUY on bar 2
    When the rows are built
    Then trade 1 is Entry short / Exit short with MacdSE then MacdLE, trade 2 an Entry long
    """
    trades, ledger, stamps = example("long-short", signal=(-1, 0, 1, 0, 0))
    rows = trade_rows(trades, ledger, stamps, "macd", 2.0, 1000.0)
    assert [r[1] for r in rows] == ["Entry short", "Exit short", "Entry long", "Exit long"]
    assert [r[3] for r in rows] == ["MacdSE", "MacdLE", "MacdLE", "Open"]


def test_written_list_reads_back_as_a_tradingview_export(tmp_path):
    """
    Given the trade list of a reversing backtest written to CSV
    When it is read with the TradingView export reader
    Then every trade, side, price, size and P&L comes back
    """
    trades, ledger, stamps = example("long-short", signal=(-1, 0, 1, 0, 0))
    path = write_trade_list(tmp_path / "trades.csv", trades, ledger, stamps, "macd", 2.0, 1000.0,
                            currency="USD")
    assert path.read_text().splitlines()[0] == CURRENT
    back = read_tv_trades(path)
    assert [t.direction for t in back] == [-1, 1]
    assert back[0].entry_price.value == 100.0 and back[0].exit_price.value == 104.0
    assert back[0].pnl.value == pytest.approx(-8.0)
    assert back[0].qty == 2.0
    assert back[1].is_open and not back[0].is_open
