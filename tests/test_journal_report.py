"""The trades-journal summary behind `python main.py report`."""

import pandas as pd
import pytest

from commands import report as report_command
from storage.journal_summary import (
    JournalSummary,
    format_summary,
    last_stored_close,
    open_position_line,
    summarize,
)
from storage.trades import TradeJournal, TradeRow, read_trades

T0 = 1_700_000_000_000


def journal_three_round_trips(path):
    journal = TradeJournal(path)
    rows = [
        TradeRow(T0, "1", "buy", 0.001, entry_price=100_000, fee=0.000001, fee_currency="BTC",
                 filled_price=100_000, client_order_id="a", symbol="BTC/USDT"),
        TradeRow(T0 + 1, "2", "sell", 0.000999, entry_price=100_000, exit_price=104_000,
                 pnl=3.6, take_profit_triggered=True, exit_reason="take_profit", fee=0.1,
                 fee_currency="USDT", filled_price=104_000, client_order_id="b",
                 symbol="BTC/USDT"),
        TradeRow(T0 + 2, "3", "buy", 0.001, entry_price=100_000, fee=0.000001,
                 fee_currency="BTC", filled_price=100_000, client_order_id="c",
                 symbol="BTC/USDT"),
        TradeRow(T0 + 3, "4", "sell", 0.000999, entry_price=100_000, exit_price=98_000,
                 pnl=-2.2, stop_loss_triggered=True, exit_reason="stop_loss", fee=0.1,
                 fee_currency="USDT", filled_price=98_000, client_order_id="d",
                 symbol="BTC/USDT"),
        TradeRow(T0 + 4, "5", "buy", 0.001, entry_price=100_000, fee=0.000001,
                 fee_currency="BTC", filled_price=100_000, client_order_id="e",
                 symbol="BTC/USDT"),
        TradeRow(T0 + 5, "6", "sell", 0.000999, entry_price=100_000, exit_price=99_500,
                 pnl=-0.7, exit_reason="signal", fee=0.1, fee_currency="USDT",
                 filled_price=99_500, client_order_id="f", symbol="BTC/USDT"),
        TradeRow(T0 + 6, "7", "buy", 0.001, entry_price=100_000, fee=0.000001,
                 fee_currency="BTC", filled_price=100_000, client_order_id="g",
                 symbol="BTC/USDT"),
    ]
    for row in rows:
        journal.append(row)


def test_summary_counts_pnl_fees_drawdown_and_exit_reasons(tmp_path):
    """
    Given a journal with a take-profit win, a stop-loss loss, a signal loss and an open buy
    When it is summarised
    Then it counts 3 closed trades (1 win, 2 losses), net PnL 0.7, fees valued in USDT,
     a realised drawdown of 2.9 and one exit of each reason, with a position still open
    """
    path = tmp_path / "trades.csv"
    journal_three_round_trips(path)
    s = summarize(read_trades(path))
    assert (s.orders, s.closed_trades, s.wins, s.losses) == (7, 3, 1, 2)
    assert s.net_pnl == pytest.approx(0.7)
    assert s.fees_quote == pytest.approx(4 * 0.1 + 3 * 0.1)
    assert s.max_drawdown == pytest.approx(2.9)
    assert s.exit_reasons == {"take_profit": 1, "stop_loss": 1, "signal": 1}
    assert s.open_position is True
    assert s.win_rate == pytest.approx(1 / 3)


def test_empty_journal_summary():
    """
    Given an empty trades frame
    When it is summarised and formatted
    Then it reports that nothing was journaled
    """
    empty = pd.DataFrame(columns=["PnL"])
    assert summarize(empty) == JournalSummary()
    assert format_summary(JournalSummary()) == "No trades journaled yet."


def test_report_command_prints_the_summary(tmp_path, capsys):
    """
    Given a journal file
    When `main.py report --trades FILE` runs
    Then it prints the net PnL and the exit reasons and exits 0
    """
    path = tmp_path / "trades.csv"
    journal_three_round_trips(path)
    parser = __import__("argparse").ArgumentParser()
    report_command.add_arguments(parser)
    assert report_command.run(parser.parse_args(["--trades", str(path)])) == 0
    out = capsys.readouterr().out
    assert "Net PnL: +0.7000 USDT" in out
    assert "stop_loss 1" in out and "take_profit 1" in out


def test_report_command_without_a_journal_exits_2(tmp_path, capsys):
    """
    Given no journal file
    When the report command runs on it
    Then it says to run the bot first and exits 2
    """
    parser = __import__("argparse").ArgumentParser()
    report_command.add_arguments(parser)
    assert report_command.run(parser.parse_args(["--trades", str(tmp_path / "x.csv")])) == 2
    assert "run the bot first" in capsys.readouterr().err


def test_open_position_is_shown_with_size_entry_and_unrealised_pnl(tmp_path, capsys):
    """
    Given a journal ending with a buy of 0.001 BTC at 100,000 (fee 0.000001 BTC) and a candle
        file whose last close is 101,000
    When `report` runs
    Then it prints the held size, entry price and unrealised PnL at that close
    """
    path = tmp_path / "historical_trades.csv"
    journal_three_round_trips(path)
    (tmp_path / "historical_data.csv").write_text(
        f"timestamp,open,high,low,close,volume\n{T0 + 60_000},1,101500,1,101000,1\n")
    parser = __import__("argparse").ArgumentParser()
    report_command.add_arguments(parser)
    assert report_command.run(parser.parse_args(["--trades", str(path)])) == 0
    out = capsys.readouterr().out
    assert "Open position: 0.000999 BTC bought at 100,000.00 USDT" in out
    assert "unrealised PnL +0.9990 USDT at the last stored close 101,000.00" in out


def test_open_position_line_without_candles_or_position():
    """
    Given an open position with no candle to mark it to, and a flat summary
    When open_position_line is built
    Then the first says so and the second is None
    """
    summary = JournalSummary(orders=1, open_position=True, open_entry_price=10.0,
                             open_quantity=2.0, open_since_ms=T0)
    assert open_position_line(summary, None).endswith("no stored candle to mark it to")
    assert open_position_line(JournalSummary(), (T0, 1.0)) is None


def test_last_stored_close_reads_the_tail(tmp_path):
    """
    Given a candle CSV with two rows and a partial last line, and a missing file
    When last_stored_close reads them
    Then it gives the last complete row's time and close, and None
    """
    path = tmp_path / "c.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1,1,1,1,5,1\n2,1,1,1,6,1\n3,1,1")
    assert last_stored_close(path) == (2, 6.0)
    assert last_stored_close(tmp_path / "none.csv") is None
