"""Runs features/bot.feature: the whole bot on the emulator, as a user describes it.

Each step hands what it made to the next through pytest-bdd's ``target_fixture`` (the
harness, the bot, the stopping process) instead of a shared dict, so a step's inputs are its
arguments. This is the bot's one end-to-end suite (tests/test_bot_e2e.py was merged into it).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from bot.runner import TradingBot
from storage.candles import read_candles
from storage.trades import read_trades
from tests.bot_harness import BotHarness
from tests.test_bot_stop_signals import start_bot

scenarios("bot.feature")


@dataclass
class StoppingBot:
    """A bot process and, once sent, when the stop signal went."""

    proc: Popen
    root: Path
    sent_at: float = 0.0


@pytest.fixture()
def harnesses() -> Iterator[list[BotHarness]]:
    """Every harness a scenario built, closed (logs, emulator) after it."""
    made: list[BotHarness] = []
    yield made
    for harness in made:
        harness.close()


@given(parsers.parse('the bot trades BTC/USDT 1m on the local emulator with the "{name}" strategy'),
       target_fixture="harness")
def local_bot(harnesses, tmp_path, name) -> BotHarness:
    harness = BotHarness(tmp_path, strategy=name)
    harnesses.append(harness)
    return harness


@given("the bot holds a long position", target_fixture="bot")
def long_position(harness) -> TradingBot:
    return harness.run_until_long()


@when(parsers.parse("the bot runs for {count:d} closed candles"), target_fixture="bot")
def run_candles(harness, count) -> TradingBot:
    bot = harness.new_bot(count)
    bot.run()
    return bot


@when(parsers.parse("the bot is restarted and runs for {count:d} closed candles"),
      target_fixture="bot")
def restart_and_run(harness, count) -> TradingBot:
    return run_candles(harness, count)


@when("the bot is restarted", target_fixture="bot")
def restart(harness, bot) -> TradingBot:
    entry = bot.positions.position.entry_price
    restarted = harness.new_bot(None)
    restarted.positions.reconcile()
    assert restarted.positions.position is not None
    assert restarted.positions.position.entry_price == entry
    return restarted


@when(parsers.parse("the exchange is unreachable for {minutes:d} minutes while the bot runs"
                    " {count:d} more candles"))
def outage(harness, bot, minutes, count):
    harness.server.faults.outage(minutes * 60)
    bot.max_candles += count
    bot.run()


def _move_price(harness: BotHarness, bot: TradingBot, factor: float) -> None:
    entry = bot.positions.position.entry_price
    harness.market.force_price(round(entry * factor, 2), at_ms=harness.clock.now_ms())
    bot.wait_for_close()


@when(parsers.parse("the price falls {pct:d} % below the entry price"))
def price_falls(harness, bot, pct):
    _move_price(harness, bot, 1 - pct / 100)


@when(parsers.parse("the price rises {pct:d} % above the entry price"))
def price_rises(harness, bot, pct):
    _move_price(harness, bot, 1 + pct / 100)


def _trades(harness: BotHarness):
    return read_trades(harness.settings.trades_csv)


@then(parsers.parse("the trades journal has at least {count:d} rows"))
def journal_rows(harness, count):
    assert len(_trades(harness)) >= count


@then("every fill on the exchange is journaled exactly once")
def fills_journaled_once(harness):
    trades = _trades(harness)
    fills = harness.server.fills
    assert sorted(trades["client_order_id"]) == sorted(f.client_order_id for f in fills)
    assert trades["client_order_id"].is_unique
    assert (trades["fee"] > 0).all()


@then("the position is closed by a market sell")
def position_closed(harness, bot):
    assert bot.positions.position is None
    assert _trades(harness).iloc[-1]["side"] == "sell"


@then(parsers.parse('the last journal row says "{reason}" with a {sign} PnL'))
def last_reason(harness, reason, sign):
    last = _trades(harness).iloc[-1]
    assert last["exit_reason"] == reason
    assert bool(last[f"{reason}_triggered"])
    assert last["PnL"] < 0 if sign == "negative" else last["PnL"] > 0


@then("the candle file holds every timestamp once without gaps")
def candles_clean(harness):
    stamps = read_candles(harness.settings.candles_csv)["timestamp"]
    assert stamps.is_unique and stamps.diff().dropna().eq(60_000).all()


@then(parsers.parse('trading.log says "{text}"'))
def trading_log_says(harness, text):
    assert text in harness.log_text()


@then("errors.log holds a stack trace")
def errors_trace(harness):
    assert "Traceback" in harness.log_text("errors.log")


@then(parsers.parse("the bot processed {count:d} closed candles"))
def processed(bot, count):
    assert bot.candles_processed == count


@then(parsers.parse("at least {count:d} cycle was skipped"))
def cycles_skipped(bot, count):
    assert bot.cycles_skipped >= count


@given("a bot process trading on the local exchange in near real time",
       target_fixture="stopping")
def bot_process(tmp_path) -> StoppingBot:
    proc, root = start_bot(tmp_path / "process")
    return StoppingBot(proc, root)


@when("it receives SIGTERM")
def send_sigterm(stopping):
    stopping.sent_at = time.monotonic()
    stopping.proc.send_signal(signal.SIGTERM)


@then(parsers.parse("it exits with status 0 within {seconds:d} seconds"))
def exits_zero(stopping, seconds):
    status = stopping.proc.wait(timeout=30)
    assert status == 0 and time.monotonic() - stopping.sent_at < seconds


@then("the last line of trading.log is the one-line summary")
def summary_line(stopping):
    lines = (stopping.root / "logs" / "trading.log").read_text(encoding="utf-8").splitlines()
    assert lines[-1].split(" - ", 1)[1].startswith("Stopped after")
