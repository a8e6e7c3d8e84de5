"""Bad input, end to end: settings, flags, damaged files at start, malformed candle replies.

Settings, flags and files are proved through ``python main.py`` in a child process (a
throw-away project copy with its own ``.env``, no network beyond loopback); candle replies
through the whole in-process bot on the emulator, with the real ccxt instance's OHLCV replies
damaged on the way in (nothing else is replaced).
"""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from bot.wiring import build_bot, build_positions, start_local_exchange
from config.settings import load_settings
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET
from exchange.client import ExchangeClient
from exchange.factory import make_exchange
from exchange.retry import RetryPolicy
from storage.candles import read_candles
from storage.logs import setup_logging, teardown_logging
from tests.bot_harness import HARNESS_START_MS
from tests.main_subprocess import error_lines, project_copy, run_main, run_many

RUN = ("--exchange", "local", "--speed", "max", "--max-candles", "3")
GOOD_ROW = "1704067200000,42000.0,42100.0,41900.0,42050.0,12.5\n"
HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture
def project(tmp_path):
    return project_copy(tmp_path)


def dirs(tmp_path):
    return ["--data-dir", str(tmp_path / "data"), "--logs-dir", str(tmp_path / "logs")]


def candle_rows(n: int, start_ms: int = 1_704_067_200_000) -> str:
    return "".join(
        f"{start_ms + i * 60_000},{100 + i},{102 + i},{99 + i},{101 + i},5.0\n" for i in range(n)
    )


# --- settings ------------------------------------------------------------------------------

