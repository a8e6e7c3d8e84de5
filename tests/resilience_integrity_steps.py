"""Steps of features/resilience.feature for issue 10's scenarios (one bot per folder,
journal keyed by client order id, torn tails, back-fill, future times, bad values, stops).

Imported by tests/test_resilience_feature.py, which binds the whole feature file and holds
the ``harness`` / ``open_harnesses`` fixtures and the ``bot`` the in-process steps here take.
Values pass between steps through ``target_fixture``; the data folders a refusal scenario
makes are a ``DataFolders`` fixture.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bot.runner import CycleResult, TradingBot
from core.types import Fill
from storage.trades import load_rows
from tests.bot_harness import BotHarness
from tests.main_subprocess import child_env, project_copy
from tests.resilience_helpers import advance, candle_problems

# -- second bot refused ---------------------------------------------------------------------


def _bot_args(root: Path) -> list[str]:
    return ["--exchange", "local", "--speed", "600", "--data-dir", str(root / "data"),
            "--logs-dir", str(root / "logs"), "--quiet"]


def _kill_if_running(proc: subprocess.Popen) -> None:
    """Kill ``proc`` unless it already ended (a failed scenario's first bot)."""
    if proc.poll() is None:
        proc.kill()


@given("a bot process running on a data folder", target_fixture="first_bot_process")
def first_bot(request: pytest.FixtureRequest, tmp_path: Path) -> subprocess.Popen:
    from storage.lock import lock_holder

    project = project_copy(tmp_path)
    env = child_env(project, {"STRATEGY": "ma2line", "MA_FAST": "2", "MA_SLOW": "4",
                              "HISTORY_CANDLES": "60"})
    proc = subprocess.Popen([sys.executable, "main.py", *_bot_args(tmp_path)], cwd=project,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    request.addfinalizer(lambda: _kill_if_running(proc))
    deadline = time.monotonic() + 30
    while lock_holder(tmp_path / "data") != proc.pid:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    return proc


@when("a second bot starts on the same data folder", target_fixture="second_bot_run")
def second_bot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    import main

    status = main.main(_bot_args(tmp_path) + ["--max-candles", "1"])
    return (status, capsys.readouterr().err)


@then("the second bot exits 2 with one line naming the first bot's PID")
def second_refused(first_bot_process: subprocess.Popen,
                   second_bot_run: tuple[int, str]) -> None:
    status, stderr = second_bot_run
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2, stderr
    assert len(lines) == 1 and f"PID {first_bot_process.pid}" in lines[0], lines


@then("the first bot stops cleanly with its candle file holding every candle once")
def first_clean(first_bot_process: subprocess.Popen, tmp_path: Path) -> None:
    proc = first_bot_process
    candles = tmp_path / "data" / "historical_data.csv"
    deadline = time.monotonic() + 30
    while not candles.exists():  # at least one cycle of the first bot's own
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == ""
    assert candle_problems(candles) == []


# -- exchange ids restarted ------------------------------------------------------------------


def _round_trip(harness, bot, limit: int = 600) -> None:
    """Run cycles until two more fills happened and the bot is flat again."""
    start = len(harness.server.fills)
    for _ in range(limit):
        advance(bot, 1)
        if len(harness.server.fills) >= start + 2 and bot.positions.position is None:
            return
    raise AssertionError(f"no round trip within {limit} candles")


@when("the bot has bought and sold, and the exchange then restarts with its order ids from 1",
      target_fixture="fills_before_restart")
def ids_restart(harness: BotHarness, bot: TradingBot) -> list[Fill]:
    _round_trip(harness, bot)
    before = list(harness.server.fills)
    state = harness.server.export_state()
    # What a standalone emulator restarted without its state file serves: no orders, no
    # trades, ids from 1 (the balances are kept so the bot's position check stays calm).
    state.update(orders=[], trades=[], fills=[], next_order_id=1, next_trade_id=1)
    harness.server.import_state(state)
    return before


@when("the bot buys and sells again, on order ids it has journaled before")
def trades_after_restart(harness: BotHarness, bot: TradingBot,
                         fills_before_restart: list[Fill]) -> None:
    _round_trip(harness, bot)
    old_ids = {f.order_id for f in fills_before_restart}
    assert {f.order_id for f in harness.server.fills} & old_ids


@then("every fill from before and after the restart is in the trades journal once")
def all_fills_once(harness: BotHarness, fills_before_restart: list[Fill]) -> None:
    rows = load_rows(harness.settings.trades_csv)
    journaled = [(r["client_order_id"], r["order_id"]) for r in rows if r["order_id"]]
    made = [(f.client_order_id, f.order_id) for f in fills_before_restart + harness.server.fills]
    assert sorted(journaled) == sorted(made)


@then("the journal refused no row")
def none_refused(harness: BotHarness) -> None:
    assert "journal refused" not in harness.log_text()


# -- stall longer than the window ------------------------------------------------------------


@when(parsers.parse("the bot is frozen for {candles:d} candles, longer than its {window:d}-candle"
                    " window"), target_fixture="results")
def frozen(harness: BotHarness, bot: TradingBot, candles: int,
           window: int) -> list[CycleResult]:
    assert harness.settings.history_candles == window
    # A frozen process: the exchange's time runs on, the bot runs no cycle meanwhile.
    harness.clock.advance((candles - 1) * 60)  # the next close is the last of them
    return advance(bot, 1)


@then(parsers.parse("its next cycle back-fills the {count:d} candles the window no longer holds"
                    " and logs it"))
def backfilled(harness: BotHarness, count: int) -> None:
    text = harness.log_text()
    assert f"Back-filled {count} closed candles" in text, text[-2000:]


@then(parsers.parse("the log says {count:d} candles closed since the last cycle"))
def closed_count(harness: BotHarness, results: list[CycleResult], count: int) -> None:
    assert results[0].new_candles == count
    assert f"{count} candles closed since the last cycle" in harness.log_text()


@then("the candle file holds every candle once, with no gap")
def no_gap(harness: BotHarness) -> None:
    settings = harness.settings
    assert candle_problems(settings.candles_csv) == []
    assert "has no candles" not in harness.log_text()


# -- files the bot refuses at start ------------------------------------------------------------

YEAR_2100_MS = 4_102_444_800_000


@dataclass
class DataFolders:
    """The data folders a refusal scenario made, by name, and each one's files before it."""

    folders: dict[str, Path] = field(default_factory=dict)
    before: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    saved_exchange: bytes | None = None  # the ahead folder's local_exchange.json as saved


def _state_doc(**position) -> dict:
    doc = {"version": 1, "last_candle_ms": None, "order_seq": 1, "symbol": "BTC/USDT",
           "extra": {}, "pending": None,
           "position": {"quantity": 0.001, "entry_price": 23000.0, "entry_time_ms": 0,
                        "entry_order_id": "1", "entry_client_order_id": "pb-1b-x"}}
    doc["position"].update(position)
    return doc


def _folders(root: Path, docs: dict) -> DataFolders:
    made = DataFolders()
    for name, (state, candles) in docs.items():
        data = root / name
        data.mkdir()
        if state is not None:
            # json.dumps writes NaN and Infinity as a careless tool or hand edit would.
            (data / "state.json").write_text(json.dumps(state))
        if candles is not None:
            (data / "historical_data.csv").write_text(
                "timestamp,open,high,low,close,volume\n" + candles)
        made.folders[name] = data
    made.before = {name: sorted((p.name, p.read_bytes()) for p in data.iterdir())
                   for name, data in made.folders.items()}
    return made


@given("a data folder whose state says the last candle was in 2100, and one whose candle file"
       " ends in 2100", target_fixture="data_folders")
def future_folders(tmp_path: Path) -> DataFolders:
    state = _state_doc()
    state.update(position=None, last_candle_ms=YEAR_2100_MS)
    return _folders(tmp_path, {"state": (state, None),
                               "candles": (None, f"{YEAR_2100_MS},100,101,99,100,5\n")})


@given("a data folder whose built-in exchange a fast run saved 3 hours ahead of real time",
       target_fixture="data_folders")
def saved_ahead_folder(tmp_path: Path) -> DataFolders:
    from bot.wiring import start_local_exchange
    from config.settings import load_settings

    data = tmp_path / "ahead"
    settings = load_settings({"DATA_DIR": str(data), "LOGS_DIR": str(tmp_path / "l")},
                             env_file=tmp_path / "absent.env")
    ahead_ms = int(time.time() * 1000) + 3 * 3_600_000
    start_local_exchange(settings, speed=float("inf"), seed=1, start_ms=ahead_ms).server.stop()
    saved_exchange = (data / "local_exchange.json").read_bytes()
    # The shared "no file changed" check leaves the exchange file out; the Then checks it.
    before = {"ahead": sorted((p.name, p.read_bytes()) for p in data.iterdir()
                              if p.name != "local_exchange.json")}
    return DataFolders(folders={"ahead": data}, before=before, saved_exchange=saved_exchange)


@then("each stops with exit 2 and one line saying it is 3h ahead, with the two ways on")
def ahead_refused(data_folders: DataFolders, runs: dict[str, tuple[int, str]]) -> None:
    line = _one_line(runs["ahead"])
    assert "local_exchange.json" in line and "3h ahead" in line and "in the future" in line
    assert "--speed max" in line and "--data-dir" in line, line
    saved = data_folders.folders["ahead"] / "local_exchange.json"
    assert saved.read_bytes() == data_folders.saved_exchange


@given("data folders whose state holds a NaN quantity, an infinite entry price and a negative"
       " entry price", target_fixture="data_folders")
def bad_state_folders(tmp_path: Path) -> DataFolders:
    return _folders(tmp_path, {"nan": (_state_doc(quantity=float("nan")), None),
                               "inf": (_state_doc(entry_price=float("inf")), None),
                               "neg": (_state_doc(entry_price=-23000.0), None)})


@when("the bot starts on each folder", target_fixture="runs")
def start_on_each(data_folders: DataFolders, tmp_path: Path,
                  capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[int, str]]:
    import main

    runs = {}
    for name, data in data_folders.folders.items():
        status = main.main(["--exchange", "local", "--data-dir", str(data), "--logs-dir",
                            str(tmp_path / "logs" / name), "--max-candles", "1", "--quiet"])
        runs[name] = (status, capsys.readouterr().err)
    return runs


def _one_line(run) -> str:
    status, stderr = run
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, (status, stderr)
    return lines[0]


@then("each stops with exit 2 and one line naming the file, the year 2100 and the fix")
def future_refused(runs: dict[str, tuple[int, str]]) -> None:
    for name, result in runs.items():
        line = _one_line(result)
        expected = "state.json" if name == "state" else "historical_data.csv"
        assert expected in line and "2100-01-01" in line and "Move it away" in line, line


@then("no file in those folders was changed")
def unchanged(data_folders: DataFolders) -> None:
    for name, data in data_folders.folders.items():
        made = (".paperbot.lock", ".paperbot.reserve", "local_exchange.json",
                "historical_trades.csv")
        files = sorted((p.name, p.read_bytes()) for p in data.iterdir() if p.name not in made)
        assert files == data_folders.before[name], name


@then("each stops with exit 2 and one line naming the bad value")
def bad_value_refused(runs: dict[str, tuple[int, str]]) -> None:
    expected = {"nan": "'position.quantity' is nan", "inf": "'position.entry_price' is inf",
                "neg": "'position.entry_price' is -23000.0"}
    for name, result in runs.items():
        assert expected[name] in _one_line(result)


@then("each state file was kept aside as state.json.corrupt-<stamp>")
def kept_aside(data_folders: DataFolders) -> None:
    for data in data_folders.folders.values():
        assert not (data / "state.json").exists()
        assert len(list(data.glob("state.json.corrupt-*"))) == 1


# -- failures that cannot heal ---------------------------------------------------------------


@when(parsers.parse("its candle file is replaced by a folder, with {left:d} candles still to go"),
      target_fixture="exit_status")
def candle_folder(harness: BotHarness, bot: TradingBot, left: int) -> int:
    csv = harness.settings.candles_csv
    bot.max_candles = bot.candles_processed + left
    csv.unlink()
    csv.mkdir()
    return bot.run()


@then(parsers.parse("the bot stops with exit 1 after {count:d} identical failed cycles, naming"
                    " the cause in one line"))
def stopped_exit_1(harness: BotHarness, bot: TradingBot, exit_status: int, count: int) -> None:
    assert exit_status == 1 and bot.cycles_skipped == count
    assert "IsADirectoryError" in bot.stop_reason and "\n" not in bot.stop_reason
    assert bot.stop_reason in harness.log_text()


@then("errors.log holds that traceback once and counts the repeats")
def counted(harness: BotHarness, open_harnesses: list[BotHarness], tmp_path: Path) -> None:
    harness.close()
    open_harnesses.remove(harness)
    text = (tmp_path / "logs" / "errors.log").read_text()
    assert text.count("Traceback") == 1 and "... repeated 4 times" in text


@when(parsers.parse("the exchange refuses the bot's candle interval, with {left:d} candles still"
                    " to go"), target_fixture="exit_status")
def interval_refused(bot: TradingBot, left: int) -> int:
    bot.max_candles = bot.candles_processed + left
    bot.client.timeframe = "7m"  # an interval the exchange does not serve
    return bot.run()


@then("the bot stops with exit 2 after one cycle, saying to check TIMEFRAME")
def stopped_exit_2(bot: TradingBot, exit_status: int) -> None:
    assert exit_status == 2 and bot.cycles_skipped == 1
    assert "check TIMEFRAME" in bot.stop_reason


# -- disk full ---------------------------------------------------------------------------------

FSIZE_CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from storage.trades import TradeJournal, load_rows
from tests.test_trades_journal import _buy, _sell

path = Path(sys.argv[1])
journal = TradeJournal(path)
journal.append(_buy())
before = path.read_bytes()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 40, hard))
try:
    journal.append(_sell())
    failed = None
