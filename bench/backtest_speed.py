"""Benchmark: the whole ``python main.py backtest`` process on 100k and 1M 1-minute candles.

Usage: ``python bench/backtest_speed.py [--candles N ...] [--data FILE] [--runs 5]``

Each size is timed as a separate process (interpreter start, imports, CSV parsing,
indicators, signals, fills, metrics, report.json and trades.csv; no chart), the median of
``--runs`` runs is printed with the peak memory (max RSS) of those processes. A breakdown by
phase, measured in this process, shows where the time goes. Generated candles are synthetic
(``backtest.synthetic``); pass ``--data`` to time a real candle file instead.
Target on a 2-core machine: 1,000,000 candles in under 1.5 s, under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def run_once(data: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and max RSS (MB) of one backtest process."""
    cmd = [sys.executable, str(PROJECT / "main.py"), "backtest", "--data", str(data),
           "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"backtest failed ({proc.returncode}): {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def phases(data: Path) -> list[tuple[str, float]]:
    """Seconds per step of one backtest, in this process (imports measured first)."""
    steps = []
    t = time.perf_counter()
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    steps.append(("import numpy + pandas", time.perf_counter() - t))
    t = time.perf_counter()
    from backtest.data import load_candles
    from backtest.engine import FillRules, simulate
    from backtest.ledger import build_ledger, equity_curve
    from backtest.metrics import performance_summary
    from backtest.report import build_report, write_json
    from backtest.run import run_on_signal, strategy_signals
    from backtest.tradelist import write_trade_list
    from commands.backtest import strategy_params
    from config.settings import load_settings

    settings = load_settings()
    steps.append(("import project + settings", time.perf_counter() - t))
    t = time.perf_counter()
    candles = load_candles(data)
    steps.append(("read + validate CSV", time.perf_counter() - t))
    t = time.perf_counter()
    known = strategy_params(settings, settings.strategy, {})
    frame, params = strategy_signals(candles, settings.strategy, known)
    steps.append((f"indicators + signals ({settings.strategy})", time.perf_counter() - t))
    rules = FillRules(qty=settings.trade_size, commission=settings.fee_rate,
                      stop_loss=settings.stop_loss_percent,
                      take_profit=settings.take_profit_percent)
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    signal = frame["signal"].to_numpy()
    t = time.perf_counter()
    trades = simulate(*arrays, signal, rules)
    steps.append((f"fills ({len(trades):,} trades)", time.perf_counter() - t))
    t = time.perf_counter()
    ledger = build_ledger(trades, arrays[1], arrays[2], rules)
    equity = equity_curve(trades, ledger, arrays[3], rules, 10_000.0)
    performance_summary(trades, ledger, equity, candles["timestamp"].to_numpy(),
                        float(arrays[0][0]), float(arrays[3][-1]), rules.qty, 10_000.0)
    steps.append(("ledger + equity + metrics", time.perf_counter() - t))
    result = run_on_signal(candles, signal, rules, 10_000.0, settings.strategy, params, frame)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_json(build_report(result, str(data)), Path(tmp) / "report.json")
        write_trade_list(Path(tmp) / "trades.csv", result.trades, result.ledger,
                         result.timestamps, settings.strategy, rules.qty, 10_000.0)
        steps.append(("report.json + trades.csv", time.perf_counter() - t))
    return steps


def generate(n: int, folder: Path) -> Path:
    """N synthetic 1-minute candles written as the bot's candle CSV (in a child process, so
    this process stays small: a forked child's peak RSS counts its parent's pages)."""
    path = folder / f"candles_{n}.csv"
    code = ("import sys; from backtest.synthetic import synthetic_candles; "
            "synthetic_candles(int(sys.argv[1]), seed=42).to_csv(sys.argv[2], index=False)")
    subprocess.run([sys.executable, "-c", code, str(n), str(path)], cwd=PROJECT, check=True)
    return path


def print_phases(data: Path) -> None:
    """The per-step breakdown, measured in a fresh child process."""
    subprocess.run([sys.executable, __file__, "--phases-of", str(data)], cwd=PROJECT,
                   check=True)


def main() -> int:
    """Time each size and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--data", type=Path, default=None,
                        help="time this candle file instead of generated candles")
    parser.add_argument("--runs", type=int, default=5, help="runs per size (median reported)")
    parser.add_argument("--no-phases", action="store_true", help="skip the per-step breakdown")
    parser.add_argument("--phases-of", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phases_of is not None:
        for name, seconds in phases(args.phases_of):
            print(f"    {name:<40}{seconds:8.3f} s")
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), {args.runs} runs per size")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [args.data] if args.data else [generate(n, folder) for n in args.candles]
        for data in files:
            rows = sum(1 for _ in data.open("rb")) - 1
            times, peaks = zip(*(run_once(data, folder / "out") for _ in range(args.runs)),
                               strict=True)
            print(f"\n{rows:>9,} candles ({data.name}): whole process median"
                  f" {statistics.median(times):.3f} s (min {min(times):.3f}, max"
                  f" {max(times):.3f}), peak RSS {max(peaks):.0f} MB")
            sys.stdout.flush()
            if not args.no_phases:
                print_phases(data)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\nlargest child max RSS, candle generator included (getrusage RUSAGE_CHILDREN):"
          f" {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
