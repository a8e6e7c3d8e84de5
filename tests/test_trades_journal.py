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


def test_duplicate_client_id_is_refused_with_a_warning_showing_both_rows(tmp_path, caplog):
    """
    Given a journal holding a fill with client id pb-1b-a and order id 11
    When the same client id is appended again, also after reopening, even with another order id
    Then append returns False, nothing is written and a WARNING shows both rows
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert journal.append(_buy()) is False
        assert TradeJournal(path).append(_buy()) is False
        assert journal.append(_buy(order_id="77")) is False
    assert len(path.read_text().splitlines()) == 2
    refusals = [r for r in caplog.records if "journal refused" in r.getMessage()]
    assert len(refusals) == 3 and all(r.levelno == logging.WARNING for r in refusals)
    assert "order 11 on local" in refusals[2].getMessage()
    assert "order 77 on local" in refusals[2].getMessage()
    assert journal.client_order_ids() == {"pb-1b-a"}
    assert journal.order_ids() == {"11"}


def test_an_exchange_order_id_seen_again_with_a_new_client_id_is_journaled(tmp_path):
    """
    Given a journal holding fills with exchange order ids 11 and 12
    When an exchange whose ids started again fills new orders 11 and 12 (new client ids)
    Then both new fills are journaled: the order id is data, our client id is the identity
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    assert journal.append(_buy()) and journal.append(_sell())
    assert journal.append(_buy(cid="pb-3b-c", order_id="11")) is True
    assert TradeJournal(path).append(_sell(cid="pb-4s-d", order_id="12")) is True
    assert [r["client_order_id"] for r in load_rows(path)] == [
        "pb-1b-a", "pb-2s-b", "pb-3b-c", "pb-4s-d"]


def test_a_row_without_client_id_is_identified_by_exchange_and_order_id(tmp_path):
    """
    Given a journal holding a row without a client order id (written by another tool)
    When the same exchange order id is appended again without a client id, and on another exchange
    Then the first is refused and the second (another exchange) is written
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    assert journal.append(_buy(cid=""))
    assert journal.append(_buy(cid="")) is False
    other = TradeRow(timestamp_ms=T0, order_id="11", side="buy", quantity=0.001,
                     entry_price=23000.0, exchange="testnet", symbol="BTC/USDT")
    assert journal.append(other) is True


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


def test_a_complete_last_row_lacking_only_its_newline_is_kept(tmp_path, caplog):
    """
    Given a journal whose last row is complete but lacks its newline (an editor stripped it)
    When the journal is opened and another row appended
    Then the row is kept (a line end is added, with a warning) and the new row follows it
    """
    path = tmp_path / "t.csv"
    TradeJournal(path).append(_buy())
    TradeJournal(path).append(_sell())
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        journal = TradeJournal(path)
    assert journal.repaired_lines == 0 and "lacked its line end" in caplog.text
    assert [r["order_id"] for r in journal.rows()] == ["11", "12"]
    journal.append(_buy(cid="pb-3b-c", order_id="13"))
    assert [r["order_id"] for r in load_rows(path)] == ["11", "12", "13"]


@pytest.mark.parametrize("cut", [",BTC/US", ",local,", "T12:02:00Z,12,sell,230"])
def test_a_row_cut_inside_its_last_fields_is_still_cut(tmp_path, cut):
    """
    Given a journal whose unterminated last row was cut inside its symbol, after its last comma,
    or in the middle
    When the journal is opened
    Then that row is cut (it only looked whole), the complete rows stay
    """
    path = tmp_path / "t.csv"
    TradeJournal(path, symbol="BTC/USDT").append(_buy())
    sell = _sell().to_record()
    line = ",".join(sell[c] for c in TRADE_COLUMNS)
    torn = line[: line.index(cut) + len(cut)] if cut in line else line[:40]
    with path.open("a") as handle:
        handle.write(torn)
    journal = TradeJournal(path, symbol="BTC/USDT")
    assert journal.repaired_lines == 1
    assert path.read_bytes().endswith(b"\n") and [r["order_id"] for r in journal.rows()] == ["11"]


def test_append_cuts_a_torn_tail_left_since_the_journal_was_opened(tmp_path):
    """
    Given an open journal whose file got a torn partial row after opening (a failed write)
    When the next fill is appended
    Then the torn text is cut first: the file holds two whole rows, no merged line
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    with path.open("a") as handle:
        handle.write("2025-02-28T12:02:00Z,12,sell,23000,23920,0.0009")
    journal.append(_sell())
    rows = load_rows(path)
    assert [r["order_id"] for r in rows] == ["11", "12"]
    assert len(path.read_text().splitlines()) == 3


