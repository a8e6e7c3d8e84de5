"""The whole bot under the emulator's faults: outage, 5xx bursts, 429, -1021, lost order answers,
testnet wipe. In process (``BotHarness``: real emulator over loopback, real ccxt, the real loop
and files, a paced clock), so ten minutes of outage take a fraction of a second.

After every fault the bot must keep processing candles, log errors with their stack trace in
errors.log, and leave journals that agree with the exchange: each fill journaled once, no
duplicate or missing candle.
"""

from __future__ import annotations

import logging

import pytest

from core.errors import ExchangeUnavailable
from core.outcome import Action, Outcome, skipped
from storage.trades import load_rows
from tests.bot_harness import BotHarness
from tests.resilience_helpers import (
    ORDER_PATH,
    advance,
    gaps_after,
    harness_problems,
    started_bot,
    until_fill,
)


@pytest.fixture
def harness(tmp_path):
    h = BotHarness(tmp_path, env={"MA_FAST": "2", "MA_SLOW": "4"})
    yield h
    h.close()


# -- helpers -------------------------------------------------------------------------------


def test_advance_and_until_fill_drive_the_loop(harness):
    """
    Given a started bot on the emulator
    When it is advanced 5 candles and then run until the next order
    Then 5 cycles ran with one new candle each and the returned fill is the emulator's latest
    """
    bot = started_bot(harness)
    results = advance(bot, 5)
    assert [r.new_candles for r in results] == [1] * 5
    fill = until_fill(harness, bot)
    assert fill == harness.server.fills[-1]
    assert harness_problems(harness) == []


# -- outage --------------------------------------------------------------------------------


def test_ten_minute_outage_while_long_loses_no_candle_and_no_fill(harness):
    """
    Given the bot holds a long position
    When the exchange drops every connection for 10 minutes of market time
    Then cycles are skipped and errors.log has the stack traces, and after the outage the
     bot processes later candles, stores every candle of the outage once and the journal
     matches the fills
    """
    bot = harness.run_until_long()
    processed = bot.candles_processed
    outage_end = harness.clock.now_ms() + 600_000
    harness.server.faults.outage(600)
    results = advance(bot, 14)
    skipped = [r for r in results if r.skipped]
    assert len(skipped) >= 9, results
    assert harness.clock.now_ms() > outage_end
    assert [r.new_candles for r in results[-3:]] == [1, 1, 1]
    assert bot.candles_processed > processed
    errors_log = harness.log_text("errors.log")
    assert "failed after 3 attempt(s)" in errors_log and "Traceback" in errors_log
    assert "no price this time" in harness.log_text()
    advance(bot, 60)
    assert harness_problems(harness) == []


# -- 5xx bursts ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_bursts_of_server_errors_skip_a_cycle_and_the_bot_goes_on(harness, status):
    """
    Given a running bot
    When the next 7 candle requests answer HTTP 500, 502 or 503 (more than the 3 tries of a
     read; price polls while long are left alone so they cannot use the burst up)
    Then a cycle is skipped with the stack trace in errors.log, the next candles are
     processed, and no candle is lost or doubled
    """
    bot = started_bot(harness)
    harness.server.faults.server_errors(7, status, method="GET", path="/api/v3/klines")
    results = advance(bot, 6)
    assert any(r.skipped for r in results[:3])
    assert all(r.new_candles >= 1 for r in results[-2:])
    errors_log = harness.log_text("errors.log")
    assert "failed after 3 attempt(s)" in errors_log and "Traceback" in errors_log
    assert harness_problems(harness) == []


