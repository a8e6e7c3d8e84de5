"""Runs features/resilience.feature: crash/restart, outage, rate limit, lost order answer, wipe.

The crash scenario starts a standalone emulator and bot processes (``KillLoop``: 30 kills,
the first one per write window, the rest drawn; this is the suite's one crash run). Its lives
are forked from a process that imported the bot once (``tests.bot_zygote``), so 31 starts do
not cost 31 imports of pandas and ccxt; the last, clean run is ``python main.py``. The others
drive the whole bot in-process (``BotHarness``). The steps call the same helpers as
tests/test_resilience_faults.py.
"""

from __future__ import annotations

import os
import re

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from storage.trades import load_rows
from tests.bot_harness import BotHarness
from tests.bot_zygote import ForkedBot, Zygote
from tests.resilience_helpers import (
    BotProcess,
    EmulatorProcess,
    KillLoop,
    advance,
    bot_argv,
    bot_environment,
    candle_problems,
    crash_kills,
    crash_seed,
    gaps_after,
    harness_problems,
    journal_problems,
    leftover_problems,
    position_problems,
    started_bot,
    until_fill,
)
from tests.resilience_integrity_steps import *  # noqa: F403 - the issue-10 scenarios' steps

scenarios("resilience.feature")

FEATURE_TRIGGERS = ("order", "fill", "journal", "candles", "state")
RECOVERED = re.compile(r"pending (?:BUY|SELL) order (\S+) found")


@pytest.fixture()
def world(tmp_path):
    """What a scenario set up: the harness or the processes, the bot, what happened."""
    state: dict = {"dir": tmp_path}
    yield state
    if "harness" in state:
        state["harness"].close()
    if "emulator" in state:
        state["emulator"].stop()
    if "zygote" in state:
        state["zygote"].close()
    if "cleanup" in state:
        state["cleanup"]()


def _harness(world) -> BotHarness:
    world["harness"] = BotHarness(world["dir"], env={"MA_FAST": "2", "MA_SLOW": "4"})
    return world["harness"]


# -- crash -------------------------------------------------------------------------------


@given(parsers.parse("a standalone emulator at {speed:d}x with the bot trading on it"))
def standalone_emulator(world, speed):
    if os.name != "posix":
        pytest.skip("SIGKILL needs a POSIX system")
    world["seed"] = crash_seed()
    world["emulator"] = EmulatorProcess(seed=world["seed"], speed=speed)
    world["env"] = bot_environment()


@when(parsers.parse("the bot is killed with SIGKILL {kills:d} times, first right after an"
                    " order executes, after a fill, a journal write, a candle write and a state"
                    " save, then at drawn moments, and restarted each time"))
def kill_loop(world, kills):
    kills = crash_kills(kills)  # CRASH_TEST_KILLS overrides the scenario's count
    # Each life is forked from a process that imported the bot once (tests.bot_zygote).
    zygote = world["zygote"] = Zygote()

    def start_bot(url, workdir, env):
        return ForkedBot(zygote, bot_argv(url, workdir), workdir, env)

    loop = KillLoop(world["emulator"], world["dir"], world["env"], world["seed"], start_bot)
    world["report"] = loop.run(kills, FEATURE_TRIGGERS)
    assert world["report"].kills == kills


@when("the bot runs once more to a clean stop")
def clean_stop(world):
    bot = BotProcess(world["emulator"].url, world["dir"], world["env"], ["--max-candles", "2"])
    assert bot.wait(30) == 0, world["report"].summary()
    world["fills"] = world["emulator"].fills()


def _context(world) -> str:
    return f"{world['report'].summary()}; replay with CRASH_TEST_SEED={world['seed']}"


@then("every fill of the emulator is in the trades journal exactly once")
def fills_journaled_once(world):
    data = world["dir"] / "data"
    assert world["fills"], _context(world)
    assert journal_problems(data / "historical_trades.csv", world["fills"]) == [], _context(world)


@then("the candle file holds every candle once, without a partial row")
def candles_once(world):
    data = world["dir"] / "data"
    found = leftover_problems(data) + candle_problems(data / "historical_data.csv")
    assert found == [], _context(world)


@then("no order is pending and the bot's position equals the BTC the emulator credited it")
def position_matches(world):
    data = world["dir"] / "data"
    btc = world["emulator"].balances()["BTC"]
    found = position_problems(data / "state.json", data / "historical_trades.csv", btc)
    assert found == [], _context(world)


@then("every order caught in flight was found on restart and journaled")
def in_flight_found(world):
    data, logs = world["dir"] / "data", world["dir"] / "logs"
    recovered = set(RECOVERED.findall((logs / "trading.log").read_text(encoding="utf-8")))
    assert {f["client_order_id"] for f in world["fills"]} >= recovered, _context(world)
    # The "found" log line itself can be lost when the next kill lands between journal and
    # log, so the journal is the proof that an order killed mid-flight was recovered.
    journaled = {row["client_order_id"] for row in load_rows(data / "historical_trades.csv")}
    in_flight = world["report"].in_flight
    assert in_flight, f"no kill caught an order in flight; {_context(world)}"
    assert in_flight <= journaled, _context(world)


