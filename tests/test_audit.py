"""The audit's checks (bot.audit) on hand-made journals, and the audit command's bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from bot.audit import (
    EXPLAINED,
    MATCHED,
    UNEXPLAINED,
    AuditInputError,
    Auditor,
    AuditResult,
    AuditRules,
    Finding,
    acted_candles,
    format_table,
    load_journal,
    number,
    parse_utc,
    read_state,
    rules_from,
    write_csv,
)
from config.settings import load_settings
from storage.trades import TRADE_COLUMNS, TradeJournal, TradeRow, format_utc
from strategies.registry import get_strategy

MINUTE = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
RULES = AuditRules(strategy="sma_rsi", params={}, stop_loss=0.02, take_profit=0.04,
                   timeframe_ms=MINUTE, offset_ms=2000)


def candles(n=20, close=100.0):
    return pd.DataFrame({
        "timestamp": T0 + np.arange(n, dtype="int64") * MINUTE, "open": close,
        "high": close * 1.05, "low": close * 0.95, "close": close, "volume": 1.0})


def row(side, fill_ms, *, signal_bar=None, reason="", price=100.0, requested=100.0, qty=0.001,
        fee=None, fee_currency=None, pnl=None, entry=None):
    fee = fee if fee is not None else (0.000001 if side == "buy" else 0.1)
    record = TradeRow(
        timestamp_ms=fill_ms, order_id=f"o{fill_ms}", side=side, quantity=qty,
        entry_price=entry if entry is not None else (price if side == "buy" else 100.0),
        exit_price=price if side == "sell" else None, pnl=pnl,
        stop_loss_triggered=reason == "stop_loss", take_profit_triggered=reason == "take_profit",
        fee=fee, fee_currency=fee_currency or ("BTC" if side == "buy" else "USDT"),
        exit_reason=reason, requested_price=requested, filled_price=price,
        client_order_id=f"c{fill_ms}",
        signal_candle_ms=None if signal_bar is None else T0 + signal_bar * MINUTE,
        strategy="sma_rsi", exchange="local", symbol="BTC/USDT").to_record()
    return record


def at(bar, seconds=2):
    return T0 + bar * MINUTE + seconds * 1000


def pnl_of(entry, exit_, qty=0.001, buy_fee=0.000001, sell_fee=0.1):
    return (exit_ - entry) * (qty - buy_fee) - buy_fee * entry - sell_fee


def audit_rows(rows, signals, acted=None, frame=None, has_record=True):
    frame = candles() if frame is None else frame
    acted = set(frame["timestamp"].tolist()) if acted is None else acted
    return Auditor(frame, np.asarray(signals, dtype="int8"), RULES, acted, has_record).run(rows)


def signals_with(**bars):
    out = np.zeros(20, dtype="int8")
    for key, value in bars.items():
        out[int(key[1:])] = value
    return out


def test_a_signal_round_trip_is_matched():
    """
    Given BUY on candle 3 filled 2 s into candle 4, SELL on candle 8 filled in candle 9 with
     the PnL the fills and fees give
    When audited
    Then both rows are matched and no signal is missing
    """
    rows = [row("buy", at(4), signal_bar=3),
            row("sell", at(9), signal_bar=8, reason="signal", price=101.0,
                qty=0.000999, pnl=pnl_of(100.0, 101.0))]
    found = audit_rows(rows, signals_with(b3=1, b8=-1))
    assert [f.verdict for f in found] == [MATCHED, MATCHED]
    assert "PnL equals fills and fees" in found[1].reason


@pytest.mark.parametrize("change,words", [
    ({"signal_bar": 2}, "has no signal, not BUY"),
    ({"fill": at(6)}, "not in the candle after the signal"),
    ({"requested": 99.0}, "is not the signal candle's close"),
    ({"signal_bar": 30}, "is not in the candle file"),
])
def test_a_buy_that_does_not_follow_from_its_signal_is_unexplained(change, words):
    """
    Given a BUY whose signal candle has no signal, that filled two candles late, that was
     requested at another price than the close, or that names a candle not stored
    When audited
    Then the row is unexplained with the reason
    """
    rows = [row("buy", change.get("fill", at(4)), signal_bar=change.get("signal_bar", 3),
                requested=change.get("requested", 100.0))]
    found = audit_rows(rows, signals_with(b3=1))
    assert found[0].verdict == UNEXPLAINED and words in found[0].reason


def test_protective_exits_must_cross_their_level_inside_the_candle_and_carry_right_pnl():
    """
    Given a position bought at 100 (SL 2 % -> 98, TP 4 % -> 104) and candles spanning 95..105
    When a stop-loss row polled at 97.9, a take-profit polled at 103, one polled at 110 and
     one with a wrong PnL are audited
    Then the first is matched, the others unexplained with the reason
    """
    buy = row("buy", at(4), signal_bar=3)
    sl = row("sell", at(6, 30), reason="stop_loss", price=97.9, requested=97.9, qty=0.000999,
             pnl=pnl_of(100.0, 97.9))
    tp_low = row("sell", at(6, 30), reason="take_profit", price=103.0, requested=103.0,
                 qty=0.000999, pnl=pnl_of(100.0, 103.0))
    tp_out = row("sell", at(6, 30), reason="take_profit", price=110.0, requested=110.0,
                 qty=0.000999, pnl=pnl_of(100.0, 110.0))
    bad_pnl = row("sell", at(6, 30), reason="stop_loss", price=97.9, requested=97.9,
                  qty=0.000999, pnl=5.0)
    signals = signals_with(b3=1)
    assert audit_rows([buy, sl], signals)[1].verdict == MATCHED
    low = audit_rows([buy, tp_low], signals)[1]
    assert low.verdict == UNEXPLAINED and "below the take-profit level" in low.reason
    out = audit_rows([buy, tp_out], signals)[1]
    assert out.verdict == UNEXPLAINED and "outside the candle" in out.reason
    wrong = audit_rows([buy, bad_pnl], signals)[1]
    assert wrong.verdict == UNEXPLAINED and "does not equal the fills and fees" in wrong.reason


def test_a_sell_whose_price_columns_disagree_with_the_fills_is_unexplained():
    """
    Given a round trip whose SELL row has its exit_price, or its entry_price, changed
    When audited
    Then the SELL is unexplained naming the column
    """
    buy = row("buy", at(4), signal_bar=3)
    sell = row("sell", at(9), signal_bar=8, reason="signal", price=101.0, qty=0.000999,
               pnl=pnl_of(100.0, 101.0))
    signals = signals_with(b3=1, b8=-1)
    for column, words in (("exit_price", "exit_price differs"), ("entry_price", "is not the")):
        tampered = dict(sell, **{column: "150"})
        found = audit_rows([buy, tampered], signals)[1]
        assert found.verdict == UNEXPLAINED and words in found.reason


def test_sells_without_position_wipes_and_double_buys():
    """
    Given a SELL with nothing bought, a testnet-wipe row, and two BUYs in a row
    When audited
    Then the lone SELL and the second BUY are unexplained, the wipe is explained
    """
    lone = audit_rows([row("sell", at(9), signal_bar=8, reason="signal")], signals_with(b8=-1))
    assert lone[0].verdict == UNEXPLAINED and "without an open position" in lone[0].reason
    wipe = audit_rows([row("buy", at(4), signal_bar=3),
                       row("sell", at(7), reason="testnet_wipe", requested=None)],
                      signals_with(b3=1))
    assert wipe[1].verdict == EXPLAINED and "testnet reset" in wipe[1].reason
    double = audit_rows([row("buy", at(4), signal_bar=3), row("buy", at(9), signal_bar=8)],
                        signals_with(b3=1, b8=1))
    assert double[1].verdict == UNEXPLAINED and "already holds" in double[1].reason


def test_a_partial_sell_keeps_the_rest_of_the_position():
    """
    Given a BUY of 0.002 and two signal SELLs of 0.001 and 0.000998
    When audited
    Then both sells' PnL are checked with their share of the entry fee, and all match
    """
    buy = row("buy", at(4), signal_bar=3, qty=0.002, fee=0.000002)
    first_share = 0.000002 * 0.001 / 0.001998
    first = row("sell", at(9), signal_bar=8, reason="signal", price=101.0, qty=0.001,
                pnl=(1.0 * 0.001) - first_share * 100.0 - 0.1)
    second = row("sell", at(12), signal_bar=11, reason="signal", price=102.0, qty=0.000998,
                 pnl=(2.0 * 0.000998) - (0.000002 - first_share) * 100.0 - 0.1)
    found = audit_rows([buy, first, second], signals_with(b3=1, b8=-1, b11=-1))
    assert [f.verdict for f in found] == [MATCHED, MATCHED, MATCHED], found


def test_signals_without_an_order_are_missed_or_explained_by_when_the_bot_ran():
    """
    Given BUY signals on candles 2, 6 and 12 with no journal row, the bot acting on candles 5
     to 10 only, and a SELL signal on candle 14 while flat
    When audited
    Then candle 6 is unexplained (missed while running), 2 is explained (before the first
     candle), 12 explained (not running), and the SELL while flat needs nothing
    """
    acted = {T0 + b * MINUTE for b in range(5, 11)}
    found = audit_rows([], signals_with(b2=1, b6=1, b12=1, b14=-1), acted=acted)
    verdicts = {f.time: (f.verdict, f.reason) for f in found}
    assert len(found) == 3
    assert verdicts[format_utc(T0 + 6 * MINUTE)][0] == UNEXPLAINED
    assert "before the bot's first candle" in verdicts[format_utc(T0 + 2 * MINUTE)][1]
    assert "was not running" in verdicts[format_utc(T0 + 12 * MINUTE)][1]
    none = audit_rows([], signals_with(b6=1), acted=set(), has_record=False)
    assert none[0].verdict == EXPLAINED and "no run record" in none[0].reason


def test_journal_values_and_state_are_read_strictly():
    """
    Given journal times and numbers, good and damaged, and state files absent, damaged or not
     an object
    When parsed
    Then good values parse and bad ones raise AuditInputError naming the place
    """
    assert parse_utc("2026-01-01T00:00:00Z", "x") == T0
    assert number("1.5", "x", "PnL") == 1.5 and number("", "x", "PnL") is None
    with pytest.raises(AuditInputError, match="line 3: time"):
        parse_utc("yesterday", "line 3")
    with pytest.raises(AuditInputError, match="PnL 'abc' is not a number"):
        number("abc", "line 3", "PnL")
    with pytest.raises(AuditInputError, match="not a finite number"):
        number("nan", "line 3", "PnL")


def test_state_and_run_record_reading(tmp_path):
    """
    Given an absent, a damaged, a non-object and a sound state file with a run record
    When read
    Then absent is empty, damaged / non-object raise one line, and the record's intervals
     expand to the acted candles of the audited strategy only
    """
    assert read_state(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(AuditInputError, match="damaged state file"):
        read_state(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(AuditInputError, match="not a JSON object"):
        read_state(tmp_path / "list.json")
    record = {"timeframe_ms": MINUTE, "rules": [{"strategy": "rsi"}, {"strategy": "macd"}],
              "intervals": [[T0, T0 + 2 * MINUTE, 0], [T0 + 5 * MINUTE, T0 + 5 * MINUTE, 1]]}
    assert acted_candles(record, "rsi") == ({T0, T0 + MINUTE, T0 + 2 * MINUTE}, 1)
    assert acted_candles(None, "rsi") == (set(), 0)
    with pytest.raises(AuditInputError, match="run record is damaged"):
        acted_candles({"timeframe_ms": MINUTE, "rules": [], "intervals": [[1, 2, 5]]}, "rsi")


def test_rules_come_from_the_run_record_then_the_settings(tmp_path):
    """
    Given a state whose run record names macd with MACD_FAST 5 and SL 0.01, and settings
    When the rules are taken without and with --strategy rsi, and with an unknown strategy
    Then the record's rules win, --strategy takes the settings' parameters and levels, and
     an unknown name is a one-line error
    """
    settings = load_settings({}, env_file=tmp_path / "absent.env")
    state = {"extra": {"run_record": {
        "timeframe_ms": MINUTE, "intervals": [[T0, T0, 0]],
        "rules": [{"strategy": "macd", "params": {"MACD_FAST": 5, "MACD_SLOW": 26,
                                                   "MACD_SIGNAL": 9},
                   "stop_loss": 0.01, "take_profit": 0.03, "offset_ms": 1000}]}}}
    rules, strategy = rules_from(state, settings, None, get_strategy)
    assert (strategy.name, rules.params["MACD_FAST"], rules.stop_loss, rules.offset_ms) == (
        "macd", 5, 0.01, 1000)
    rules, strategy = rules_from(state, settings, "rsi", get_strategy)
    assert strategy.name == "rsi" and rules.params["RSI_PERIOD"] == 14
    with pytest.raises(AuditInputError, match="unknown strategy"):
        rules_from({}, settings, "nope", get_strategy)


def test_journal_loading_csv_and_table(tmp_path):
    """
    Given a journal the bot wrote and a foreign CSV, and a result with three findings
    When loaded, written as CSV and formatted (cut to two lines)
    Then the bot's rows load, the foreign file raises one line, the CSV holds every finding
     with an empty line number for signals, and the table shows the unexplained first, then
     the totals
    """
    journal = TradeJournal(tmp_path / "t.csv")
    journal.append(TradeRow(timestamp_ms=T0, order_id="1", side="buy", quantity=0.001))
    assert len(load_journal(tmp_path / "t.csv")) == 1
    (tmp_path / "f.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AuditInputError, match="unexpected header"):
        load_journal(tmp_path / "f.csv")
    result = AuditResult(rules=RULES, candles=20, rows=2, acted=20, runs=1, findings=[
        Finding(2, "t", "BUY", "signal", MATCHED, "ok"),
        Finding(3, "t", "SELL", "signal", EXPLAINED, "fine"),
        Finding(0, "t", "BUY", "missed", UNEXPLAINED, "missed")])
    write_csv(result, tmp_path / "r" / "audit.csv")
    frame = pd.read_csv(tmp_path / "r" / "audit.csv", dtype=str, keep_default_na=False)
    assert list(frame["line"]) == ["2", "3", ""] and not result.clean
    table = format_table(result, limit=2).splitlines()
    assert "missed" in table[2] and table[-2] == "... 1 more in the CSV"
    assert table[-1] == "matched 1, explained 1, unexplained 1"
    assert TRADE_COLUMNS[0] == "timestamp"


def test_the_audit_command_refuses_bad_input_with_one_line(tmp_path, capsys):
    """
    Given a missing data folder, a folder with a damaged candle file, and one with a damaged
     state file
    When `main.py audit --data-dir` runs on each
    Then each exits 2 with one line on stderr saying what is wrong
    """
    import main

    assert main.main(["audit", "--data-dir", str(tmp_path / "none")]) == 2
    assert "no such data folder" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "historical_data.csv").write_text("timestamp,open\n1,2\n")
    assert main.main(["audit", "--data-dir", str(bad), "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing column" in err[0]
    (bad / "state.json").write_text(json.dumps([1]))
    assert main.main(["audit", "--data-dir", str(bad), "--out", str(tmp_path / "a.csv")]) == 2
    assert "not a JSON object" in capsys.readouterr().err