KEYS = {"BINANCE_TESTNET_API_KEY": "k" * 16, "BINANCE_TESTNET_API_SECRET": "s" * 16}
SETTINGS = {  # case -> (environment, .env text or None, fragment of the one error line)
    "STOP_LOSS_PERCENT": ({"STOP_LOSS_PERCENT": "2"}, None,
                          "STOP_LOSS_PERCENT=2.0 is out of range; accepted: 0 <"),
    "SMA_SHORT-word": ({"SMA_SHORT": "abc"}, None, "SMA_SHORT='abc' is not a whole number"),
    "TIMEFRAME": ({"TIMEFRAME": "7m"}, None, "TIMEFRAME='7m' is out of range; accepted: 1m, 3m"),
    "SMA_SHORT-above-long": ({"SMA_SHORT": "60"}, None, "SMA_SHORT=60 must be below SMA_LONG=50"),
    "EXCHANGE-mainnet": ({"EXCHANGE": "mainnet"}, None,
                         "EXCHANGE='mainnet' is out of range; accepted: auto, local"),
    "EXCHANGE-testnet-no-keys": ({"EXCHANGE": "testnet"}, None,
                                 "EXCHANGE=testnet needs BINANCE_TESTNET_API_KEY"),
    "env-not-key-value": ({}, "# my keys\nSTOP_LOSS_PERCENT 0.02\n",
                          ".env line 2 is not KEY=VALUE"),
    "env-not-a-number": ({}, "PRICE_POLL_SECONDS=fast\n",
                         "PRICE_POLL_SECONDS='fast' is not a number"),
}
COMBINATIONS = {  # case -> (flags, environment, fragment of the error line)
    "testnet-speed": (["--exchange", "testnet", "--speed", "5"], KEYS,
                      "--speed works only with the local exchange (--exchange local)"),
    "testnet-replay": (["--exchange", "testnet", "--replay", "x.csv"], KEYS,
                       "--replay works only with the local exchange"),
    "url-speed": (["--exchange-url", "http://127.0.0.1:9", "--speed", "10"], {},
                  "--speed and --replay belong to the standalone emulator"),
    "missing-replay": (["--replay", "no-such.csv"], {}, "no-such.csv: no such candle file"),
}


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Every settings and flag-combination case, run in parallel once: case -> (run, folder)."""
    root = tmp_path_factory.mktemp("quick")
    shared = project_copy(root / "shared")
    jobs, folders = {}, {}
    for case, (env, env_file, _) in SETTINGS.items():
        project = shared
        if env_file is not None:
            project = project_copy(root / case)
            (project / ".env").write_text(env_file, encoding="utf-8")
        folders[case] = root / "out" / case
        args = ["--speed", "max", "--max-candles", "3", *dirs(folders[case])]
        jobs[case] = (project, args, env)
    for case, (flags, env, _) in COMBINATIONS.items():
        folders[case] = root / "out" / case
        jobs[case] = (shared, [*flags, "--max-candles", "1", "--quiet", *dirs(folders[case])],
                      env)
    done = run_many(jobs)
    return {case: (done[case], folders[case]) for case in jobs}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_bad_setting_stops_the_bot_with_one_line_and_exit_2(quick_runs, case):
    """
    Given a setting with a bad value in the environment, or a .env file in the project folder
     with a malformed line or a bad value
    When python main.py starts
    Then it exits with status 2 before writing anything, and stderr is one line naming the
     setting (or the .env line), the bad value and what is accepted
    """
    done, folder = quick_runs[case]
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("main.py: error: ")
    assert SETTINGS[case][2] in lines[0]
    assert not (folder / "data").exists() and not (folder / "logs").exists()


# --- command-line flags --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-candles", "0"], "argument --max-candles: must be at least 1, got 0"),
        (["--max-candles", "ten"], "argument --max-candles: 'ten' is not a whole number"),
        (["--speed", "-1"], "argument --speed: must be > 0 (or 'max'), got -1"),
        (["--speed", "abc"], "argument --speed: 'abc' is not a number or 'max'"),
        (["--exchange", "mainnet"], "argument --exchange: invalid choice: 'mainnet'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ],
    ids=["max-candles-0", "max-candles-word", "speed-negative", "speed-word", "mainnet",
         "unknown-flag", "seed-word"],
)
def test_out_of_range_flag_exits_2_with_usage_and_error(project, tmp_path, args, fragment):
    """
    Given a command-line flag that is out of range, malformed or unknown
    When python main.py parses it
    Then it exits with status 2, prints the usage and one error line naming the flag,
     and writes nothing
    """
    done = run_main(project, *args, *dirs(tmp_path))
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert lines[0].startswith("usage: main.py")
    assert lines[-1].startswith("main.py: error: ") and fragment in lines[-1]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("case", list(COMBINATIONS))
def test_flag_combinations_argparse_cannot_see_exit_2_with_one_line(quick_runs, case):
    """
    Given flags that are each valid but do not go together, or a replay file that is absent
    When python main.py starts
    Then it exits with status 2 and the error line says which flag to change; nothing is traded
    """
    done, folder = quick_runs[case]
    assert done.returncode == 2
    [line] = [ln for ln in error_lines(done.stderr) if ln.startswith("main.py: error: ")]
    assert COMBINATIONS[case][2] in line
    assert not (folder / "data" / "historical_trades.csv").exists()


# --- damaged files at start ----------------------------------------------------------------

CANDLES_DAMAGED = HEADER + candle_rows(2) + "1704067320000,102,1O4,101,103,5.0\n" + GOOD_ROW
# Recent candles: the bot back-fills every candle since the file's last row, and a 2024 file
# would make this start page in two years of minutes first.
TORN_START_MS = (int(time.time() * 1000) // 60_000 - 30) * 60_000
CANDLES_TORN = HEADER + candle_rows(3, TORN_START_MS) + f"{TORN_START_MS + 3 * 60_000},10"
STATE_TRUNCATED = '{"version": 1, "symbol": "BTC/US'
JOURNAL_JUNK = b'garbage,"unterminated\nmore junk\n'
REPLAY_BAD = HEADER + candle_rows(2) + "1704067320000,102,90,101,103,5\n"
FILES = {  # case -> (file under data/ or the replay file, its bytes, extra flags)
    "candle-damaged": ("historical_data.csv", CANDLES_DAMAGED.encode(), []),
    "candle-torn": ("historical_data.csv", CANDLES_TORN.encode(), ["--quiet"]),
    "state-truncated": ("state.json", STATE_TRUNCATED.encode(), ["--quiet"]),
    "state-empty": ("state.json", b"", ["--quiet"]),
    "journal-junk": ("historical_trades.csv", JOURNAL_JUNK, ["--quiet"]),
    "replay-bad": ("../replay.csv", REPLAY_BAD.encode(), ["--quiet", "--replay", "{replay}"]),
}


@pytest.fixture(scope="module")
def file_runs(tmp_path_factory):
    """Each damaged-file case started once, in parallel: case -> (run, its folder)."""
    root = tmp_path_factory.mktemp("files")
    project = project_copy(root / "shared")
    jobs, folders = {}, {}
    for case, (name, content, flags) in FILES.items():
        folder = root / case
        (folder / "data").mkdir(parents=True)
        (folder / "data" / name).write_bytes(content)
        flags = [f.format(replay=folder / "replay.csv") for f in flags]
        jobs[case] = (project, [*RUN, *flags, *dirs(folder)], {})
        folders[case] = folder
    done = run_many(jobs)
    return {case: (done[case], folders[case], project) for case in jobs}


def test_corrupted_candle_file_is_kept_aside_and_a_fresh_one_started(file_runs):
    """
    Given data/historical_data.csv with a corrupted row in the middle
    When python main.py starts
    Then the file is renamed historical_data.csv.corrupt-<stamp> with its bytes unchanged,
     a one-line warning names it on stderr and in trading.log, and the run fills a fresh,
     valid candle file
    """
    done, folder, _ = file_runs["candle-damaged"]
    data = folder / "data"
    assert done.returncode == 0, done.stderr
    [aside] = data.glob("historical_data.csv.corrupt-*")
    assert aside.read_text(encoding="utf-8") == CANDLES_DAMAGED
    warning = [ln for ln in error_lines(done.stderr) if "is damaged" in ln]
    assert len(warning) == 1 and aside.name in warning[0]
    assert "line 4: high '1O4' is not a number" in warning[0]
    assert aside.name in (folder / "logs" / "trading.log").read_text()
    fresh = read_candles(data / "historical_data.csv")
    assert len(fresh) >= 200 and fresh["timestamp"].is_unique


def test_truncated_last_candle_line_is_repaired_not_moved(file_runs):
    """
    Given data/historical_data.csv whose last line was cut mid-write by a killed process
    When python main.py starts
    Then only the partial line is dropped, no copy is made, and the earlier rows are kept
    """
    done, folder, _ = file_runs["candle-torn"]
    assert done.returncode == 0, done.stderr
    assert not list((folder / "data").glob("*.corrupt-*"))
    candles = read_candles(folder / "data" / "historical_data.csv")
    assert candles["timestamp"].iloc[:3].tolist() == [TORN_START_MS + i * 60_000
                                                      for i in range(3)]
    assert "cut a partial last line" in (folder / "logs" / "trading.log").read_text()


@pytest.mark.parametrize(
    ("case", "reason"),
    [("state-truncated", "Unterminated string"), ("state-empty", "the file is empty")],
)
def test_damaged_state_file_is_kept_aside_and_the_bot_stops_with_advice(file_runs, case, reason):
    """
    Given a truncated or empty data/state.json
    When python main.py starts
    Then it exits with status 2 and one line naming the reason, the kept copy and what to
     check, and the copy holds the original bytes
    """
    done, folder, _ = file_runs[case]
    assert done.returncode == 2
    [line] = [ln for ln in error_lines(done.stderr) if ln.startswith("main.py: error:")]
    [aside] = (folder / "data").glob("state.json.corrupt-*")
    assert reason in line and aside.name in line and "trades journal" in line
    assert aside.read_bytes() == FILES[case][1]


def test_start_after_a_damaged_state_file_runs_flat(file_runs):
    """
    Given the bot refused to start on a truncated state.json and kept it aside
    When python main.py starts again on the same folders
    Then it runs, starting flat, and the kept copy is still there
    """
    _, folder, project = file_runs["state-truncated"]
    again = run_main(project, *RUN, "--quiet", *dirs(folder))
    assert again.returncode == 0, again.stderr
    assert "Reconcile: flat, nothing pending" in (folder / "logs" / "trading.log").read_text()
    assert len(list((folder / "data").glob("state.json.corrupt-*"))) == 1


def test_damaged_trades_journal_stops_the_bot_and_is_left_untouched(file_runs):
    """
    Given data/historical_trades.csv whose header was overwritten with junk
    When python main.py starts
    Then it exits with status 2 and one line naming the file, and the file keeps its bytes
    """
    done, folder, _ = file_runs["journal-junk"]
    journal = folder / "data" / "historical_trades.csv"
    assert done.returncode == 2
    [line] = [ln for ln in error_lines(done.stderr) if ln.startswith("main.py: error:")]
    assert str(journal) in line and "unexpected header" in line
    assert journal.read_bytes() == JOURNAL_JUNK


def test_corrupted_replay_file_is_refused_naming_the_line(file_runs):
    """
    Given a candle CSV to replay whose fourth line has high below low
    When python main.py --replay starts
    Then it exits with status 2 and one error line naming the file line and the fix
    """
    done, _, _ = file_runs["replay-bad"]
    assert done.returncode == 2
    [line] = [ln for ln in error_lines(done.stderr) if ln.startswith("main.py: error:")]
    assert "line 4: high is below low; fix or remove that row" in line


# --- malformed candle replies --------------------------------------------------------------

class DamagingExchange:
    """The real ccxt binance instance, except that armed OHLCV replies are damaged once each.

    Everything else (time, markets, tickers, orders, signing) goes to the real instance.
    """

    def __init__(self, real) -> None:
        self._real = real
        self.damage: list = []

    def __getattr__(self, name):
        return getattr(self._real, name)

    def fetch_ohlcv(self, *args, **kwargs):
        rows = self._real.fetch_ohlcv(*args, **kwargs)
        if self.damage:
            rows = self.damage.pop(0)([list(r) for r in rows])
        return rows


def _set(index, field, value):
    def damage(rows):
        rows[index][field] = value
        return rows
    return damage


def _replace(index, value):
    def damage(rows):
        rows[index] = value
        return rows
    return damage


def _swap(rows):
    rows[-2], rows[-3] = rows[-3], rows[-2]
    return rows


DAMAGES = {
    # rows[-1] is the still-open candle; rows[-2] the candle that just closed.
    "reply-none": (lambda rows: None, "sent no candle list (None)"),
    "row-none": (_replace(-2, None), "the candle is missing (None)"),
    "close-nan": (_set(-2, 4, math.nan), "a price or the volume is missing (NaN)"),
    "close-none": (_set(-2, 4, None), "close is missing (None)"),
    "high-text": (_set(-2, 2, "n/a"), "high 'n/a' is not a number"),
    "missing-fields": (lambda rows: rows[:-2] + [rows[-2][:4]] + rows[-1:], "has 4 field(s)"),
    "out-of-order": (_swap, "timestamp is not after the previous row's"),
    "duplicate-row": (lambda rows: rows[:-1] + [rows[-2], rows[-1]],
                      "timestamp is not after the previous row's"),
    "negative-volume": (_set(-2, 5, -3.0), "volume is negative"),
}


@pytest.fixture
def bot_on_damaging_exchange(tmp_path):
    settings = load_settings({"DATA_DIR": str(tmp_path / "data"),
                              "LOGS_DIR": str(tmp_path / "logs"), "STRATEGY": "ma2line",
                              "RETRY_BASE_DELAY": "1"}, env_file=tmp_path / "absent.env")
    local = start_local_exchange(settings, speed=float("inf"), seed=3, persist=False,
                                 start_ms=HARNESS_START_MS)
    setup_logging(settings.logs_dir, console=False, clock=local.clock)
    real = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                         base_url=local.server.base_url, clock=local.clock)
    exchange = DamagingExchange(real)
    client = ExchangeClient(exchange, settings.symbol, settings.timeframe, clock=local.clock,
                            policy=RetryPolicy(attempts=3, base_delay=1.0))
    client.load_markets()
    positions = build_positions(settings, client=client, clock=local.clock,
                                exchange_name="local")
    bot = build_bot(settings, client=client, positions=positions, clock=local.clock,
                    max_candles=None)
    bot.positions.reconcile()
    yield bot, exchange, local.server, settings
    teardown_logging()
    local.server.stop()


def _cycle(bot):
    bot.wait_for_close()
    return bot.run_cycle()


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_malformed_candle_reply_skips_the_cycle_and_the_next_one_catches_up(
        bot_on_damaging_exchange, kind):
    """
    Given the bot running on the emulator through the real ccxt client
    When one candle reply holds a None row, a NaN or None price, a non-numeric or missing
     field, out-of-order or duplicate rows, or a negative volume
    Then that cycle is skipped with a warning naming the problem, nothing is stored, signalled
     or traded for it, and the next cycle stores the missed candle with no gap or duplicate
    """
    bot, exchange, server, settings = bot_on_damaging_exchange
    for _ in range(3):
        assert not _cycle(bot).skipped
    stored = read_candles(settings.candles_csv)
    done_ms, fills = bot.positions.last_candle_ms, len(server.fills)
    damage, reason = DAMAGES[kind]
    exchange.damage.append(damage)
    result = _cycle(bot)
    assert result.skipped and reason in result.reason
    assert read_candles(settings.candles_csv).equals(stored)
    assert bot.positions.last_candle_ms == done_ms and len(server.fills) == fills
    log = (settings.logs_dir / "trading.log").read_text()
    assert "Cycle skipped: bad candle data from the exchange: " in log and reason in log
    after = _cycle(bot)
    assert not after.skipped and after.new_candles == 2
    candles = read_candles(settings.candles_csv)
    assert len(candles) == len(stored) + 2
    assert pd.Series(candles["timestamp"]).diff().dropna().eq(60_000).all()
    assert bot.cycles_skipped == 1
