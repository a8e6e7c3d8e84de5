"""Round-trip figures of ExchangeClient against the local emulator (real ccxt over loopback).

Run: .venv/bin/python bench/exchange_client_latency.py [repeats]
Prints the median and 95th-percentile wall time of the calls the bot makes each cycle.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import statistics
import sys
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
from exchange.factory import make_exchange  # noqa: E402

MINUTE = 60_000


def timed(label: str, call, repeats: int) -> None:
    """Run ``call`` ``repeats`` times and print its median and p95 in milliseconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    print(f"{label:<34} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms")


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    clock = ManualClock(1_704_067_200_000 + 500 * MINUTE + 30_000)
    server = EmulatorServer(GeneratedMarket(seed=1), clock,
                            balances={"USDT": 1e9, "BTC": 1e3}, limits=UNLIMITED).start()
    try:
        exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                                 base_url=server.base_url, clock=clock)
        client = ExchangeClient(exchange, clock=clock)
        timed("load_markets (time + exchangeInfo)", client.load_markets, repeats)
        timed("fetch_closed_candles(200)", lambda: client.fetch_closed_candles(200), repeats)
        timed("last_price", client.last_price, repeats)
        timed("free_balance", lambda: client.free_balance("USDT"), repeats)
        counter = iter(range(10**9))
        timed("market_buy 0.001 (+ ticker)",
              lambda: client.market_buy(0.001, f"bench-{next(counter)}"), repeats)
        timed("find_order (order + myTrades)", lambda: client.find_order("bench-0"), repeats)
        print(f"requests served: {server.request_count}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
