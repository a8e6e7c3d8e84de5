"""The whole bot against the real emulator over loopback, on a simulated clock."""

import logging

import pytest

from storage.candles import read_candles
from storage.trades import read_trades
from tests.bot_harness import BotHarness


@pytest.fixture
def harness(tmp_path):
    h = BotHarness(tmp_path)
    yield h
    h.close()


def test_signals_become_trades_and_every_fill_is_journaled_once(harness):
    """
    Given the bot on the emulator with the MovingAvg2Line strategy
    When it runs for 300 closed candles
    Then it has traded, every emulator fill is journaled exactly once with its fee,
     and the candle file holds each timestamp once
    """
    bot = harness.run(300)
    assert bot.candles_processed == 300
    trades = read_trades(harness.settings.trades_csv)
    fills = harness.server.fills
    assert len(fills) >= 2
    assert sorted(trades["client_order_id"]) == sorted(f.client_order_id for f in fills)
    assert trades["client_order_id"].is_unique
    assert (trades["fee"] > 0).all()
    candles = read_candles(harness.settings.candles_csv)
    assert candles["timestamp"].is_unique
    assert candles["timestamp"].diff().dropna().eq(60_000).all()


def test_stop_loss_fires_when_the_price_drops(harness):
    """
    Given the bot holds a long position
    When the market price falls 3 % below the entry
    Then a market sell closes it and the journal row says the stop-loss fired
    """
    bot = harness.run_until_long()
    entry = bot.positions.position.entry_price
    harness.market.force_price(round(entry * 0.97, 2), at_ms=harness.clock.now_ms())
    bot.wait_for_close()
    assert bot.positions.position is None
    last = read_trades(harness.settings.trades_csv).iloc[-1]
    assert last["side"] == "sell" and bool(last["stop_loss_triggered"])
    assert last["exit_reason"] == "stop_loss" and last["PnL"] < 0


def test_take_profit_fires_when_the_price_rises(harness):
    """
    Given the bot holds a long position
    When the market price rises 5 % above the entry
    Then a market sell closes it and the journal row says the take-profit fired
    """
    bot = harness.run_until_long()
    entry = bot.positions.position.entry_price
    harness.market.force_price(round(entry * 1.05, 2), at_ms=harness.clock.now_ms())
    bot.wait_for_close()
    assert bot.positions.position is None
    last = read_trades(harness.settings.trades_csv).iloc[-1]
    assert bool(last["take_profit_triggered"]) and last["exit_reason"] == "take_profit"
    assert last["PnL"] > 0


def test_outage_mid_run_is_survived(harness):
    """
    Given the bot running on the emulator
    When the exchange drops every connection for 10 minutes of market time
    Then cycles are skipped with warnings and errors are logged, and the bot goes on
     processing candles after the outage
    """
    bot = harness.new_bot(60)
    bot.run()
    harness.server.faults.outage(600)
    bot.max_candles = 90
    bot.run()
    assert bot.cycles_skipped >= 1
    assert bot.candles_processed == 90
    assert "Cycle skipped" in harness.log_text()
    assert "Traceback" in harness.log_text("errors.log")


def test_restart_resumes_the_open_position_and_still_applies_stop_loss(harness, caplog):
    """
    Given the bot holds a long position and is stopped
    When a new bot process starts on the same data and the price then falls 3 %
    Then the new bot knows the position and its stop-loss closes it, with no duplicate row
    """
    bot = harness.run_until_long()
    entry = bot.positions.position.entry_price
    restarted = harness.new_bot(None)
    with caplog.at_level(logging.INFO, logger="paperbot"):
        restarted.positions.reconcile()
    assert restarted.positions.position is not None
    assert restarted.positions.position.entry_price == entry
    harness.market.force_price(round(entry * 0.97, 2), at_ms=harness.clock.now_ms())
    restarted.wait_for_close()
    trades = read_trades(harness.settings.trades_csv)
    assert restarted.positions.position is None
    assert trades["client_order_id"].is_unique and trades.iloc[-1]["exit_reason"] == "stop_loss"


def test_candles_are_not_duplicated_across_restarts(harness):
    """
    Given the bot ran 50 candles and stopped
    When it is restarted for 50 more
    Then the candle file holds every timestamp once, without gaps
    """
    harness.run(50)
    harness.run(50)
    candles = read_candles(harness.settings.candles_csv)
    assert candles["timestamp"].is_unique
    assert candles["timestamp"].diff().dropna().eq(60_000).all()
