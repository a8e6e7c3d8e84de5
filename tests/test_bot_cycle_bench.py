"""bench/bot_cycle.py: the stage timer, and a short run that prints every figure."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import PROJECT_DIR

SCRIPT = PROJECT_DIR / "bench" / "bot_cycle.py"
spec = importlib.util.spec_from_file_location("bot_cycle_bench", SCRIPT)
bench = importlib.util.module_from_spec(spec)
sys.modules["bot_cycle_bench"] = bench
spec.loader.exec_module(bench)


def test_a_wrapped_method_is_timed_and_still_answers():
    """
    Given an object whose method returns its argument doubled, wrapped by the stage timer
    When it is called twice
    Then it still answers, and its label counts two calls and some time
    """
    class Thing:
        def double(self, x):
            return 2 * x

    thing, stages = Thing(), bench.StageTimes()
    stages.wrap(thing, "double", "doubling")
    assert thing.double(2) == 4 and thing.double(5) == 10
    assert stages.calls["doubling"] == 2
    assert stages.seconds["doubling"] > 0


def test_a_short_run_prints_the_cycle_and_each_stage(capsys):
    """
    Given the built-in exchange and the sma_rsi bot
    When the benchmark runs 8 cycles
    Then it prints how many cycles ran with wall and CPU seconds, and a per-cycle figure for
     the whole cycle, the window refresh, storing and the signal
    """
    assert bench.main(["--candles", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("8 cycles of sma_rsi: ")
    for label in ("whole cycle", "window refresh", "store the candle", "signal"):
        assert f"ms per cycle  {label}" in out


def test_a_cycle_count_below_one_is_refused_in_one_line(capsys):
    """
    Given the benchmark
    When it is asked for 0 candles
    Then it exits 2 with a line naming --candles
    """
    with pytest.raises(SystemExit) as stop:
        bench.main(["--candles", "0"])
    assert stop.value.code == 2
    assert "--candles must be at least 1" in capsys.readouterr().err
