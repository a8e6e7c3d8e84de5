"""The trades journal: column order, formatting, idempotent appends, partial-line repair."""

from __future__ import annotations

import logging
import math

import pandas as pd
import pytest

from storage.trades import (
    HEADER_LINE,
    TRADE_COLUMNS,
    TradeJournal,
    TradeJournalError,
    TradeRow,
    format_number,
    format_utc,
    load_rows,
    read_trades,
)

T0 = 1_740_744_000_000  # 2025-02-28 12:00:00 UTC


def _buy(cid: str = "pb-1b-a", order_id: str = "11") -> TradeRow:
    return TradeRow(
        timestamp_ms=T0, order_id=order_id, side="buy", quantity=0.001, entry_price=23000.0,
        fee=0.000001, fee_currency="BTC", requested_price=22990.0, filled_price=23000.0,
        client_order_id=cid, signal_candle_ms=T0 - 60_000, strategy="sma_rsi",
        exchange="local", symbol="BTC/USDT",
    )


def _sell(cid: str = "pb-2s-b", order_id: str = "12") -> TradeRow:
    return TradeRow(
        timestamp_ms=T0 + 120_000, order_id=order_id, side="sell", quantity=0.000999,
        entry_price=23000.0, exit_price=23920.0, pnl=0.872, take_profit_triggered=True,
        fee=0.02389, fee_currency="USDT", exit_reason="take_profit", requested_price=23921.0,
        filled_price=23920.0, client_order_id=cid, strategy="sma_rsi", exchange="local",
        symbol="BTC/USDT",
    )


def test_columns_start_with_the_nine_required_then_the_extras():
    """
    Given the journal's column list
    When it is read
    Then the first nine are the required ones in order, then the extra columns
    """
    assert TRADE_COLUMNS[:9] == [
        "timestamp", "order_id", "side", "entry_price", "exit_price", "quantity", "PnL",
        "stop_loss_triggered", "take_profit_triggered",
    ]
    assert TRADE_COLUMNS[9:] == [
        "fee", "fee_currency", "exit_reason", "requested_price", "filled_price",
        "client_order_id", "signal_candle_time", "strategy", "exchange", "symbol",
    ]


def test_first_append_writes_header_and_row_as_text(tmp_path):
    """
    Given no journal file
    When a buy row and a sell row are appended
    Then the file has the header and two lines with ISO UTC times, True/False flags and blanks
    """
    path = tmp_path / "data" / "historical_trades.csv"
    journal = TradeJournal(path)
    assert journal.append(_buy()) is True
    assert journal.append(_sell()) is True
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(TRADE_COLUMNS)
    assert lines[1] == (
        "2025-02-28T12:00:00Z,11,buy,23000,,0.001,,False,False,0.000001,BTC,,22990,23000,"
        "pb-1b-a,2025-02-28T11:59:00Z,sma_rsi,local,BTC/USDT"
    )
    assert lines[2] == (
        "2025-02-28T12:02:00Z,12,sell,23000,23920,0.000999,0.872,False,True,0.02389,USDT,"
        "take_profit,23921,23920,pb-2s-b,,sma_rsi,local,BTC/USDT"
    )