def test_server_errors_on_the_order_call_place_the_order_once(harness):
    """
    Given a running bot and an exchange that answers its next 2 order calls with 503
    When the bot's next order is due
    Then the order is looked up by client id, sent again and filled exactly once,
     and the journal holds it once
    """
    bot = started_bot(harness)
    harness.server.faults.server_errors(2, 503, method="POST", path=ORDER_PATH)
    fill = until_fill(harness, bot)
    sent = [r for r in harness.server.requests if r.method == "POST" and r.path == ORDER_PATH]
    assert [r.status for r in sent] == [503, 503, 200]
    assert [f.client_order_id for f in harness.server.fills].count(fill.client_order_id) == 1
    advance(bot, 20)
    assert harness_problems(harness) == []


# -- 429 -----------------------------------------------------------------------------------


def test_rate_limit_retry_after_is_waited_out_on_the_clock(harness):
    """
    Given a running bot
    When the exchange answers a read with 429 and Retry-After: 45
    Then the bot's next request comes at least 45 s later on the clock (the backoff alone
     would be 1 s), and the bot goes on processing candles
    """
    bot = started_bot(harness)
    harness.server.faults.rate_limit(1, retry_after_s=45)
    results = advance(bot, 4)
    gaps = gaps_after(harness, 429)
    assert len(gaps) == 1 and gaps[0] >= 45_000, gaps
    assert all(r.new_candles >= 1 for r in results[1:])
    assert "DDoSProtection" in harness.log_text()
    assert harness_problems(harness) == []


def test_rate_limit_on_the_order_call_waits_then_finds_or_resends_once(harness):
    """
    Given a running bot
    When its next order call is answered 429 with Retry-After: 30
    Then it waits at least 30 s on the clock before looking the order up, and the order
     is filled exactly once and journaled once
    """
    bot = started_bot(harness)
    harness.server.faults.rate_limit(1, retry_after_s=30, method="POST", path=ORDER_PATH)
    fill = until_fill(harness, bot)
    gaps = gaps_after(harness, 429)
    assert len(gaps) == 1 and gaps[0] >= 30_000, gaps
    assert [f.client_order_id for f in harness.server.fills].count(fill.client_order_id) == 1
    advance(bot, 10)
    assert harness_problems(harness) == []


# -- -1021 ---------------------------------------------------------------------------------


def test_clock_drift_errors_resync_and_the_order_goes_through_once(harness):
    """
    Given a running bot whose next 2 signed requests are refused with -1021 (timestamp
     outside recvWindow)
    When its next order is due
    Then the bot resynchronises its clock offset, the order fills exactly once and is
     journaled once
    """
    bot = started_bot(harness)
    harness.server.faults.clock_skew(2)
    fill = until_fill(harness, bot)
    assert "resynchronised with the exchange clock" in harness.log_text()
    assert any(r.status == 400 for r in harness.server.requests)
    assert [f.client_order_id for f in harness.server.fills].count(fill.client_order_id) == 1
    advance(bot, 10)
    assert harness_problems(harness) == []


def test_lasting_clock_drift_is_an_error_with_trace_and_the_bot_recovers(harness):
    """
    Given a bot that holds a position
    When its next 6 signed requests are refused with -1021 and it restarts into them
    Then the failed reads are in errors.log with the InvalidNonce stack trace, and the
     bot still processes the next candles with journals that match the fills
    """
    harness.run_until_long()
    harness.server.faults.clock_skew(6)
    bot = harness.new_bot(None)
    notes = bot.positions.reconcile()
    assert any("skipped" in note for note in notes), notes
    results = advance(bot, 30)
    errors_log = harness.log_text("errors.log")
    assert "InvalidNonce" in errors_log and "Traceback" in errors_log
    assert sum(r.new_candles for r in results) >= 29
    assert harness_problems(harness) == []


# -- order answer lost ---------------------------------------------------------------------


