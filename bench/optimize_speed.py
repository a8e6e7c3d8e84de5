"""Benchmark: ``python main.py optimize`` on the 90-combination SMA grid, whole process.

Usage: ``python bench/optimize_speed.py [--candles 100000 1000000] [--runs 3] [--workers 1 2]``

The grid is the one peers were measured on (docs/readme/optimize.md): ma2line, MA_FAST 5..50
step 5 x MA_SLOW 20..200 step 20 (fast < slow: 90 combinations), SL 2 %, TP 4 %, 0.1 % fees,
next-open fills. The candles are the real BTC/USDT 1-minute rows of
``../shared/data/btcusdt_1m_freqtrade-filimonov.csv`` (130,708 rows) tiled to the size asked,
with continuous timestamps ("real-like"). Each run is a fresh process with a fresh ``--out``;
the first run of a file also parses the CSV and writes its columnar copy (reported apart as
"cold"), the others read the copy. CPU is user + system time of the process tree. Memory is
the peak over the run of the summed PSS (proportional set size, so pages the forked workers
share with the parent count once) of the process and all its children, sampled every 20 ms.
Combos/s is the sweep's own rate, from the command's last progress line. Also timed: a
repeated ``backtest`` of the largest file (cache warm). Targets on 2 cores: 1 M candles under
4 s and 1 GiB, 100 k under 1 s, a repeated 1 M backtest under 0.6 s. Other processes on the
machine slow every figure; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

PROJECT = Path(__file__).resolve().parents[1]
REAL = PROJECT.parent / "shared" / "data" / "btcusdt_1m_freqtrade-filimonov.csv"
GRID = ["--strategy", "ma2line", "--grid", "MA_FAST=5:50:5", "--grid", "MA_SLOW=20:200:20",
        "--sl", "0.02", "--tp", "0.04", "--commission", "0.001", "--qty", "0.001"]


def tiled(n: int, folder: Path, source: Path = REAL) -> Path:
    """The real 1-minute rows repeated to ``n`` rows, timestamps continuing minute by minute."""
    real = pd.read_csv(source)
    reps = -(-n // len(real))
    frame = pd.concat([real] * reps, ignore_index=True).iloc[:n].copy()
    frame["timestamp"] = int(real["timestamp"].iloc[0]) + 60_000 * np.arange(n, dtype=np.int64)
    path = folder / f"btc_1m_tiled_{n}.csv"
    frame.to_csv(path, index=False)
    return path


def tree_pss(proc: psutil.Process) -> int:
    """Summed PSS in bytes of a process and its descendants (0 for those already gone)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def timed(cmd: list[str]) -> tuple[float, float, str, float]:
    """(wall seconds, peak summed PSS in MiB, stderr, CPU seconds of the process tree)."""
    start = time.perf_counter()
    err_file = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=err_file,
                            text=True)
    watched = psutil.Process(proc.pid)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], tree_pss(watched))
            except psutil.NoSuchProcess:
                return
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4's usage covers the child and every descendant it waited for (the pool workers).
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err_file.seek(0)
    err = err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return elapsed, peak[0] / 2**20, err, usage.ru_utime + usage.ru_stime


def sweep_rate(stderr: str) -> float | None:
    """Combinations per second from the command's last progress line."""
    rates = re.findall(r"90/90 combos\s+100\.0 %\s+([\d,.]+)/s", stderr)
    return float(rates[-1].replace(",", "")) if rates else None


def optimize(data: Path, out: Path, workers: int) -> tuple[float, float, float | None, float]:
    """One optimize process on a fresh --out: (seconds, MiB, combos/s, CPU seconds)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(PROJECT / "main.py"), "optimize", "--data", str(data), *GRID,
           "--workers", str(workers), "--out", str(out)]
    seconds, mib, err, cpu = timed(cmd)
    return seconds, mib, sweep_rate(err), cpu


def main() -> int:
    """Time each size and worker count and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3, help="warm runs per case (median)")
    parser.add_argument("--real", type=Path, default=REAL,
                        help="the real 1-minute candle CSV to tile (default: ../shared/data/...)")
    args = parser.parse_args()
    if not args.real.is_file():
        raise SystemExit(f"{args.real} is missing: this benchmark needs ../shared/data"
                         " (or --real FILE)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average"
          f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {args.runs} warm runs per case")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.candles:
            data = tiled(n, folder, args.real)
            out = folder / "out"
            cold = optimize(data, out, max(args.workers))
            print(f"\n{n:>9,} candles: cold (CSV parsed, copy written), {max(args.workers)}"
                  f" workers: {cold[0]:.2f} s, {cold[1]:.0f} MiB")
            for workers in args.workers:
                runs = [optimize(data, out, workers) for _ in range(args.runs)]
                seconds = [r[0] for r in runs]
                rates = [r[2] for r in runs if r[2] is not None]
                rate = f"{statistics.median(rates):.1f}" if rates else "?"
                cpu = statistics.median(r[3] for r in runs)
                print(f"  {workers} worker(s): whole process median"
                      f" {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max"
                      f" {max(seconds):.2f}), CPU {cpu:.2f} s, peak PSS"
                      f" {max(r[1] for r in runs):.0f} MiB, sweep {rate} combos/s", flush=True)
            best = (out / "best.json").read_text()
            winner = re.search(r'"MA_FAST": (\d+),\s+"MA_SLOW": (\d+)', best)
            print(f"  winner MA_FAST/MA_SLOW = {winner.group(1)}/{winner.group(2)}")
        largest = folder / f"btc_1m_tiled_{max(args.candles)}.csv"
        cmd = [sys.executable, str(PROJECT / "main.py"), "backtest", "--data", str(largest),
               "--strategy", "ma2line", "--param", "MA_FAST=50", "--param", "MA_SLOW=200",
               "--out", str(folder / "bt")]
        warm = [timed(cmd) for _ in range(max(args.runs, 5))]
        print(f"\nrepeated backtest of {max(args.candles):,} candles (copy warm): median"
              f" {statistics.median(w[0] for w in warm):.2f} s (min"
              f" {min(w[0] for w in warm):.2f}), CPU {statistics.median(w[3] for w in warm):.2f}"
              f" s, peak PSS {max(w[1] for w in warm):.0f} MiB")
    print(f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