@then("the bot logged no error")
def no_error_logged(world):
    errors_log = (world["dir"] / "logs" / "errors.log").read_text(encoding="utf-8")
    stderr = (world["dir"] / "bot-stderr.txt").read_text(encoding="utf-8")
    assert (errors_log, stderr) == ("", ""), _context(world)


# -- faults ------------------------------------------------------------------------------


@given("the bot running on the emulator with a position open")
def running_long(world):
    harness = _harness(world)
    world["bot"] = harness.run_until_long()


@given("the bot running on the emulator")
def running(world):
    harness = _harness(world)
    world["bot"] = started_bot(harness)


@when(parsers.parse("the exchange drops every connection for {minutes:d} minutes"))
def outage(world, minutes):
    harness, bot = world["harness"], world["bot"]
    world["processed"] = bot.candles_processed
    world["outage_end"] = harness.clock.now_ms() + minutes * 60_000
    harness.server.faults.outage(minutes * 60)
    world["results"] = advance(bot, minutes + 4)


@then("the cycles during the outage are skipped and errors.log has their stack traces")
def outage_skipped(world):
    assert sum(1 for r in world["results"] if r.skipped) >= 9
    errors_log = world["harness"].log_text("errors.log")
    assert "failed after 3 attempt(s)" in errors_log and "Traceback" in errors_log


@then("the bot processes the candles after the outage")
def after_outage(world):
    assert world["harness"].clock.now_ms() > world["outage_end"]
    assert [r.new_candles for r in world["results"][-3:]] == [1, 1, 1]
    assert world["bot"].candles_processed > world["processed"]


@then("the journals match the exchange")
def journals_match(world):
    advance(world["bot"], 10)
    assert harness_problems(world["harness"]) == []


@when(parsers.parse("the exchange answers 429 with Retry-After {seconds:d} seconds"))
def rate_limited(world, seconds):
    world["harness"].server.faults.rate_limit(1, retry_after_s=seconds)
    world["results"] = advance(world["bot"], 4)


@then(parsers.parse("the bot's next request comes at least {seconds:d} seconds later on the"
                    " clock"))
def waited(world, seconds):
    gaps = gaps_after(world["harness"], 429)
    assert len(gaps) == 1 and gaps[0] >= seconds * 1000, gaps


@then("the bot processes the candles after it")
def after_rate_limit(world):
    assert all(r.new_candles >= 1 for r in world["results"][1:])


@when("its next order executes but the answer never arrives")
def answer_lost(world):
    harness = world["harness"]
    harness.server.faults.order_timeout_after_fill(1)
    world["fill"] = until_fill(harness, world["bot"])
    advance(world["bot"], 1)


@then("the exchange holds exactly one order and one fill with that client order id")
def one_order(world):
    harness, cid = world["harness"], world["fill"].client_order_id
    assert [o["clientOrderId"] for o in harness.server.orders].count(cid) == 1
    assert [f.client_order_id for f in harness.server.fills].count(cid) == 1


@then("the trades journal holds exactly one row of it")
def one_row(world):
    rows = load_rows(world["harness"].settings.trades_csv)
    assert [r["client_order_id"] for r in rows].count(world["fill"].client_order_id) == 1


@then("the bot trades again later")
def trades_again(world):
    until_fill(world["harness"], world["bot"])


@when(parsers.parse("the testnet is wiped, re-issuing {btc:d} BTC and {usdt:d} USDT"))
def wiped(world, btc, usdt):
    harness, bot = world["harness"], world["bot"]
    world["entry"] = bot.positions.position.entry_client_order_id
    world["fills_before"] = len(harness.server.fills)
    harness.server.wipe()
    balances = harness.server.balances()
    assert (balances["BTC"], balances["USDT"]) == (btc, usdt)
    for _ in range(300):
        advance(bot, 1)
        if bot.positions.position is None:
            return
    raise AssertionError("the position was never closed")


@then("the trades journal gets one testnet_wipe row without PnL instead of a sell")
def wipe_row(world):
    harness = world["harness"]
    assert len(harness.server.fills) == world["fills_before"], "re-issued coins were sold"
    rows = [r for r in load_rows(harness.settings.trades_csv)
            if r["exit_reason"] == "testnet_wipe"]
    assert len(rows) == 1 and rows[0]["client_order_id"] == f"wipe-{world['entry']}"
    assert rows[0]["PnL"] == ""


@then("the bot is flat")
def flat(world):
    assert world["bot"].positions.position is None