def test_a_failed_write_leaves_the_journal_as_it_was(tmp_path, monkeypatch):
    """
    Given a journal with one row and a disk that fills up half-way through the next write
    When the append fails with ENOSPC
    Then the error reaches the caller and the file is cut back to the one whole row
    """
    import errno
    import os as os_module

    import storage.atomic as atomic

    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    before = path.read_bytes()
    real_write = os_module.write

    def half_then_full(fd, data):
        if len(data) > 20:
            return real_write(fd, bytes(data[:20]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", half_then_full)
    with pytest.raises(OSError):
        journal.append(_sell())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert journal.append(_sell()) is True


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("PnL", "abc", "PnL 'abc' is not a number"),
        ("PnL", "nan", "PnL 'nan' is not a finite number"),
        ("entry_price", "Infinity", "entry_price 'Infinity' is not a finite number"),
        ("entry_price", "-23000", "entry_price '-23000' must be above 0"),
        ("quantity", "0", "quantity '0' must be above 0"),
        ("fee", "-1", "fee '-1' must not be negative"),
        ("side", "hold", "side 'hold' is not buy or sell"),
        ("stop_loss_triggered", "yes", "is not True or False"),
        ("timestamp", "soon", "is not an ISO 8601 UTC time"),
    ],
)
def test_a_bad_value_in_the_journal_is_one_line_naming_line_and_column(tmp_path, column, value,
                                                                      message):
    """
    Given a journal whose second row has a bad value (not a number, NaN, infinite, negative)
    When it is loaded (by the bot, or by report via read_trades)
    Then TradeJournalError names the line, the column and the value in one line
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    journal.append(_sell())
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[TRADE_COLUMNS.index(column)] = value
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    for load in (load_rows, read_trades, TradeJournal):
        with pytest.raises(TradeJournalError, match=message) as caught:
            load(path)
        assert "line 3" in str(caught.value) and "\n" not in str(caught.value)


def test_open_journal_moves_a_damaged_journal_aside(tmp_path):
    """
    Given a journal with a PnL that is not a number, and a file with a foreign header
    When the bot opens them with open_journal
    Then the damaged one is kept as .corrupt-<stamp> and the error names the copy
    And the foreign one is refused and left where it is
    """
    from storage.trades import open_journal

    path = tmp_path / "t.csv"
    TradeJournal(path).append(_sell())
    path.write_text(path.read_text().replace(",0.872,", ",abc,"))
    with pytest.raises(TradeJournalError, match="kept as t.csv.corrupt-") as caught:
        open_journal(path)
    assert "\n" not in str(caught.value)
    assert not path.exists() and len(list(tmp_path.glob("t.csv.corrupt-*"))) == 1
    assert open_journal(path).rows() == []
    foreign = tmp_path / "f.csv"
    foreign.write_text("time,id\n1,2\n")
    with pytest.raises(TradeJournalError, match="unexpected header"):
        open_journal(foreign)
    assert foreign.exists()


def test_a_merged_row_gets_advice_that_keeps_the_fill(tmp_path):
    """
    Given a journal where a torn row had a whole row appended onto it (the old retry defect)
    When it is loaded
    Then the error says to split the line, not to delete it
    """
    path = tmp_path / "t.csv"
    journal = TradeJournal(path)
    journal.append(_buy())
    sell = _sell().to_record()
    line = ",".join(sell[c] for c in TRADE_COLUMNS)
    path.write_text(path.read_text() + "2025-02-28T12:01:00Z,13,buy," + line + "\n")
    with pytest.raises(TradeJournalError, match="split the line") as caught:
        load_rows(path)
    assert "do not delete it" in str(caught.value)
