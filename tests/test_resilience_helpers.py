"""The resilience checks themselves: each one must see the damage it is there to see."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from core.types import Fill
from storage.candles import append_candles
from storage.state import BotState, PendingOrder, Position, StateStore
from storage.trades import TradeJournal, TradeRow
from tests.resilience_helpers import (
    BUSY_BOT_SETTINGS,
    TORN_CANDLE_CHANCE,
    KillLoop,
    KillReport,
    ProcessOutput,
    bot_environment,
    candle_problems,
    fill_keys,
    journal_base_delta,
    journal_problems,
    leftover_problems,
    position_problems,
    wait_until,
)

T0 = 1_740_744_000_000
MINUTE = 60_000


def make_frame(rows: int) -> pd.DataFrame:
    """``rows`` valid one-minute candles from T0."""
    return pd.DataFrame({
        "timestamp": [T0 + i * MINUTE for i in range(rows)],
        "open": [100.0] * rows, "high": [101.0] * rows, "low": [99.0] * rows,
        "close": [100.5] * rows, "volume": [1.0] * rows,
    })


def buy_row(n: int, quantity: float = 0.001, fee: float = 0.000001) -> TradeRow:
    return TradeRow(T0 + n, str(n), "buy", quantity, entry_price=100.0, fee=fee,
                    fee_currency="BTC", client_order_id=f"c{n}")


def sell_row(n: int, quantity: float = 0.00099) -> TradeRow:
    return TradeRow(T0 + n, str(n), "sell", quantity, exit_price=101.0, fee=0.1,
                    fee_currency="USDT", client_order_id=f"c{n}", pnl=0.5)


def fill(n: int) -> Fill:
    return Fill(str(n), f"c{n}", "buy", 100.0, 0.001, 0.000001, "BTC", T0 + n)


def journal(tmp_path, *rows: TradeRow):
    path = tmp_path / "trades.csv"
    j = TradeJournal(path)
    for row in rows:
        j.append(row)
    return path


# -- processes and waiting -----------------------------------------------------------------


def test_process_output_finds_a_line_and_reports_a_silent_end():
    """
    Given a child process that prints two lines and ends
    When its output is waited for a printed line, then for one it never prints
    Then the first wait returns that line and the second fails naming what was printed
    """
    proc = subprocess.Popen([sys.executable, "-c", "print('hello'); print('listening on x')"],
                            stdout=subprocess.PIPE, text=True)
    output = ProcessOutput(proc.stdout)
    assert output.wait_for("listening on", 10) == "listening on x"
    with pytest.raises(AssertionError, match="ended before printing 'never'.*listening on x"):
        output.wait_for("never", 10)
    proc.wait()


def test_process_output_times_out_on_a_silent_process():
    """
    Given a child process that prints nothing for a while
    When its output is waited for with a 0.2 s timeout
    Then AssertionError says nothing came within the timeout
    """
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(AssertionError, match="within 0.2 s"):
            ProcessOutput(proc.stdout).wait_for("anything", 0.2)
    finally:
        proc.kill()
        proc.wait()


def test_wait_until_returns_on_the_condition_the_deadline_or_death():
    """
    Given a condition that becomes true, one that never does, and a dead process
    When wait_until polls each
    Then it returns True for the first and False for the others
    """
    start = time.monotonic()
    assert wait_until(lambda: time.monotonic() - start > 0.02, start + 5)
    assert not wait_until(lambda: False, time.monotonic() + 0.05)
    assert not wait_until(lambda: False, time.monotonic() + 5, alive=lambda: False)


def test_bot_environment_drops_foreign_settings_and_adds_the_busy_ones(monkeypatch):
    """
    Given a shell with testnet keys, EXCHANGE=testnet and a DATA_DIR
    When the environment of a bot under test is built with an override
    Then those are gone, the busy-trading settings and the override are in
    """
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "k" * 20)
    monkeypatch.setenv("EXCHANGE", "testnet")
    monkeypatch.setenv("DATA_DIR", "/elsewhere")
    env = bot_environment({"MA_SLOW": "5"})
    assert "BINANCE_TESTNET_API_KEY" not in env and "EXCHANGE" not in env
    assert "DATA_DIR" not in env
    assert env["STRATEGY"] == BUSY_BOT_SETTINGS["STRATEGY"] and env["MA_SLOW"] == "5"


def test_kill_report_summary_names_seed_kills_and_triggers():
    """
    Given a kill report of seed 7 with 3 kills
    When it is summarised
    Then the line names the seed, the kills and the triggers
    """
    report = KillReport(seed=7, kills=3, seconds=4.25)
    report.by_trigger.update({"order": 2, "random": 1})
    report.fired["order"] = 2
    line = report.summary()
    assert line.startswith("seed 7: 3 kills in 4.2 s") and "'order': 2" in line


def test_kill_loop_refuses_an_unknown_trigger(tmp_path):
    """
    Given a kill loop
    When it is asked to start with a trigger it does not know
    Then ValueError names it and the known ones, before any bot starts
    """
    loop = KillLoop(None, tmp_path, {}, seed=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown kill trigger\(s\) \['sometime'\]; use"):
        loop.run(1, ["sometime"])
    assert loop.report.kills == 0


def test_torn_tails_are_left_only_where_a_cut_write_is_possible(tmp_path):
    """
    Given a data folder with candles, a journal and a state without a pending order
    When the loop tears after kills with a low, a middle and a high draw, then with a
     pending order in the state
    Then the low draw tears the candle file, the middle one tears the journal only while
     an order is pending, and the high one leaves everything whole
    """
    loop = KillLoop(None, tmp_path, {}, seed=1)  # type: ignore[arg-type]
    append_candles(loop.candles_csv, make_frame(3))
    journal_rows = TradeJournal(loop.trades_csv)
    journal_rows.append(buy_row(1))
    StateStore(loop.state_file).save(BotState())
    loop._tear(0.9)
    assert loop.candles_csv.read_bytes().endswith(b"\n")
    loop._tear(TORN_CANDLE_CHANCE / 2)
    assert not loop.candles_csv.read_bytes().endswith(b"\n")
    loop._tear(TORN_CANDLE_CHANCE + 0.01)
    assert loop.trades_csv.read_bytes().endswith(b"\n")
    StateStore(loop.state_file).save(BotState(pending=PendingOrder(
        "c2", "buy", 0.001, "signal", 100.0, T0, T0)))
    loop._tear(TORN_CANDLE_CHANCE + 0.01)
    assert not loop.trades_csv.read_bytes().endswith(b"\n")
    assert dict(loop.report.torn) == {"candles": 1, "journal": 1}


# -- journal against fills -----------------------------------------------------------------


def test_fill_keys_reads_emulator_json_and_fill_records():
    """
    Given a fill as the emulator's JSON (integer order id) and as a Fill record
    When their keys are taken
    Then both give (client order id, order id as text)
    """
    as_json = {"client_order_id": "c1", "order_id": 1}
    assert fill_keys([as_json, fill(2)]) == [("c1", "1"), ("c2", "2")]


def test_journal_problems_accepts_a_matching_journal_and_skips_wipe_rows(tmp_path):
    """
    Given a journal with two fills and a testnet_wipe row, and the exchange's two fills
    When they are compared
    Then there is no problem
    """
    wipe = TradeRow(T0 + 9, "", "sell", 0.000999, exit_reason="testnet_wipe",
                    client_order_id="wipe-c1")
    path = journal(tmp_path, buy_row(1), buy_row(2), wipe)
    assert journal_problems(path, [fill(1), fill(2)]) == []


def test_journal_problems_sees_missing_extra_and_doubled_fills(tmp_path):
    """
    Given a journal holding fill 1 twice (written behind the journal's back) and a fill
     the exchange never made, while the exchange also made fill 3
    When they are compared
    Then the doubled ids, the missing fill and the foreign row are all reported
    """
    path = journal(tmp_path, buy_row(1), buy_row(4))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(path.read_text(encoding="utf-8").splitlines()[1] + "\n")
    found = journal_problems(path, [fill(1), fill(3)])
    assert found == [
        "client order ids journaled more than once: ['c1']",
        "order ids journaled more than once: ['1']",
        "fills missing from the journal: [('c3', '3')]",
        "journal rows the exchange never filled: [('c4', '4')]",
    ]


def test_journal_problems_sees_a_partial_line_and_an_unreadable_file(tmp_path):
    """
    Given a journal ending in a torn line, and one with a row of the wrong width
    When each is checked
    Then the torn end and the parse error are reported
    """
    path = journal(tmp_path, buy_row(1))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("2025-02-28T12:00:00Z,7")
    assert journal_problems(path, [fill(1)]) == ["trades.csv ends in a partial line"]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n")
    found = journal_problems(path, [fill(1)])
    assert len(found) == 1 and found[0].startswith("trades.csv does not parse:")


# -- candles and leftovers -----------------------------------------------------------------


def test_candle_problems_accepts_a_clean_file_and_sees_each_kind_of_damage(tmp_path):
    """
    Given a clean candle file, one with a gap, one with a duplicate, one with a torn end
     and none at all
    When each is checked
    Then only the clean one passes and each damage is named
    """
    clean = tmp_path / "clean.csv"
    append_candles(clean, make_frame(5))
    assert candle_problems(clean) == []
    lines = clean.read_text(encoding="utf-8").splitlines(keepends=True)
    gap = tmp_path / "gap.csv"
    gap.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    assert candle_problems(gap)[0].startswith("1 gap(s) in the candles")
    twice = tmp_path / "twice.csv"
    twice.write_text("".join(lines + lines[-1:]), encoding="utf-8")
    assert "not after the previous row's" in candle_problems(twice)[0]
    torn = tmp_path / "torn.csv"
    torn.write_text("".join(lines) + "17400", encoding="utf-8")
    assert candle_problems(torn)[0] == "torn.csv ends in a partial line"
    assert candle_problems(tmp_path / "none.csv") == ["none.csv was never written"]


def test_leftover_problems_names_files_moved_aside_and_temp_files(tmp_path):
    """
    Given a data folder with a damaged file moved aside, a save's temp file and normal files
    When it is checked
    Then the first two are reported
    """
    for name in ("historical_data.csv", "historical_data.csv.corrupt-20250101T000000Z",
                 ".state.json.abc.tmp", "state.json"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert leftover_problems(tmp_path) == [
        f"left in {tmp_path.name}: .state.json.abc.tmp",
        f"left in {tmp_path.name}: historical_data.csv.corrupt-20250101T000000Z",
    ]
    assert leftover_problems(tmp_path / "absent") == []


# -- position against the balance ----------------------------------------------------------


def test_journal_base_delta_adds_buys_net_of_base_fees_and_subtracts_sells(tmp_path):
    """
    Given a journal with a buy of 0.001 (fee 0.000001 BTC), a sell of 0.00099 and a wipe row
    When the base it moved is summed
    Then it is 0.000009 BTC
    """
    wipe = TradeRow(T0 + 9, "", "sell", 0.000999, client_order_id="wipe-c1")
    path = journal(tmp_path, buy_row(1), sell_row(2), wipe)
    rows = TradeJournal(path).rows()
    assert journal_base_delta(rows) == pytest.approx(0.000009, abs=1e-12)


def test_position_problems_accepts_a_position_that_matches_the_balance(tmp_path):
    """
    Given one closed round trip (dust 0.000009 BTC) and an open position of 0.000999 BTC
    When the state is compared with an exchange balance of 1.001008 BTC
    Then there is no problem
    """
    path = journal(tmp_path, buy_row(1), sell_row(2), buy_row(3))
    state = tmp_path / "state.json"
    StateStore(state).save(BotState(position=Position(0.000999, 100.0, T0, "3", "c3")))
    assert position_problems(state, path, 1.001008) == []


def test_position_problems_sees_a_pending_order_and_a_lost_position(tmp_path):
    """
    Given a journal with an open buy but a flat state that still has a pending order
    When the state is compared with an exchange balance of 1.000999 BTC, then of 1.002 BTC
    Then the pending order and the unexplained BTC are reported
    """
    path = journal(tmp_path, buy_row(1))
    state = tmp_path / "state.json"
    StateStore(state).save(BotState(pending=PendingOrder("c2", "sell", 0.00099, "signal",
                                                         100.0, T0, T0)))
    found = position_problems(state, path, 1.000999)
    assert found[0].startswith("an order is still pending")
    assert found[1].startswith("the bot holds 0.00000000 BTC but the exchange balance implies")
    found = position_problems(state, path, 1.002)
    assert "the journal accounts for +0.00099900" in found[1]
    assert json.loads(state.read_text())["pending"]["client_order_id"] == "c2"
