"""Runs features/resilience.feature: crash/restart, outage, rate limit, lost order answer, wipe.

The crash scenario starts a standalone emulator and bot processes (``KillLoop``: 30 kills,
the first one per write window, the rest drawn; this is the suite's one crash run). Its lives
are forked from a process that imported pandas, numpy and ccxt once (``tests.bot_zygote``),
so 31 starts do not cost 31 imports of them; the last, clean run is ``python main.py``. The others
drive the whole bot in-process (``BotHarness``). The steps call the same helpers as
tests/test_resilience_faults.py. Each step hands what it made to the next through
pytest-bdd's ``target_fixture`` (the crash run, the kill report, the bot, what a fault did);
the harness, the zygote and the emulator process are closed by fixtures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from bot.runner import CycleResult, TradingBot
from core.types import Fill
from storage.trades import load_rows
from tests.bot_harness import BotHarness
from tests.bot_zygote import ForkedBot, Zygote
from tests.resilience_helpers import (
    BotProcess,
    EmulatorProcess,
    KillLoop,
    KillReport,
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
def open_harnesses() -> Iterator[list[BotHarness]]:
    """The in-process harnesses still open, closed (logs, emulator) after the scenario."""
    made: list[BotHarness] = []
    yield made
    for harness in made:
        harness.close()


@pytest.fixture()
def harness(open_harnesses: list[BotHarness], tmp_path: Path) -> BotHarness:
    """The emulator in-process with the bot's settings (MA 2/4), closed by open_harnesses."""
    made = BotHarness(tmp_path, env={"MA_FAST": "2", "MA_SLOW": "4"})
    open_harnesses.append(made)
    return made


@pytest.fixture()
def zygote() -> Iterator[Zygote]:
    """The process the crash scenario forks its bot lives from, ended after the scenario."""
    made = Zygote()
    yield made
    made.close()


# -- crash -------------------------------------------------------------------------------


@dataclass
class CrashRun:
    """The crash scenario's standalone emulator, the seed of its kill plan, the bots' env."""

    seed: int
    emulator: EmulatorProcess
    env: dict[str, str]


@given(parsers.parse("a standalone emulator at {speed:d}x with the bot trading on it"),
       target_fixture="crash")
def standalone_emulator(request: pytest.FixtureRequest, speed: int) -> CrashRun:
    if os.name != "posix":
        pytest.skip("SIGKILL needs a POSIX system")
    seed = crash_seed()
    emulator = EmulatorProcess(seed=seed, speed=speed)
    request.addfinalizer(emulator.stop)
    return CrashRun(seed=seed, emulator=emulator, env=bot_environment())


@when(parsers.parse("the bot is killed with SIGKILL {kills:d} times, first right after an"
                    " order executes, after a fill, a journal write, a candle write and a state"
                    " save, then at drawn moments, and restarted each time"),
      target_fixture="report")
def kill_loop(crash: CrashRun, zygote: Zygote, tmp_path: Path, kills: int) -> KillReport:
    kills = crash_kills(kills)  # CRASH_TEST_KILLS overrides the scenario's count
    # Each life is forked from a process that imported the libraries once (tests.bot_zygote).

    def start_bot(url, workdir, env):
        return ForkedBot(zygote, bot_argv(url, workdir), workdir, env)

    loop = KillLoop(crash.emulator, tmp_path, crash.env, crash.seed, start_bot)
    report = loop.run(kills, FEATURE_TRIGGERS)
    assert report.kills == kills
    return report


@when("the bot runs once more to a clean stop", target_fixture="fills")
def clean_stop(crash: CrashRun, report: KillReport, tmp_path: Path) -> list[dict]:
    bot = BotProcess(crash.emulator.url, tmp_path, crash.env, ["--max-candles", "2"])
    assert bot.wait(30) == 0, report.summary()
    return crash.emulator.fills()


def _context(crash: CrashRun, report: KillReport) -> str:
    return f"{report.summary()}; replay with CRASH_TEST_SEED={crash.seed}"


