"""bench/optimize_speed.py's parts: tiling real rows, the process-tree memory, the rate."""

from __future__ import annotations

import importlib.util
import os
import sys

import pandas as pd
import psutil

from backtest.synthetic import synthetic_candles
from tests.conftest import PROJECT_DIR

spec = importlib.util.spec_from_file_location("optimize_speed",
                                              PROJECT_DIR / "bench" / "optimize_speed.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_tiling_repeats_the_rows_with_continuous_minutes(tmp_path):
    """
    Given 50 real-looking candles
    When they are tiled to 120 rows
    Then prices repeat every 50 rows and timestamps step one minute throughout
    """
    source = tmp_path / "real.csv"
    synthetic_candles(50, seed=1).to_csv(source, index=False)
    tiled = pd.read_csv(bench.tiled(120, tmp_path, source))
    assert len(tiled) == 120
    assert (tiled["close"].iloc[50:100].to_numpy() == tiled["close"].iloc[:50].to_numpy()).all()
    assert set(tiled["timestamp"].diff().dropna()) == {60_000}


def test_sweep_rate_comes_from_the_last_progress_line():
    """
    Given the optimize command's periodic progress lines
    When the rate is read
    Then it is the one on the final 90/90 line
    """
    err = ("optimize: 40/90 combos  44.4 %  20.0/s  elapsed 0:00:02  ETA 0:00:02\n"
           "optimize: 90/90 combos 100.0 %  31.5/s  elapsed 0:00:03  ETA 0:00:00\n")
    assert bench.sweep_rate(err) == 31.5
    assert bench.sweep_rate("") is None


def test_timed_reports_wall_time_and_tree_memory():
    """
    Given a child process that allocates about 60 MB and sleeps a little
    When it is timed
    Then the wall time, its CPU time and a peak PSS above 50 MiB are reported, and this
      process's PSS is positive
    """
    code = "import time; b = bytearray(60_000_000); b[::4096] = b'x' * len(b[::4096]); " \
           "time.sleep(0.3)"
    seconds, mib, err, cpu = bench.timed([sys.executable, "-c", code])
    assert seconds >= 0.3 and mib > 50 and err == "" and 0 < cpu < seconds
    assert bench.tree_pss(psutil.Process(os.getpid())) > 0