@pytest.mark.parametrize("delay_s", [None, 1.0], ids=["dropped", "late"])
def test_order_answer_lost_after_the_fill_does_not_buy_twice(tmp_path, delay_s):
    """
    Given a running bot with a 0.5 s request timeout
    When its order executes on the exchange but the answer is dropped or comes after 1 s
    Then the bot looks the order up by client id instead of sending it again: exactly one
     fill on the exchange and one journal row, and the bot goes on trading
    """
    harness = BotHarness(tmp_path, env={"MA_FAST": "2", "MA_SLOW": "4",
                                        "REQUEST_TIMEOUT_MS": "500"})
    try:
        bot = started_bot(harness)
        harness.server.faults.order_timeout_after_fill(1, delay_s=delay_s)
        fill = until_fill(harness, bot)
        advance(bot, 1)
        orders = [o for o in harness.server.orders if o["clientOrderId"] == fill.client_order_id]
        assert len(orders) == 1
        assert len(harness.server.fills) == 1
        rows = [r for r in load_rows(harness.settings.trades_csv)
                if r["client_order_id"] == fill.client_order_id]
        assert len(rows) == 1 and rows[0]["order_id"] == fill.order_id
        assert "not sent again" in harness.log_text()
        until_fill(harness, bot)
        advance(bot, 5)
        assert harness_problems(harness) == []
    finally:
        harness.close()


# -- testnet wipe --------------------------------------------------------------------------


def test_testnet_wipe_while_long_during_a_run_is_closed_on_record(harness):
    """
    Given the bot holds a position and the testnet resets (orders forgotten, 1 BTC and
     10000 USDT re-issued) while it runs
    When the position would next be sold
    Then instead of selling re-issued coins the journal gets one testnet_wipe row without
     PnL, errors.log says the position was lost, and the bot trades again later
    """
    bot = harness.run_until_long()
    entry = bot.positions.position.entry_client_order_id
    harness.server.wipe()
    before = len(harness.server.fills)
    for _ in range(300):
        advance(bot, 1)
        if bot.positions.position is None:
            break
    assert bot.positions.position is None
    assert len(harness.server.fills) == before, "re-issued coins were sold"
    wipes = [r for r in load_rows(harness.settings.trades_csv)
             if r["exit_reason"] == "testnet_wipe"]
    assert len(wipes) == 1 and wipes[0]["client_order_id"] == f"wipe-{entry}"
    assert wipes[0]["PnL"] == "" and wipes[0]["order_id"] == ""
    assert "position lost" in harness.log_text("errors.log")
    until_fill(harness, bot)
    until_fill(harness, bot)
    assert harness_problems(harness) == []


def test_testnet_wipe_while_the_bot_is_down_is_found_on_restart(harness):
    """
    Given the bot holds a position and stops
    When the testnet resets and the bot restarts twice
    Then the first restart journals one testnet_wipe row, the second none, and the bot
     trades again
    """
    harness.run_until_long()
    harness.server.wipe()
    for _ in range(2):
        bot = harness.new_bot(None)
        bot.positions.reconcile()
    wipes = [r for r in load_rows(harness.settings.trades_csv)
             if r["exit_reason"] == "testnet_wipe"]
    assert len(wipes) == 1
    assert bot.positions.position is None
    until_fill(harness, bot)
    assert harness_problems(harness) == []


def test_sell_is_skipped_while_the_entry_order_cannot_be_looked_up(harness, caplog):
    """
    Given the bot holds a position and the order look-up fails on the exchange
    When a sell is due
    Then no sell is sent, the position stays, and the sell goes through once the look-up works
    """
    bot = harness.run_until_long()
    broker = bot.positions.broker
    original = broker.find_order

    def failing(cid):
        raise ExchangeUnavailable("look-up down")

    broker.find_order = failing
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        result = bot.positions.on_price(bot.positions.position.entry_price * 0.9)
    assert result == skipped("entry order look-up unavailable (look-up down)")
    assert bot.positions.position is not None
    assert "entry order look-up unavailable" in caplog.text
    broker.find_order = original
    price = bot.positions.position.entry_price * 0.9
    harness.market.force_price(round(price, 2), at_ms=harness.clock.now_ms())
    assert bot.positions.on_price(price) == Outcome(Action.SOLD, "stop_loss")
    assert harness_problems(harness) == []
