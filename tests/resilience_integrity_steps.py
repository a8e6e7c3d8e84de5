"""Steps of features/resilience.feature for issue 10's scenarios (one bot per folder,
journal keyed by client order id, torn tails, back-fill, future times, bad values, stops).

Imported by tests/test_resilience_feature.py, which binds the whole feature file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from pytest_bdd import given, parsers, then, when

from storage.trades import load_rows
from tests.main_subprocess import child_env, project_copy
from tests.resilience_helpers import advance, candle_problems

# -- second bot refused ---------------------------------------------------------------------


def _bot_args(world) -> list[str]:
    return ["--exchange", "local", "--speed", "600", "--data-dir", str(world["dir"] / "data"),
            "--logs-dir", str(world["dir"] / "logs"), "--quiet"]


@given("a bot process running on a data folder")
def first_bot(world):
    from storage.lock import lock_holder

    project = project_copy(world["dir"])
    world["project"] = project
    env = child_env(project, {"STRATEGY": "ma2line", "MA_FAST": "2", "MA_SLOW": "4",
                              "HISTORY_CANDLES": "60"})
    proc = subprocess.Popen([sys.executable, "main.py", *_bot_args(world)], cwd=project,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    world["first"] = proc
    world["cleanup"] = lambda: proc.poll() is None and proc.kill()
    deadline = time.monotonic() + 30
    while lock_holder(world["dir"] / "data") != proc.pid:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)


@when("a second bot starts on the same data folder")
def second_bot(world, capsys):
    import main

    status = main.main(_bot_args(world) + ["--max-candles", "1"])
    world["second"] = (status, capsys.readouterr().err)


@then("the second bot exits 2 with one line naming the first bot's PID")
def second_refused(world):
    status, stderr = world["second"]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2, stderr
    assert len(lines) == 1 and f"PID {world['first'].pid}" in lines[0], lines


@then("the first bot stops cleanly with its candle file holding every candle once")
def first_clean(world):
    proc = world["first"]
    candles = world["dir"] / "data" / "historical_data.csv"
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


@when("the bot has bought and sold, and the exchange then restarts with its order ids from 1")
def ids_restart(world):
    harness, bot = world["harness"], world["bot"]
    _round_trip(harness, bot)
    world["before"] = list(harness.server.fills)
    state = harness.server.export_state()
    # What a standalone emulator restarted without its state file serves: no orders, no
    # trades, ids from 1 (the balances are kept so the bot's position check stays calm).
    state.update(orders=[], trades=[], fills=[], next_order_id=1, next_trade_id=1)
    harness.server.import_state(state)


@when("the bot buys and sells again, on order ids it has journaled before")
def trades_after_restart(world):
    harness = world["harness"]
    _round_trip(harness, world["bot"])
    old_ids = {f.order_id for f in world["before"]}
    assert {f.order_id for f in harness.server.fills} & old_ids


@then("every fill from before and after the restart is in the trades journal once")
def all_fills_once(world):
    harness = world["harness"]
    rows = load_rows(harness.settings.trades_csv)
    journaled = [(r["client_order_id"], r["order_id"]) for r in rows if r["order_id"]]
    made = [(f.client_order_id, f.order_id) for f in world["before"] + harness.server.fills]
    assert sorted(journaled) == sorted(made)


@then("the journal refused no row")
def none_refused(world):
    assert "journal refused" not in world["harness"].log_text()


# -- stall longer than the window ------------------------------------------------------------


@when(parsers.parse("the bot is frozen for {candles:d} candles, longer than its {window:d}-candle"
                    " window"))
def frozen(world, candles, window):
    harness, bot = world["harness"], world["bot"]
    assert harness.settings.history_candles == window
    # A frozen process: the exchange's time runs on, the bot runs no cycle meanwhile.
    harness.clock.advance((candles - 1) * 60)  # the next close is the last of them
    world["results"] = advance(bot, 1)


@then(parsers.parse("its next cycle back-fills the {count:d} candles the window no longer holds"
                    " and logs it"))
def backfilled(world, count):
    text = world["harness"].log_text()
    assert f"Back-filled {count} closed candles" in text, text[-2000:]


@then(parsers.parse("the log says {count:d} candles closed since the last cycle"))
def closed_count(world, count):
    assert world["results"][0].new_candles == count
    assert f"{count} candles closed since the last cycle" in world["harness"].log_text()


@then("the candle file holds every candle once, with no gap")
def no_gap(world):
    settings = world["harness"].settings
    assert candle_problems(settings.candles_csv) == []
    assert "has no candles" not in world["harness"].log_text()


# -- files the bot refuses at start ------------------------------------------------------------

YEAR_2100_MS = 4_102_444_800_000


def _state_doc(**position) -> dict:
    doc = {"version": 1, "last_candle_ms": None, "order_seq": 1, "symbol": "BTC/USDT",
           "extra": {}, "pending": None,
           "position": {"quantity": 0.001, "entry_price": 23000.0, "entry_time_ms": 0,
                        "entry_order_id": "1", "entry_client_order_id": "pb-1b-x"}}
    doc["position"].update(position)
    return doc


def _folders(world, docs: dict) -> None:
    world["folders"] = {}
    for name, (state, candles) in docs.items():
        data = world["dir"] / name
        data.mkdir()
        if state is not None:
            # json.dumps writes NaN and Infinity as a careless tool or hand edit would.
            (data / "state.json").write_text(json.dumps(state))
        if candles is not None:
            (data / "historical_data.csv").write_text(
                "timestamp,open,high,low,close,volume\n" + candles)
        world["folders"][name] = data
    world["before"] = {name: sorted((p.name, p.read_bytes()) for p in data.iterdir())
                       for name, data in world["folders"].items()}


@given("a data folder whose state says the last candle was in 2100, and one whose candle file"
       " ends in 2100")
def future_folders(world):
    state = _state_doc()
    state.update(position=None, last_candle_ms=YEAR_2100_MS)
    _folders(world, {"state": (state, None),
                     "candles": (None, f"{YEAR_2100_MS},100,101,99,100,5\n")})


@given("a data folder whose built-in exchange a fast run saved 3 hours ahead of real time")
def saved_ahead_folder(world):
    from bot.wiring import start_local_exchange
    from config.settings import load_settings

    data = world["dir"] / "ahead"
    settings = load_settings({"DATA_DIR": str(data), "LOGS_DIR": str(world["dir"] / "l")},
                             env_file=world["dir"] / "absent.env")
    ahead_ms = int(time.time() * 1000) + 3 * 3_600_000
    start_local_exchange(settings, speed=float("inf"), seed=1, start_ms=ahead_ms).server.stop()
    world["folders"] = {"ahead": data}
    world["saved_exchange"] = (data / "local_exchange.json").read_bytes()
    # The shared "no file changed" check leaves the exchange file out; the Then checks it.
    world["before"] = {"ahead": sorted((p.name, p.read_bytes()) for p in data.iterdir()
                                       if p.name != "local_exchange.json")}


@then("each stops with exit 2 and one line saying it is 3h ahead, with the two ways on")
def ahead_refused(world):
    line = _one_line(world["runs"]["ahead"])
    assert "local_exchange.json" in line and "3h ahead" in line and "in the future" in line
    assert "--speed max" in line and "--data-dir" in line, line
    saved = world["folders"]["ahead"] / "local_exchange.json"
    assert saved.read_bytes() == world["saved_exchange"]


@given("data folders whose state holds a NaN quantity, an infinite entry price and a negative"
       " entry price")
def bad_state_folders(world):
    _folders(world, {"nan": (_state_doc(quantity=float("nan")), None),
                     "inf": (_state_doc(entry_price=float("inf")), None),
                     "neg": (_state_doc(entry_price=-23000.0), None)})


@when("the bot starts on each folder")
def start_on_each(world, capsys):
    import main

    world["runs"] = {}
    for name, data in world["folders"].items():
        status = main.main(["--exchange", "local", "--data-dir", str(data), "--logs-dir",
                            str(world["dir"] / "logs" / name), "--max-candles", "1", "--quiet"])
        world["runs"][name] = (status, capsys.readouterr().err)


def _one_line(run) -> str:
    status, stderr = run
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, (status, stderr)
    return lines[0]


@then("each stops with exit 2 and one line naming the file, the year 2100 and the fix")
def future_refused(world):
    for name, result in world["runs"].items():
        line = _one_line(result)
        expected = "state.json" if name == "state" else "historical_data.csv"
        assert expected in line and "2100-01-01" in line and "Move it away" in line, line


@then("no file in those folders was changed")
def unchanged(world):
    for name, data in world["folders"].items():
        made = (".paperbot.lock", ".paperbot.reserve", "local_exchange.json",
                "historical_trades.csv")
        files = sorted((p.name, p.read_bytes()) for p in data.iterdir() if p.name not in made)
        assert files == world["before"][name], name


@then("each stops with exit 2 and one line naming the bad value")
def bad_value_refused(world):
    expected = {"nan": "'position.quantity' is nan", "inf": "'position.entry_price' is inf",
                "neg": "'position.entry_price' is -23000.0"}
    for name, result in world["runs"].items():
        assert expected[name] in _one_line(result)


@then("each state file was kept aside as state.json.corrupt-<stamp>")
def kept_aside(world):
    for data in world["folders"].values():
        assert not (data / "state.json").exists()
        assert len(list(data.glob("state.json.corrupt-*"))) == 1


# -- failures that cannot heal ---------------------------------------------------------------


@when(parsers.parse("its candle file is replaced by a folder, with {left:d} candles still to go"))
def candle_folder(world, left):
    bot, csv = world["bot"], world["harness"].settings.candles_csv
    bot.max_candles = bot.candles_processed + left
    csv.unlink()
    csv.mkdir()
    world["status"] = bot.run()


@then(parsers.parse("the bot stops with exit 1 after {count:d} identical failed cycles, naming"
                    " the cause in one line"))
def stopped_exit_1(world, count):
    bot = world["bot"]
    assert world["status"] == 1 and bot.cycles_skipped == count
    assert "IsADirectoryError" in bot.stop_reason and "\n" not in bot.stop_reason
    assert bot.stop_reason in world["harness"].log_text()


@then("errors.log holds that traceback once and counts the repeats")
def counted(world):
    world["harness"].close()
    world.pop("harness")
    text = (world["dir"] / "logs" / "errors.log").read_text()
    assert text.count("Traceback") == 1 and "... repeated 4 times" in text


@when(parsers.parse("the exchange refuses the bot's candle interval, with {left:d} candles still"
                    " to go"))
def interval_refused(world, left):
    bot = world["bot"]
    bot.max_candles = bot.candles_processed + left
    bot.client.timeframe = "7m"  # an interval the exchange does not serve
    world["status"] = bot.run()


@then("the bot stops with exit 2 after one cycle, saying to check TIMEFRAME")
def stopped_exit_2(world):
    bot = world["bot"]
    assert world["status"] == 2 and bot.cycles_skipped == 1
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


@given("a trades journal whose disk fills up in the middle of the next row (a file-size limit)")
def fsize_journal(world):
    import resource  # noqa: F401 - POSIX only: the scenario needs RLIMIT_FSIZE

    world["journal"] = world["dir"] / "historical_trades.csv"


@when("a sell fill is journaled and the write fails, and is journaled again once there is room")
def fsize_write(world):
    from tests.conftest import PROJECT_DIR

    done = subprocess.run([sys.executable, "-c", FSIZE_CHILD, str(world["journal"]),
                           str(PROJECT_DIR)], capture_output=True, text=True, timeout=60,
                          check=False, cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr
    world["outcome"] = json.loads(done.stdout)


@then("the failed write left the journal byte for byte as it was")
def fsize_unchanged(world):
    import errno

    assert world["outcome"]["failed"] == errno.EFBIG
    assert world["outcome"]["unchanged"] is True


@then("after the retry the journal holds both fills as whole rows, with no merged line")
def fsize_whole(world):
    outcome = world["outcome"]
    assert outcome["retried"] is True and outcome["ids"] == ["11", "12"]
    assert len(outcome["lines"]) == 3


@given("a long position on a small disk of its own that holds the disk reserve")
def small_disk(world):
    from tests.test_disk_full import _private_tmpfs_works

    if not _private_tmpfs_works():
        pytest.skip("no private tmpfs (unshare) on this machine")


@when("the disk fills up completely and the price falls through the stop-loss")
def fill_the_disk(world):
    from tests.conftest import PROJECT_DIR
    from tests.test_disk_full import PROTECT

    folder = world["dir"] / "disk"
    folder.mkdir()
    script = (f"mount -t tmpfs -o size=512k tmpfs {folder} && exec {sys.executable} -c"
              f" \"$0\" {folder} {PROJECT_DIR}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script, PROTECT], capture_output=True,
                          text=True, timeout=60, check=False, cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr
    world["out"] = done.stdout


@then("the position is sold and journaled, using the space the reserve freed")
def sold_on_full_disk(world):
    out = world["out"]
    assert "stop: sold: stop_loss" in out and "rows: ['buy/', 'sell/stop_loss']" in out
    assert "flat: True reserve: False" in out


@then("no new position is opened until there is room for the reserve again")
def no_buy_while_full(world):
    out = world["out"]
    assert "buy while full: skipped: BUY skipped: no room" in out
    assert "buy after room: bought True" in out
