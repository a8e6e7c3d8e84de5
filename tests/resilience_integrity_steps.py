"""Steps of features/resilience.feature for issue 10's scenarios (one bot per folder,
journal keyed by client order id, torn tails, back-fill, future times, bad values, stops).

Imported by tests/test_resilience_feature.py, which binds the whole feature file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from pytest_bdd import given, then, when

from storage.lock import lock_holder
from tests.main_subprocess import child_env, error_lines, project_copy, run_main
from tests.resilience_helpers import candle_problems

# -- second bot refused ---------------------------------------------------------------------


def _bot_args(world) -> list[str]:
    return ["--exchange", "local", "--speed", "60", "--data-dir", str(world["dir"] / "data"),
            "--logs-dir", str(world["dir"] / "logs"), "--quiet"]


@given("a bot process running on a data folder")
def first_bot(world):
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
        time.sleep(0.05)
    candles = world["dir"] / "data" / "historical_data.csv"
    while not candles.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)


@when("a second bot starts on the same data folder")
def second_bot(world):
    world["second"] = run_main(world["project"], *_bot_args(world), "--max-candles", "1")


@then("the second bot exits 2 with one line naming the first bot's PID")
def second_refused(world):
    result = world["second"]
    lines = error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and f"PID {world['first'].pid}" in lines[0], lines


@then("the first bot stops cleanly with its candle file holding every candle once")
def first_clean(world):
    proc = world["first"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == ""
    assert candle_problems(world["dir"] / "data" / "historical_data.csv") == []
