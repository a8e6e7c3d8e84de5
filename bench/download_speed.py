"""Print how fast ``download_candles`` pages candles out of the emulator over loopback.

Run: .venv/bin/python bench/download_speed.py [CANDLES]   (default 100,000; prints, asserts nothing)

Fresh download of CANDLES one-minute candles into a temporary file with the real ccxt client,
then the time of each phase of one page (request + ccxt parsing, validation, append), then a
rerun on the complete file (resume, nothing to fetch).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.clock import ManualClock  # noqa: E402
from emulator.limits import UNLIMITED  # noqa: E402
from emulator.market import GeneratedMarket  # noqa: E402
from emulator.server import (  # noqa: E402
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    EmulatorServer,
)
from exchange.client import ExchangeClient  # noqa: E402
from exchange.download import download_candles  # noqa: E402
from exchange.factory import make_exchange  # noqa: E402
from exchange.validation import closed_candles  # noqa: E402
from storage.candles import append_candles  # noqa: E402

MINUTE = 60_000
DAY0 = 1_704_067_200_000


def main() -> None:
    """Fresh download, per-phase page timings and a no-op resume."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    clock = ManualClock(DAY0 + count * MINUTE + 30_000)
    with EmulatorServer(GeneratedMarket(1), clock, limits=UNLIMITED) as server, \
            tempfile.TemporaryDirectory() as folder:
        exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                                 base_url=server.base_url, clock=clock)
        client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=clock)
        client.load_markets()
        out = Path(folder) / "btc.csv"
        started = time.perf_counter()
        result = download_candles(client, out, DAY0, None)
        spent = time.perf_counter() - started
        size = out.stat().st_size
        print(f"fresh download: {result.rows_written:,} candles, {result.pages} pages in"
              f" {spent:.2f} s -> {result.pages / spent:.1f} pages/s,"
              f" {result.rows_written / spent:,.0f} candles/s, file {size / 1e6:.1f} MB")

        pages = 20
        request = validate = append = 0.0
        scratch = Path(folder) / "scratch.csv"
        for page in range(pages):
            t0 = time.perf_counter()
            rows = client.fetch_ohlcv_page(DAY0 + page * 1000 * MINUTE, 1000)
            t1 = time.perf_counter()
            frame = closed_candles(rows, MINUTE, clock.now_ms())
            t2 = time.perf_counter()
            append_candles(scratch, frame)
            t3 = time.perf_counter()
            request, validate, append = request + t1 - t0, validate + t2 - t1, append + t3 - t2
        print(f"per page of 1000: request+ccxt {1000 * request / pages:.1f} ms,"
              f" validation {1000 * validate / pages:.1f} ms,"
              f" append+fsync {1000 * append / pages:.1f} ms")

        started = time.perf_counter()
        again = download_candles(client, out, DAY0, None)
        print(f"rerun on the complete file: {again.rows_written} rows, {again.pages} pages,"
              f" {1000 * (time.perf_counter() - started):.1f} ms")


if __name__ == "__main__":
    main()
