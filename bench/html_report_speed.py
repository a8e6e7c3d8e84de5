"""Benchmark: ``backtest --html`` on a million candles, and how the page copes in Chromium.

Usage: ``python bench/html_report_speed.py [--candles 1000000] [--strategy sma_rsi]``

Prints the time to write the page, its size, and, when headless Chromium is installed, what
the page measured itself: the first aggregation and drawing (``render-ms``), the bucket it
chose, the markers drawn, a zoom to 2,000 candles (every candle shown), and the wall time of
the whole Chromium load. Candles are synthetic (``backtest.synthetic``), 1-minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def measure(candles: int, strategy: str, folder: Path) -> list[tuple[str, str]]:
    """(figure, value) rows for one page of ``candles`` synthetic 1-minute candles."""
    from backtest.engine import FillRules
    from backtest.html_report import write_html_report
    from backtest.report import build_report
    from backtest.run import run_backtest
    from backtest.synthetic import synthetic_candles
    from tests.browser import find_chromium, load

    frame = synthetic_candles(candles)
    result = run_backtest(frame, strategy, {}, FillRules(stop_loss=0.02, take_profit=0.04),
                          10_000.0)
    started = time.perf_counter()
    page = write_html_report(result, folder / "r.html", build_report(result),
                             volume=frame["volume"].to_numpy())
    rows = [("candles", f"{candles:,}"), ("trades", f"{len(result.trades):,}"),
            ("write the page", f"{time.perf_counter() - started:.2f} s"),
            ("page size", f"{page.stat().st_size / 1e6:.1f} MB")]
    if find_chromium() is None:
        return [*rows, ("chromium", "not installed: apt-get install -y chromium")]
    started = time.perf_counter()
    body = load(page, budget_ms=5000, timeout_s=300)
    rows += [("chromium load, whole", f"{time.perf_counter() - started:.1f} s"),
             ("page parsed (ms after navigation)", f"{body.get('loaded-ms')} ms"),
             ("data decoded (ms after navigation)", f"{body.get('decoded-ms')} ms"),
             ("first aggregation + draw", f"{body.get('render-ms')} ms"),
             ("bucket (candles per bar)", body.get("bucket", "?")),
             ("markers drawn", body.get("markers", "?")),
             ("javascript errors", body.get("errors", "?"))]
    middle = candles // 2
    zoomed = load(page, fragment=f"zoom={middle}-{middle + 2000}", budget_ms=5000,
                  timeout_s=300)
    rows.append(("zoom to 2,000 candles: bucket, errors",
                 f"{zoomed.get('bucket')}, {zoomed.get('errors')}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--strategy", default="sma_rsi")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for name, value in measure(args.candles, args.strategy, Path(folder)):
            print(f"{name:<40}{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