except OSError as exc:
    failed = exc.errno
unchanged = path.read_bytes() == before
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
retried = journal.append(_sell())
print(json.dumps({"failed": failed, "unchanged": unchanged, "retried": retried,
                  "lines": path.read_text().splitlines(),
                  "ids": [r["order_id"] for r in load_rows(path)]}))
"""


@given("a trades journal whose disk fills up in the middle of the next row (a file-size limit)",
       target_fixture="journal_path")
def fsize_journal(tmp_path: Path) -> Path:
    import resource  # noqa: F401 - POSIX only: the scenario needs RLIMIT_FSIZE

    return tmp_path / "historical_trades.csv"


@when("a sell fill is journaled and the write fails, and is journaled again once there is room",
      target_fixture="outcome")
def fsize_write(journal_path: Path) -> dict[str, Any]:
    from tests.conftest import PROJECT_DIR

    done = subprocess.run([sys.executable, "-c", FSIZE_CHILD, str(journal_path),
                           str(PROJECT_DIR)], capture_output=True, text=True, timeout=60,
                          check=False, cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@then("the failed write left the journal byte for byte as it was")
def fsize_unchanged(outcome: dict[str, Any]) -> None:
    import errno

    assert outcome["failed"] == errno.EFBIG
    assert outcome["unchanged"] is True


@then("after the retry the journal holds both fills as whole rows, with no merged line")
def fsize_whole(outcome: dict[str, Any]) -> None:
    assert outcome["retried"] is True and outcome["ids"] == ["11", "12"]
    assert len(outcome["lines"]) == 3


@given("a long position on a small disk of its own that holds the disk reserve")
def small_disk() -> None:
    from tests.test_disk_full import _private_tmpfs_works

    if not _private_tmpfs_works():
        pytest.skip("no private tmpfs (unshare) on this machine")


@when("the disk fills up completely and the price falls through the stop-loss",
      target_fixture="disk_output")
def fill_the_disk(tmp_path: Path) -> str:
    from tests.test_disk_full import run_on_a_full_disk

    return run_on_a_full_disk(tmp_path)


@then("the position is sold and journaled, using the space the reserve freed")
def sold_on_full_disk(disk_output: str) -> None:
    out = disk_output
    assert "stop: sold: stop_loss" in out and "rows: ['buy/', 'sell/stop_loss']" in out
    assert "flat: True reserve: False" in out


@then("no new position is opened until there is room for the reserve again")
def no_buy_while_full(disk_output: str) -> None:
    out = disk_output
    assert "buy while full: skipped: BUY skipped: no room" in out
    assert "buy after room: bought True" in out
