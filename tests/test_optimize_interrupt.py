"""A real Ctrl+C (SIGINT) on `main.py optimize` with two worker processes, then a resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import PROJECT_DIR
from tests.optimize_support import read_results, write_candles


def test_sigint_keeps_the_finished_rows_and_the_same_command_resumes(tmp_path):
    """
    Given a 90-combination sweep running on two worker processes
    When SIGINT arrives after a few rows, and the same command is run again
    Then the first run exits 130 with one line, its rows kept and sorted; the second
      finishes with every combination exactly once
    """
    candles = write_candles(tmp_path / "c.csv", n=20_000, seed=4)
    out = tmp_path / "out"
    cmd = [sys.executable, str(PROJECT_DIR / "main.py"), "optimize", "--data", str(candles),
           "--strategy", "ma2line", "--grid", "MA_FAST=5:50:5", "--grid", "MA_SLOW=20:200:20",
           "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    results = out / "results.csv"
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) > 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [line for line in err.splitlines() if "interrupted" in line] == [err.strip()
                                                                          .splitlines()[-1]]
    kept = read_results(out)
    assert 2 <= len(kept) < 90
    profits = [r["Net Profit"] for r in kept]
    assert profits == sorted(profits, reverse=True)
    done = subprocess.run(cmd, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{90 - len(kept)} to run" in done.stdout and f"{len(kept)} done before" in done.stdout
    rows = read_results(out)
    assert len({(r["MA_FAST"], r["MA_SLOW"]) for r in rows}) == len(rows) == 90
