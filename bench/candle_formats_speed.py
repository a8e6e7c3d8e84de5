"""Benchmark: the one candle reader on a million candles in every layout it knows.

Usage: ``python bench/candle_formats_speed.py [--candles 1000000]``

Writes the same synthetic 1-minute candles in each layout (``tests/candle_layouts.py``) and
prints, per layout, the file size and the time ``read_candle_source`` takes (best of two).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def measure(candles: int, folder: Path) -> list[tuple[str, float, float]]:
    """(layout, MB, seconds) for each layout."""
    from storage.candle_formats import read_candle_source
    from tests.candle_layouts import LAYOUTS, write_layout
    from tests.candle_layouts import candles as make_candles

    frame = make_candles(candles, step_ms=60_000)
    rows = []
    for layout in LAYOUTS:
        path = write_layout(layout, frame, folder)
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            read_candle_source(path)
            best = min(best, time.perf_counter() - started)
        rows.append((layout, path.stat().st_size / 1e6, best))
        path.unlink()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        print(f"{args.candles:,} candles")
        for layout, size, seconds in measure(args.candles, Path(folder)):
            print(f"{layout:<50}{size:>8.1f} MB{seconds:>8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
