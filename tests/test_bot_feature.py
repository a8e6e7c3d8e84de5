"""Runs features/bot.feature: the whole bot on the emulator, as a user describes it."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from storage.candles import read_candles
from storage.trades import read_trades
from tests.bot_harness import BotHarness

scenarios("bot.feature")


@pytest.fixture()
def world(tmp_path):
    state = {"tmp": tmp_path}
    yield state
    if "harness" in state:
        state["harness"].close()


@given(parsers.parse('the bot trades BTC/USDT 1m on the local emulator with the "{name}" strategy'))
def local_bot(world, name):
    world["harness"] = BotHarness(world["tmp"], strategy=name)


@given("the bot holds a long position")
def long_position(world):
    world["bot"] = world["harness"].run_until_long()
    world["entry"] = world["bot"].positions.position.entry_price


@when(parsers.parse("the bot runs for {count:d} closed candles"))
def run_candles(world, count):
    world["bot"] = world["harness"].new_bot(count)
    world["bot"].run()


@when(parsers.parse("the bot is restarted and runs for {count:d} closed candles"))
def restart_and_run(world, count):
    run_candles(world, count)


@when("the bot is restarted")
def restart(world):
    world["bot"] = world["harness"].new_bot(None)
    world["bot"].positions.reconcile()
    assert world["bot"].positions.position is not None


@when(parsers.parse("the exchange is unreachable for {minutes:d} minutes while the bot runs"
                    " {count:d} more candles"))
def outage(world, minutes, count):
    world["harness"].server.faults.outage(minutes * 60)
    world["bot"].max_candles += count
    world["bot"].run()


def _move_price(world, factor):
    harness = world["harness"]
    harness.market.force_price(round(world["entry"] * factor, 2), at_ms=harness.clock.now_ms())
    world["bot"].wait_for_close()


@when(parsers.parse("the price falls {pct:d} % below the entry price"))
def price_falls(world, pct):
    _move_price(world, 1 - pct / 100)


@when(parsers.parse("the price rises {pct:d} % above the entry price"))
def price_rises(world, pct):
    _move_price(world, 1 + pct / 100)


def _trades(world):
    return read_trades(world["harness"].settings.trades_csv)


@then(parsers.parse("the trades journal has at least {count:d} rows"))
def journal_rows(world, count):
    assert len(_trades(world)) >= count


@then("every fill on the exchange is journaled exactly once")
def fills_journaled_once(world):
    trades = _trades(world)
    fills = world["harness"].server.fills
    assert sorted(trades["client_order_id"]) == sorted(f.client_order_id for f in fills)


@then("the position is closed by a market sell")
def position_closed(world):
    assert world["bot"].positions.position is None
    assert _trades(world).iloc[-1]["side"] == "sell"


@then(parsers.parse('the last journal row says "{reason}"'))
def last_reason(world, reason):
    last = _trades(world).iloc[-1]
    assert last["exit_reason"] == reason
    assert bool(last[f"{reason}_triggered"])


@then("the candle file holds every timestamp once without gaps")
def candles_clean(world):
    stamps = read_candles(world["harness"].settings.candles_csv)["timestamp"]
    assert stamps.is_unique and stamps.diff().dropna().eq(60_000).all()


@then(parsers.parse('trading.log says "{text}"'))
def trading_log_says(world, text):
    assert text in world["harness"].log_text()


@then("errors.log holds a stack trace")
def errors_trace(world):
    assert "Traceback" in world["harness"].log_text("errors.log")


@then(parsers.parse("the bot processed {count:d} closed candles"))
def processed(world, count):
    assert world["bot"].candles_processed == count


@given("a bot process trading on the local exchange in near real time")
def bot_process(world):
    from tests.test_bot_stop_signals import start_bot

    world["proc"], world["root"] = start_bot(world["tmp"] / "process")


@when("it receives SIGTERM")
def send_sigterm(world):
    import signal
    import time

    world["sent"] = time.monotonic()
    world["proc"].send_signal(signal.SIGTERM)


@then(parsers.parse("it exits with status 0 within {seconds:d} seconds"))
def exits_zero(world, seconds):
    import time

    status = world["proc"].wait(timeout=30)
    assert status == 0 and time.monotonic() - world["sent"] < seconds


@then("the last line of trading.log is the one-line summary")
def summary_line(world):
    lines = (world["root"] / "logs" / "trading.log").read_text(encoding="utf-8").splitlines()
    assert lines[-1].split(" - ", 1)[1].startswith("Stopped after")
