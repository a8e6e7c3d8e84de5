"""Benchmark: the bot's per-candle signal cost against the length of its stored candle file.

Usage: ``python bench/live_signals.py [--sizes 10000 1000000] [--strategy sma_rsi] [--dir D]``

For each size it writes a candle file of that many 1-minute candles (seeded random walk,
two-decimal prices), then appends further candles one at a time, as the bot does, and times
the three approaches of docs/decisions/0110-live-signals-equal-stored-history.md:

1. incremental (what the bot does): ``SignalEngine.signal_at`` after each append: read the
   new row from the file's end, update the indicators' recursive state, one bar;
2. full recompute over the whole stored file (the fallback for a strategy without an
   incremental form): the in-memory copy of the file grows by the row and the strategy's
   vectorised ``compute`` runs over all of it;
3. a long fixed window (the last 5,000 candles): constant cost, but not equal to ``signals``
   over the file, so it also counts how many of the timed candles' indicator values differ.

It also times a rebuild from the whole file (a start without a usable checkpoint) and the
append itself (``append_candles``, with its fsync), which every approach pays. Medians of the
timed candles; the machine's load shows in the figures, so run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.signal_engine import SignalEngine  # noqa: E402
from storage.candles import append_candles  # noqa: E402
from strategies.registry import STRATEGIES  # noqa: E402

WINDOW = 5_000


def candles(count: int, seed: int = 42) -> pd.DataFrame:
    """``count`` 1-minute candles of a seeded random walk with two-decimal prices."""
    rng = np.random.default_rng(seed)
    close = np.round(30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, count))), 2)
    spread = np.round(np.abs(rng.normal(0, 5, count)), 2)
    return pd.DataFrame({
        "timestamp": 1_700_000_000_000 + np.arange(count, dtype=np.int64) * 60_000,
        "open": close, "high": np.round(close + spread, 2), "low": np.round(close - spread, 2),
        "close": close,
        "volume": np.round(rng.uniform(0.1, 5.0, count), 5),
    })


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def bench_size(size: int, strategy_name: str, folder: Path, timed: int) -> dict[str, float]:
    """Per-candle milliseconds of each approach after ``size`` stored candles."""
    strategy = STRATEGIES[strategy_name]
    params = strategy.params()
    extra = candles(size + timed)
    path = folder / f"historical_data_{size}.csv"
    path.unlink(missing_ok=True)
    extra.iloc[:size].to_csv(path, index=False, lineterminator="\n")

    engine = SignalEngine(strategy, params, path)
    start = time.perf_counter()
    engine.sync()
    rebuild = time.perf_counter() - start
    recompute = SignalEngine(replace(strategy, name=f"{strategy_name}_recompute"), params, path)
    recompute.sync()

    appends, incremental, full, window = [], [], [], []
    recompute_every = max(1, timed // 5) if size > 100_000 else 1
    for i in range(size, size + timed):
        row = extra.iloc[i:i + 1]
        ts = int(row["timestamp"].iat[0])
        start = time.perf_counter()
        append_candles(path, row)
        appends.append(time.perf_counter() - start)
        start = time.perf_counter()
        engine.signal_at(ts)
        incremental.append(time.perf_counter() - start)
        if (i - size) % recompute_every == 0:
            start = time.perf_counter()
            recompute.signal_at(ts)
            full.append(time.perf_counter() - start)
        else:  # keep its copy of the file in step without timing it
            recompute.sync()
        start = time.perf_counter()
        tail = strategy.compute(extra.iloc[max(0, i + 1 - WINDOW):i + 1], params)
        window.append(time.perf_counter() - start)
        del tail
    # The window's values against the whole history, on the timed candles.
    whole = strategy.compute(extra, params).iloc[size:]
    windowed = [strategy.compute(extra.iloc[max(0, i + 1 - WINDOW):i + 1], params).iloc[-1]
                for i in range(size, size + timed)]
    value_cols = [c for c in whole.columns if c != "signal"]
    differ = sum(
        1 for k, w in enumerate(windowed)
        if not np.array_equal(w[value_cols].to_numpy(dtype=float),
                              whole.iloc[k][value_cols].to_numpy(dtype=float), equal_nan=True))
    return {"append": median_ms(appends), "incremental": median_ms(incremental),
            "recompute": median_ms(full), "window": median_ms(window),
            "window_differs": differ, "timed": timed, "rebuild_s": rebuild}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--strategy", default="sma_rsi", choices=sorted(STRATEGIES))
    parser.add_argument("--candles", type=int, default=200, help="candles timed per size")
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder for the candle files (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"strategy {args.strategy}; per-candle median ms over {args.candles} appended"
              f" candles (recompute: fewer above 100k); files in {folder}")
        print(f"{'stored':>10}  {'append':>8}  {'incremental':>11}  {'recompute':>10}"
              f"  {'window 5k':>9}  {'window != file':>14}  {'rebuild s':>9}")
        for size in args.sizes:
            r = bench_size(size, args.strategy, folder, args.candles)
            print(f"{size:>10,}  {r['append']:>8.3f}  {r['incremental']:>11.3f}"
                  f"  {r['recompute']:>10.1f}  {r['window']:>9.2f}"
                  f"  {r['window_differs']:>6}/{r['timed']:<7}  {r['rebuild_s']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