def test_duplicate_client_or_order_id_is_refused(tmp_path, caplog):
    """
    Given a journal holding a fill with client id pb-1b-a and order id 11
    When the same fill is appended again, also after reopening, or with the same order id
    Then append returns False, nothing is written and the skip is logged
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert journal.append(_buy()) is False
        assert TradeJournal(path).append(_buy()) is False
        assert journal.append(_buy(cid="other", order_id="11")) is False
    assert len(path.read_text().splitlines()) == 2
    assert "not written twice" in caplog.text
    assert journal.client_order_ids() == {"pb-1b-a"}
    assert journal.order_ids() == {"11"}


def test_partial_last_line_is_cut_on_open_and_counted(tmp_path, caplog):
    """
    Given a journal whose last line was cut short by a killed process
    When the journal is opened
    Then the partial line is removed, repaired_lines is 1, a warning shows it, rows stay whole
    And a new append starts on a fresh line
    """
    path = tmp_path / "t.csv"
    TradeJournal(path).append(_buy())
    with path.open("a") as handle:
        handle.write("2025-02-28T12:05:00Z,99,sell,230")
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        journal = TradeJournal(path)
    assert journal.repaired_lines == 1
    assert "partial last line" in caplog.text and "99,sell,230" in caplog.text
    assert [r["order_id"] for r in journal.rows()] == ["11"]
    journal.append(_sell())
    assert [r["order_id"] for r in TradeJournal(path).rows()] == ["11", "12"]
    assert TradeJournal(path).repaired_lines == 0


def test_a_partial_header_is_cut_and_rewritten(tmp_path):
    """
    Given a journal file holding only part of its header (killed at the first write)
    When it is opened and a row appended
    Then the file has one full header and the row
    """
    path = tmp_path / "t.csv"
    path.write_text(HEADER_LINE[:20])
    journal = TradeJournal(path)
    assert journal.repaired_lines == 1
    journal.append(_buy())
    assert path.read_text().splitlines()[0] == ",".join(TRADE_COLUMNS)
    assert len(path.read_text().splitlines()) == 2


def test_load_rows_ignores_a_partial_line_without_changing_the_file(tmp_path):
    """
    Given a journal with a write in progress (unterminated last line)
    When load_rows reads it (as a report would while the bot runs)
    Then only complete rows are returned and the file is untouched
    """
    path = tmp_path / "t.csv"
    TradeJournal(path).append(_buy())
    path.write_text(path.read_text() + "2025-02-28,12,se")
    before = path.read_bytes()
    assert [r["order_id"] for r in load_rows(path)] == ["11"]
    assert path.read_bytes() == before
    assert load_rows(tmp_path / "absent.csv") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,id\n", "unexpected header"),
        (HEADER_LINE + "1,2,3\n", "line 2: 3 fields instead of 19"),
    ],
)
def test_foreign_file_is_refused_with_a_one_line_message(tmp_path, content, message):
    """
    Given a file that is not a trades journal or has a short row
    When it is opened as the journal
    Then TradeJournalError says what is wrong in one line
    """
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(TradeJournalError, match=message) as caught:
        TradeJournal(path)
    assert "\n" not in str(caught.value)


def test_non_utf8_file_is_refused(tmp_path):
    """
    Given a journal file with bytes that are not UTF-8
    When it is opened
    Then TradeJournalError says so
    """
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xfe\n")
    with pytest.raises(TradeJournalError, match="not UTF-8"):
        TradeJournal(path)


def test_blank_lines_are_skipped(tmp_path):
    """
    Given a journal in which someone left a blank line
    When it is read
    Then the blank line is not a row
    """
    path = tmp_path / "t.csv"
    TradeJournal(path).append(_buy())
    path.write_text(path.read_text() + "\n")
    assert len(TradeJournal(path).rows()) == 1


def test_read_trades_types_the_columns(tmp_path):
    """
    Given a journal with a buy row and a take-profit sell row
    When read_trades loads it
    Then times are UTC datetimes, blanks are NaN, flags are bool and PnL is a float
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    journal.append(_sell())
    frame = read_trades(path)
    assert list(frame.columns) == TRADE_COLUMNS
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2025-02-28 12:00:00", tz="UTC")
    assert math.isnan(frame["PnL"].iloc[0])
    assert frame["PnL"].iloc[1] == pytest.approx(0.872)
    assert frame["take_profit_triggered"].tolist() == [False, True]
    assert frame["stop_loss_triggered"].dtype == bool
    assert pd.isna(frame["signal_candle_time"].iloc[1])


def test_read_trades_of_a_missing_file_is_empty_with_all_columns(tmp_path):
    """
    Given no journal file
    When read_trades loads it
    Then the frame is empty and has every column
    """
    frame = read_trades(tmp_path / "absent.csv")
    assert frame.empty
    assert list(frame.columns) == TRADE_COLUMNS
    assert frame["PnL"].dtype == "float64"


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (23000.0, "23000"), (0.1 + 0.2, "0.3"), (0.00001, "0.00001"),
     (-1.5, "-1.5"), (-0.0, "0"), (1e-12, "0"), (23000.12345678, "23000.12345678")],
)
def test_format_number_is_plain_decimal(value, text):
    """
    Given a float (or None) from prices, quantities or computed PnL
    When it is formatted for the journal
    Then it is a plain decimal without float noise or exponent, blank for None
    """
    assert format_number(value) == text


def test_format_utc_is_iso_8601_with_z():
    """
    Given an epoch-millisecond time
    When it is formatted
    Then it reads as ISO 8601 UTC to the second with a Z
    """
    assert format_utc(T0 + 999) == "2025-02-28T12:00:00Z"


def test_to_record_maps_every_column():
    """
    Given a trade row
    When it is turned into a record
    Then its keys are exactly the journal columns
    """
    assert list(_sell().to_record()) == TRADE_COLUMNS