@then("every fill of the emulator is in the trades journal exactly once")
def fills_journaled_once(crash: CrashRun, report: KillReport, fills: list[dict],
                         tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert fills, _context(crash, report)
    assert journal_problems(data / "historical_trades.csv", fills) == [], _context(crash, report)


@then("the candle file holds every candle once, without a partial row")
def candles_once(crash: CrashRun, report: KillReport, tmp_path: Path) -> None:
    data = tmp_path / "data"
    found = leftover_problems(data) + candle_problems(data / "historical_data.csv")
    assert found == [], _context(crash, report)


@then("no order is pending and the bot's position equals the BTC the emulator credited it")
def position_matches(crash: CrashRun, report: KillReport, tmp_path: Path) -> None:
    data = tmp_path / "data"
    btc = crash.emulator.balances()["BTC"]
    found = position_problems(data / "state.json", data / "historical_trades.csv", btc)
    assert found == [], _context(crash, report)


@then("every order caught in flight was found on restart and journaled")
def in_flight_found(crash: CrashRun, report: KillReport, fills: list[dict],
                    tmp_path: Path) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    recovered = set(RECOVERED.findall((logs / "trading.log").read_text(encoding="utf-8")))
    assert {f["client_order_id"] for f in fills} >= recovered, _context(crash, report)
    # The "found" log line itself can be lost when the next kill lands between journal and
    # log, so the journal is the proof that an order killed mid-flight was recovered.
    journaled = {row["client_order_id"] for row in load_rows(data / "historical_trades.csv")}
    in_flight = report.in_flight
    assert in_flight, f"no kill caught an order in flight; {_context(crash, report)}"
    assert in_flight <= journaled, _context(crash, report)


@then("the bot logged no error")
def no_error_logged(crash: CrashRun, report: KillReport, tmp_path: Path) -> None:
    errors_log = (tmp_path / "logs" / "errors.log").read_text(encoding="utf-8")
    stderr = (tmp_path / "bot-stderr.txt").read_text(encoding="utf-8")
    assert (errors_log, stderr) == ("", ""), _context(crash, report)


# -- faults ------------------------------------------------------------------------------


@dataclass
class Outage:
    """An outage: candles the bot had processed before it, when it ended, the cycles run."""

    processed: int
    end_ms: int
    results: list[CycleResult]


@dataclass
class Wipe:
    """A testnet wipe: the wiped position's entry client order id, the fills before it."""

    entry_client_order_id: str
    fills_before: int


@given("the bot running on the emulator with a position open", target_fixture="bot")
def running_long(harness: BotHarness) -> TradingBot:
    return harness.run_until_long()


@given("the bot running on the emulator", target_fixture="bot")
def running(harness: BotHarness) -> TradingBot:
    return started_bot(harness)


@when(parsers.parse("the exchange drops every connection for {minutes:d} minutes"),
      target_fixture="outage")
def outage(harness: BotHarness, bot: TradingBot, minutes: int) -> Outage:
    processed = bot.candles_processed
    end_ms = harness.clock.now_ms() + minutes * 60_000
    harness.server.faults.outage(minutes * 60)
    return Outage(processed=processed, end_ms=end_ms, results=advance(bot, minutes + 4))


@then("the cycles during the outage are skipped and errors.log has their stack traces")
def outage_skipped(harness: BotHarness, outage: Outage) -> None:
    assert sum(1 for r in outage.results if r.skipped) >= 9
    errors_log = harness.log_text("errors.log")
    assert "failed after 3 attempt(s)" in errors_log and "Traceback" in errors_log


@then("the bot processes the candles after the outage")
def after_outage(harness: BotHarness, bot: TradingBot, outage: Outage) -> None:
    assert harness.clock.now_ms() > outage.end_ms
    assert [r.new_candles for r in outage.results[-3:]] == [1, 1, 1]
    assert bot.candles_processed > outage.processed


@then("the journals match the exchange")
def journals_match(harness: BotHarness, bot: TradingBot) -> None:
    advance(bot, 10)
    assert harness_problems(harness) == []


@when(parsers.parse("the exchange answers 429 with Retry-After {seconds:d} seconds"),
      target_fixture="results")
def rate_limited(harness: BotHarness, bot: TradingBot, seconds: int) -> list[CycleResult]:
    harness.server.faults.rate_limit(1, retry_after_s=seconds)
    return advance(bot, 4)


@then(parsers.parse("the bot's next request comes at least {seconds:d} seconds later on the"
                    " clock"))
def waited(harness: BotHarness, seconds: int) -> None:
    gaps = gaps_after(harness, 429)
    assert len(gaps) == 1 and gaps[0] >= seconds * 1000, gaps


@then("the bot processes the candles after it")
def after_rate_limit(results: list[CycleResult]) -> None:
    assert all(r.new_candles >= 1 for r in results[1:])


@when("its next order executes but the answer never arrives", target_fixture="lost_fill")
def answer_lost(harness: BotHarness, bot: TradingBot) -> Fill:
    harness.server.faults.order_timeout_after_fill(1)
    fill = until_fill(harness, bot)
    advance(bot, 1)
    return fill


@then("the exchange holds exactly one order and one fill with that client order id")
def one_order(harness: BotHarness, lost_fill: Fill) -> None:
    cid = lost_fill.client_order_id
    assert [o["clientOrderId"] for o in harness.server.orders].count(cid) == 1
    assert [f.client_order_id for f in harness.server.fills].count(cid) == 1


@then("the trades journal holds exactly one row of it")
def one_row(harness: BotHarness, lost_fill: Fill) -> None:
    rows = load_rows(harness.settings.trades_csv)
    assert [r["client_order_id"] for r in rows].count(lost_fill.client_order_id) == 1


@then("the bot trades again later")
def trades_again(harness: BotHarness, bot: TradingBot) -> None:
    until_fill(harness, bot)


@when(parsers.parse("the testnet is wiped, re-issuing {btc:d} BTC and {usdt:d} USDT"),
      target_fixture="wipe")
def wiped(harness: BotHarness, bot: TradingBot, btc: int, usdt: int) -> Wipe:
    wipe = Wipe(entry_client_order_id=bot.positions.position.entry_client_order_id,
                fills_before=len(harness.server.fills))
    harness.server.wipe()
    balances = harness.server.balances()
    assert (balances["BTC"], balances["USDT"]) == (btc, usdt)
    for _ in range(300):
        advance(bot, 1)
        if bot.positions.position is None:
            return wipe
    raise AssertionError("the position was never closed")


@then("the trades journal gets one testnet_wipe row without PnL instead of a sell")
def wipe_row(harness: BotHarness, wipe: Wipe) -> None:
    assert len(harness.server.fills) == wipe.fills_before, "re-issued coins were sold"
    rows = [r for r in load_rows(harness.settings.trades_csv)
            if r["exit_reason"] == "testnet_wipe"]
    assert len(rows) == 1 and rows[0]["client_order_id"] == f"wipe-{wipe.entry_client_order_id}"
    assert rows[0]["PnL"] == ""


@then("the bot is flat")
def flat(bot: TradingBot) -> None:
    assert bot.positions.position is None
