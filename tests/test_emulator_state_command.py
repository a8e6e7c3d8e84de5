"""``python main.py emulator --state FILE``: the standalone emulator keeps accounts, orders,
ids and its clock across restarts, and refuses an absurd saved clock in one line."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from commands import emulator as command
from core.clock import AcceleratedClock
from exchange.ccxt_emulator import make_ccxt_for_emulator
from tests.conftest import PROJECT_DIR
from tests.test_emulator_command import parse, read_until, stdout_lines

FUTURE_MS = 4_102_444_800_000  # 2100-01-01


def run_once(state, buy: float):
    """Start the standalone emulator on ``state``, buy ``buy`` BTC, stop it with SIGTERM;
    return (banner lines, order, balance after)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    proc = subprocess.Popen(
        [sys.executable, "main.py", "emulator", "--port", "0", "--seed", "3", "--state",
         str(state)],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = stdout_lines(proc)
    try:
        lines = read_until(out, proc, r"^state: ")
        url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[0]).group(1)
        exchange = make_ccxt_for_emulator(url, "emulator-api-key", "emulator-api-secret")
        exchange.nonce = lambda: int(exchange.fetch_time())  # follow the emulator's clock
        exchange.load_markets()
        order = exchange.create_market_buy_order("BTC/USDT", buy)
        balance = exchange.fetch_balance()["total"]["BTC"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert proc.returncode == 0, proc.stderr.read()
    return lines, order, balance


def test_a_restart_with_state_continues_order_ids_and_balances(tmp_path):
    """
    Given the emulator command's server on --state FILE that bought 0.001 BTC and stopped
    When 'python main.py emulator --state FILE' starts on the same file and buys 0.002 BTC
    Then the banner names the file and the next order id, the second order's id follows the
    first, and the BTC balance carries both buys
    """
    state = tmp_path / "exchange.json"
    server = command.build_server(parse("--port", "0", "--seed", "3", "--state", str(state)),
                                  env={}).start()  # what 'run' serves, in this process
    try:
        exchange = make_ccxt_for_emulator(server.base_url, "emulator-api-key",
                                          "emulator-api-secret", clock=server.clock)
        exchange.load_markets()
        first = exchange.create_market_buy_order("BTC/USDT", 0.001)
        after_first = exchange.fetch_balance()["total"]["BTC"]
    finally:
        server.stop()
    assert state.exists() and json.loads(state.read_text())["next_order_id"] == 2
    lines, second, after_second = run_once(state, 0.002)
    assert f"state: {state} (next order id 2)" in lines[-1]
    assert int(second["id"]) == int(first["id"]) + 1
    assert after_second == pytest.approx(after_first + 0.002 * 0.999, abs=1e-9)


def test_a_saved_clock_ahead_of_now_is_where_time_goes_on(tmp_path):
    """
    Given a state file saved by an accelerated run whose clock reached the year 2100
    When the emulator is built on it
    Then its clock starts there (time on the exchange never runs backwards)
    """
    state = tmp_path / "exchange.json"
    server = command.build_server(parse("--seed", "3", "--port", "0"), env={})
    doc = server.export_state() | {"clock_ms": FUTURE_MS}
    state.write_text(json.dumps(doc))
    again = command.build_server(parse("--seed", "3", "--port", "0", "--state", str(state)),
                                 env={})
    assert isinstance(again.clock, AcceleratedClock)
    assert FUTURE_MS <= again.clock.now_ms() < FUTURE_MS + 60_000


def test_an_absurd_saved_clock_and_a_replay_with_state_are_refused_in_one_line(
        tmp_path, capsys):
    """
    Given a state file whose clock is 1e16 ms (the year 318857), and --state with --replay
    When the emulator command runs
    Then it exits 2 with one line each: the clock past the year 9999 (the file kept aside),
    and that a replay always starts afresh
    """
    state = tmp_path / "exchange.json"
    state.write_text(json.dumps({"clock_ms": 10**16}))
    assert command.run(parse("--port", "0", "--state", str(state))) == 2
    err = capsys.readouterr().err
    assert "past the year 9999" in err and err.count("\n") == 1
    assert list(tmp_path.glob("exchange.json.corrupt-*"))
    assert command.run(parse("--port", "0", "--state", str(state), "--replay", "x.csv")) == 2
    err = capsys.readouterr().err
    assert "replay always starts afresh" in err and err.count("\n") == 1
