"""bench/operations_overhead.py: a one-candle run and the per-alert submit cost (not asserted)."""

import importlib.util
import sys

import pytest

from tests.conftest import PROJECT_DIR

spec = importlib.util.spec_from_file_location(
    "operations_bench", PROJECT_DIR / "bench" / "operations_overhead.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["operations_bench"] = bench
spec.loader.exec_module(bench)


def test_the_bench_times_a_run_and_the_submit_cost_and_prints_them(monkeypatch, capsys):
    """
    Given the operations bench
    When it starts a bot run with a bad setting, times the submit cost with a hanging target,
     and its main prints (with the runs themselves stubbed to fixed times)
    Then the failed run stops the bench with the bot's error line, a submit costs
     microseconds, and the report shows candles/s for both runs
    """
    with pytest.raises(SystemExit, match="bot run failed: .*HISTORY_CANDLES=5"):
        bench.timed_run(1, {"HISTORY_CANDLES": "5"})
    assert 0 < bench.submit_cost_us(20) < 100_000
    monkeypatch.setattr(bench, "timed_run", lambda candles, env: 2.0)
    monkeypatch.setattr(bench, "submit_cost_us", lambda: 3.0)
    assert bench.main(["--candles", "10"]) == 0
    out = capsys.readouterr().out
    assert "plain:" in out and "5.0 candles/s" in out and "3.0 us per alert" in out
