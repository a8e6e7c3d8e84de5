"""Stopping the bot process with SIGTERM or SIGINT, as systemd, docker stop or Ctrl+C do."""

import signal
import subprocess
import sys
import time

import pytest

from storage.state import BotState, StateStore
from tests.main_subprocess import child_env, project_copy


def start_bot(tmp_path):
    """A bot process on the local exchange at 2x real time; waits until it is trading.

    The data folder starts with a saved state (a candle handled ten minutes ago), so the stop
    can be checked to leave a whole, loadable state file behind.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    seeded = (int(time.time() * 1000) // 60_000 - 10) * 60_000
    (tmp_path / "data").mkdir(exist_ok=True)
    StateStore(tmp_path / "data" / "state.json").save(
        BotState(last_candle_ms=seeded, symbol="BTC/USDT", extra={"exchange": "local"}))
    project = project_copy(tmp_path)
    logs = tmp_path / "logs"
    proc = subprocess.Popen(
        [sys.executable, "main.py", "--exchange", "local", "--speed", "2", "--quiet",
         "--data-dir", str(tmp_path / "data"), "--logs-dir", str(logs)],
        cwd=project, env=child_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 30
    log = logs / "trading.log"
    while time.monotonic() < deadline:
        if log.exists() and "Reconcile:" in log.read_text(encoding="utf-8"):
            return proc, tmp_path
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"the bot did not start: {err}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_finishes_saves_state_logs_summary_and_exits_0(tmp_path, signum):
    """
    Given a bot process trading on the local exchange at 2x real time, waiting for a close
    When it receives SIGTERM (or SIGINT)
    Then it exits 0 within a few seconds, trading.log names the signal and ends with the
     one-line summary, and the state file is whole
    """
    proc, root = start_bot(tmp_path)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signum)
    try:
        status = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    took = time.monotonic() - started
    log = (root / "logs" / "trading.log").read_text(encoding="utf-8").splitlines()
    assert status == 0, proc.stderr.read()
    assert took < 5  # a minute candle at 2x is 30 s: the wait itself must be cut short
    assert any(f"Received {signal.Signals(signum).name}" in line for line in log)
    assert "Stopped after" in log[-1]
    state_file = root / "data" / "state.json"
    assert state_file.is_file() and not list(state_file.parent.glob("state.json.corrupt-*"))
    state = StateStore(state_file).load()  # raises StateFileError on a damaged file
    # A fresh state (no file, or one reset) would have no handled candle at all.
    assert state.last_candle_ms is not None and state.pending is None
    assert (root / "logs" / "errors.log").read_text(encoding="utf-8") == ""
