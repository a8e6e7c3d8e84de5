"""The speed benchmark script runs end to end (its figures are printed, never asserted)."""

import subprocess
import sys

from tests.conftest import PROJECT_DIR


def test_benchmark_prints_whole_process_figures_and_phases(tmp_path):
    """
    Given the benchmark script and a small size of 2,000 candles, then a given candle file
    When it runs with one run per size
    Then it prints the median time, the peak memory and the per-phase breakdown
    """
    script = PROJECT_DIR / "bench" / "backtest_speed.py"
    done = subprocess.run([sys.executable, str(script), "--candles", "2000", "--runs", "1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2,000 candles (candles_2000.csv): whole process median" in out
    assert "peak RSS" in out and "read + validate CSV" in out and "fills (" in out
    data = tmp_path / "mine.csv"
    data.write_text("timestamp,open,high,low,close,volume\n"
                    + "".join(f"{k * 60_000},100,101,99,100,1\n" for k in range(300)))
    done = subprocess.run([sys.executable, str(script), "--data", str(data), "--runs", "1",
                           "--no-phases"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "300 candles (mine.csv)" in done.stdout
    assert "read + validate CSV" not in done.stdout
