"""bench/soak.py: its sampling and arithmetic, and a short end-to-end run (figures not asserted)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR

SCRIPT = PROJECT_DIR / "bench" / "soak.py"
spec = importlib.util.spec_from_file_location("soak_bench", SCRIPT)
soak = importlib.util.module_from_spec(spec)
sys.modules["soak_bench"] = soak  # dataclasses look their module up while the class is made
spec.loader.exec_module(soak)

T0 = 1_704_067_200_000


def samples(*rows):
    return [soak.Sample(wall_s=i, cpu_s=cpu, rss_kb=rss, hwm_kb=rss, candles=n)
            for i, (n, cpu, rss) in enumerate(rows)]


def test_proc_readers_see_this_process_and_nothing_for_a_dead_one():
    """
    Given this test process and a process that has exited
    When their memory and CPU time are read from /proc
    Then this one has a positive RSS, a peak at least as large and some CPU time; the dead one
     gives nothing
    """
    if not os.path.exists(f"/proc/{os.getpid()}/status"):
        pytest.skip("no /proc on this system")
    status = soak.read_status(os.getpid())
    assert 0 < status["VmRSS"] <= status["VmHWM"]
    assert soak.read_cpu_seconds(os.getpid()) > 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert soak.read_status(gone.pid) == {} and soak.read_cpu_seconds(gone.pid) is None


def test_stored_candles_counts_beyond_the_first_window(tmp_path):
    """
    Given a candle file whose first 200 rows came in the first cycle, then 5 more rows
    When the candles acted on are counted
    Then the count is 6 (the first cycle acted on one), and 0 before any whole row exists
    """
    csv = tmp_path / "c.csv"
    assert soak.stored_candles(csv, []) == 0
    csv.write_text("timestamp,open,high,low,close,volume\n"
                   + "".join(f"{T0 + i * 60_000},1,1,1,1,1\n" for i in range(205)))
    first: list[int] = []
    assert soak.stored_candles(csv, first) == 6 and first == [T0]


def test_cpu_per_candle_splits_by_the_kept_candles():
    """
    Given samples at candles 0, 10, 20 and 30 using 0.1 s, then 0.5 s, then 0.1 s of CPU
    When CPU per candle is computed for all candles and for candles 11-20 excluded
    Then all gives 0.7 s / 30, the filtered one 0.2 s / 20, and an empty range gives NaN
    """
    data = samples((0, 0.0, 1), (10, 0.1, 1), (20, 0.6, 1), (30, 0.7, 1))
    per, count = soak.cpu_per_candle(data, 0, 30)
    assert count == 30 and per == pytest.approx(0.7 / 30)
    per, count = soak.cpu_per_candle(data, 0, 30, keep=lambda c: not 11 <= c <= 20)
    assert count == 20 and per == pytest.approx(0.2 / 20)
    per, count = soak.cpu_per_candle(data, 40, 50)
    assert count == 0 and math.isnan(per)
    assert soak.at_candle(data, 15).candles == 20 and soak.at_candle(data, 99).candles == 30


def test_long_candles_follow_the_journal(tmp_path):
    """
    Given a journal with a buy 2 s after candle 3 closed and a sell 2 s after candle 6 closed,
     then a buy still open at the end
    When the candles spent long are listed over 10 candles
    Then they are 4 to 7 (the waits the position overlapped) and 9 to 10
    """
    data = tmp_path / "data"
    data.mkdir()

    def stamp(n):  # 2 s after candle n closed, as the bot trades
        from datetime import UTC, datetime
        ms = T0 + (soak.HISTORY + n) * 60_000 + 2_000
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    (data / "historical_trades.csv").write_text(
        "timestamp,order_id,side,rest\n"
        f"{stamp(3)},1,buy,x\n{stamp(6)},2,sell,x\n{stamp(8)},3,buy,x\n")
    assert soak.long_candles(tmp_path, T0, 10) == {4, 5, 6, 7, 9, 10}
    assert soak.long_candles(tmp_path / "none", T0, 10) == set()


def test_file_sizes_and_journal_counts(tmp_path):
    """
    Given a run folder with a two-fill journal, a rotated log and the bot's last line
    When sizes and counts are read
    Then every file is listed with its size, and the fills and summary line are found
    """
    (tmp_path / "data").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "data" / "historical_trades.csv").write_text("h\na\nb\n")
    (tmp_path / "logs" / "trading.log.1").write_text("x - Stopped after 9 closed candles\n")
    (tmp_path / "logs" / "trading.log").write_text("")
    assert soak.file_sizes(tmp_path / "data", tmp_path / "logs") == [
        ("data/historical_trades.csv", 6), ("logs/trading.log", 0), ("logs/trading.log.1", 35)]
    assert soak.journal_counts(tmp_path) == (2, "Stopped after 9 closed candles")
    assert soak.first_candle_ms(tmp_path) is None


def test_short_soak_prints_every_figure(tmp_path):
    """
    Given the soak script, two simulated hours of candles, a heartbeat every 10 s and 10 kB
     log rotation
    When it runs
    Then it prints the command, candles processed, memory at hour 1, middle and end, CPU per
     candle first vs last hour, and the size of each file including rotated logs
    """
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--candles", "125", "--log-max-bytes", "10000",
         "--strategy", "ma2line", "--keep", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "HEARTBEAT_SECONDS": "10"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "command: python main.py --exchange local --speed max --max-candles 125" in out
    assert "candles processed: 125 of 125" in out
    for label in ("after hour 1", "middle (hour  1)", "end", "growth hour 1 -> end",
                  "first 1 h", "last 1 h", "data/historical_data.csv", "logs/trading.log"):
        assert label in out, label
    logs = sorted(p.name for p in (tmp_path / "run" / "logs").iterdir())
    assert "trading.log.1" in logs
    assert all(p.stat().st_size <= 10_000 for p in (tmp_path / "run" / "logs").iterdir())
