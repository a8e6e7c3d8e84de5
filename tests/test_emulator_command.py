"""``python main.py emulator``: the standalone emulator as a user runs it."""

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from commands import emulator as command
from core.clock import AcceleratedClock, RealClock
from emulator.market import GeneratedMarket, ReplayMarket
from exchange.ccxt_emulator import make_ccxt_for_emulator
from tests.conftest import PROJECT_DIR

T0 = 1_700_000_040_000


def parse(*argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def stdout_lines(proc) -> queue.Queue:
    """A queue fed with ``proc``'s stdout lines by a daemon thread (never blocks the test)."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    return lines


def read_until(lines, proc, pattern, timeout=20.0):
    """Lines from the queue up to the first matching ``pattern`` (fails after ``timeout``)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if proc.poll() is not None and lines.empty():
                break
            continue
        seen.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no line matching {pattern!r} in {seen} (exit code {proc.poll()})")


def candle_csv(path, n=300):
    closes = 100 + np.cumsum(np.cos(np.arange(n) / 5.0))
    opens = np.concatenate([[closes[0]], closes[:-1]])
    pd.DataFrame({
        "timestamp": T0 + 60_000 * np.arange(n, dtype="int64"), "open": opens,
        "high": np.maximum(opens, closes) + 0.5, "low": np.minimum(opens, closes) - 0.5,
        "close": closes, "volume": np.ones(n),
    }).to_csv(path, index=False)
    return path


def test_parse_balances_reads_asset_amount_pairs():
    """
    Given --balance values, none, and malformed ones
    When they are parsed
    Then pairs become a dict with upper-case assets, none gives None, bad ones a ValueError
    """
    assert command.parse_balances(["usdt=500", "BTC=0.1"]) == {"USDT": 500.0, "BTC": 0.1}
    assert command.parse_balances([]) is None
    for bad in ("USDT", "=5", "BTC=-1", "BTC=lots"):
        with pytest.raises(ValueError, match="ASSET=AMOUNT"):
            command.parse_balances([bad])


def test_build_server_picks_market_clock_and_credentials(tmp_path):
    """
    Given flags for a seeded market, a replay with speed 60, and keys from the environment
    When the server is built (not started)
    Then the market, clock and credentials are the ones asked for
    """
    seeded = command.build_server(parse("--seed", "4", "--port", "0"), env={})
    assert isinstance(seeded.market, GeneratedMarket) and seeded.market.seed == 4
    assert isinstance(seeded.clock, RealClock) and seeded.api_key == "emulator-api-key"
    replay = command.build_server(
        parse("--replay", str(candle_csv(tmp_path / "c.csv")), "--speed", "60",
              "--balance", "USDT=50"),
        env={"EMULATOR_API_KEY": "k2", "EMULATOR_API_SECRET": "s2"},
    )
    assert isinstance(replay.market, ReplayMarket) and isinstance(replay.clock, AcceleratedClock)
    assert replay.clock.speed == 60
    assert abs(replay.clock.now_ms() - (T0 + 200 * 60_000)) < 60_000
    assert (replay.api_key, replay.api_secret) == ("k2", "s2")
    assert replay.balances()["USDT"] == 50
    flags = parse("--api-key", "k3", "--api-secret", "s3", "--speed", "10")
    fast = command.build_server(flags, env={"EMULATOR_API_KEY": "k2"})
    assert fast.api_key == "k3" and isinstance(fast.clock, AcceleratedClock)
    with pytest.raises(ValueError, match="--speed"):
        command.build_server(parse("--speed", "0"), env={})


def test_run_refuses_bad_arguments_with_a_one_line_error(tmp_path, capsys):
    """
    Given a missing replay file, and a non-loopback host
    When the command runs
    Then it returns 2 and prints one line saying what is wrong
    """
    assert command.run(parse("--replay", str(tmp_path / "none.csv"), "--port", "0")) == 2
    assert "no such candle file" in capsys.readouterr().err
    assert command.run(parse("--host", "0.0.0.0", "--port", "0")) == 2
    err = capsys.readouterr().err.strip()
    assert "loopback" in err and "\n" not in err


def test_standalone_emulator_serves_ccxt_and_stops_on_sigterm():
    """
    Given 'python main.py emulator --port 0 --seed 3 --speed 60' started as a process
    When its printed URL and key are used by ccxt (following its clock via /emulator/clock)
    to load markets, fetch candles and buy, and then it gets SIGTERM
    Then ccxt gets 1m candles whose last is the open one, the order fills, and the process
    exits 0
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    proc = subprocess.Popen(
        [sys.executable, "main.py", "emulator", "--port", "0", "--seed", "3", "--speed", "60"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    out = stdout_lines(proc)
    try:
        lines = read_until(out, proc, r"^api secret: ")
        url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[0]).group(1)
        key = lines[1].split(": ", 1)[1]
        secret = lines[2].split(": ", 1)[1]
        with urllib.request.urlopen(url + "/emulator/clock", timeout=5) as answer:
            info = json.loads(answer.read())
        assert info["speed"] == 60
        clock = AcceleratedClock(info["speed"], start_ms=info["serverTime"])
        exchange = make_ccxt_for_emulator(url, key, secret, clock=clock)
        exchange.load_markets()
        bars = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        assert len(bars) == 5 and bars[-1][0] == clock.now_ms() // 60_000 * 60_000
        order = exchange.create_market_buy_order("BTC/USDT", 0.001)
        assert order["status"] == "closed" and order["fee"]["currency"] == "BTC"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
    assert read_until(out, proc, "emulator stopped", timeout=5)
