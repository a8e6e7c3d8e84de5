"""Benchmark: the five bar strategies' indicators and the order broker, in process.

Usage: ``python bench/order_broker_speed.py [--candles N ...] [--data FILE]``

For each strategy (supertrend, bollinger, keltner, channel_breakout, barupdn), long-short with
1 contract and no SL/TP (Supertrend and BarUpDn at their TradingView percent of equity), the
best of three runs of: the strategy's columns (indicators + orders) and the broker
(``backtest.orders.simulate_orders``), with the trade count. Synthetic candles
(``backtest.synthetic``) unless ``--data`` names a candle file (e.g. ../shared/data/...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

STRATEGIES = ("supertrend", "bollinger", "keltner", "channel_breakout", "barupdn")


def best_of(fn, runs: int = 3) -> tuple[float, object]:
    """The fastest wall time of ``runs`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(candles, name: str) -> tuple[float, float, int]:
    """(strategy seconds, broker seconds, trades) of one strategy on a candle frame."""
    from backtest.engine import FillRules
    from backtest.orders import OrderRules, simulate_orders
    from backtest.run import resolve_mintick
    from strategies.orders import intents
    from strategies.registry import get_strategy

    strategy = get_strategy(name)
    mintick = resolve_mintick(candles, None)
    signals_s, frame = best_of(lambda: strategy.compute(candles, mintick=mintick))
    plan = intents(frame)
    rules = FillRules(mode="long-short", qty=1, commission=0, stop_loss=None, take_profit=None)
    orules = OrderRules(mintick=mintick, lot=0.00001, qty_percent=strategy.qty_percent,
                        oca=strategy.oca is not None)
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    broker_s, trades = best_of(lambda: simulate_orders(*arrays, plan, rules, orules, 1e6))
    return signals_s, broker_s, len(trades)


def main(argv: list[str] | None = None) -> int:
    """Print the figures for each size (or the given file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args(argv)
    from backtest.data import load_candles
    from backtest.synthetic import synthetic_candles

    inputs = ([(args.data.name, load_candles(args.data))] if args.data else
              [(f"{n:,} synthetic 1m candles", synthetic_candles(n, seed=1))
               for n in args.candles])
    for label, candles in inputs:
        print(f"{label} ({len(candles):,} candles):")
        for name in STRATEGIES:
            signals_s, broker_s, trades = measure(candles, name)
            print(f"  {name:<17} strategy {signals_s:7.3f} s  broker {broker_s:7.3f} s"
                  f"  {trades:,} trades")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
