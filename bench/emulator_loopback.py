"""Print how fast the emulator answers the real ccxt binance class over loopback.

Run: .venv/bin/python bench/emulator_loopback.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import sys
import threading
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
from exchange.ccxt_emulator import make_ccxt_for_emulator  # noqa: E402

T0 = 1_700_000_040_000


def timed(label: str, call, n: int) -> None:
    """Run ``call`` n times and print the mean latency and rate."""
    call()  # warm caches and the keep-alive connection
    start = time.perf_counter()
    for _ in range(n):
        call()
    spent = time.perf_counter() - start
    print(f"{label:<34} {1000 * spent / n:7.2f} ms/call {n / spent:8.0f} calls/s")


def main() -> None:
    """Sequential latencies per call type, then the throughput of 8 concurrent clients."""
    clock = ManualClock(T0 + 30_000)
    with EmulatorServer(GeneratedMarket(1), clock, balances={"USDT": 1e9, "BTC": 1e3},
                        limits=UNLIMITED) as srv:
        def client():
            ex = make_ccxt_for_emulator(srv.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                        clock=clock)
            ex.load_markets()
            return ex

        ex = client()
        timed("fetch_time", ex.fetch_time, 500)
        timed("fetch_ticker (24h window)", lambda: ex.fetch_ticker("BTC/USDT"), 300)
        timed("fetch_ohlcv 1m limit 500", lambda: ex.fetch_ohlcv("BTC/USDT", "1m"), 200)
        timed("fetch_ohlcv 1h limit 1000",
              lambda: ex.fetch_ohlcv("BTC/USDT", "1h", limit=1000), 20)
        timed("fetch_balance (signed)", ex.fetch_balance, 300)
        timed("create_market_buy_order (signed)",
              lambda: ex.create_market_buy_order("BTC/USDT", 0.001), 300)

        clients = [client() for _ in range(8)]
        per_client = 150

        def work(c):
            for _ in range(per_client):
                c.fetch_ticker("BTC/USDT")

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spent = time.perf_counter() - start
        total = per_client * len(clients)
        print(f"{'8 clients x fetch_ticker':<34} {total / spent:8.0f} calls/s in total")
        print(f"requests served: {srv.request_count}, unknown: {len(srv.unknown_requests)}")


if __name__ == "__main__":
    main()
