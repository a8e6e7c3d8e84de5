"""Shared pieces of the download tests: the emulator, a client on its clock, markets with holes.

The markets below are the emulator's own GeneratedMarket with a stretch of candles removed
(an exchange outage: the emulator serves no kline there, as Binance serves none for its
maintenance windows) or one candle broken (high below low), so the real server and the real
ccxt client carry them.
"""

from __future__ import annotations

import numpy as np

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.client import ExchangeClient
from exchange.factory import make_exchange
from exchange.retry import RetryPolicy

MINUTE = 60_000
DAY0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
T0 = DAY0 + 5_000 * MINUTE + 30_000  # 30 s into a minute, 5,000 closed candles after DAY0


class HoleMarket(GeneratedMarket):
    """A generated market with no candles in ``[hole_start_ms, hole_end_ms)``."""

    def __init__(self, seed: int, hole_start_ms: int, hole_end_ms: int) -> None:
        super().__init__(seed)
        self.hole = (hole_start_ms // MINUTE, hole_end_ms // MINUTE)

    def _base_rows(self, first: int, count: int) -> np.ndarray:
        rows = super()._base_rows(first, count)
        lo, hi = max(first, self.hole[0]), min(first + count, self.hole[1])
        if lo < hi:
            rows[lo - first : hi - first] = np.nan
        return rows


class BrokenMarket(GeneratedMarket):
    """A generated market whose candle at ``broken_ms`` has its high below its low."""

    def __init__(self, seed: int, broken_ms: int) -> None:
        super().__init__(seed)
        self.broken = broken_ms // MINUTE

    def _base_rows(self, first: int, count: int) -> np.ndarray:
        rows = super()._base_rows(first, count)
        if first <= self.broken < first + count:
            o, h, low, c, v = rows[self.broken - first]
            rows[self.broken - first] = (o, low - 1.0, h + 1.0, c, v)
        return rows


def start_server(market=None, clock=None) -> EmulatorServer:
    """A started emulator on ``market`` (seed 3 by default) and a ManualClock at T0."""
    return EmulatorServer(market or GeneratedMarket(3), clock or ManualClock(T0)).start()


def make_client(server: EmulatorServer, timeframe: str = "1m", attempts: int = 3,
                ) -> ExchangeClient:
    """The bot's ExchangeClient on the server's clock (retry waits cost no wall time)."""
    clock = server.clock
    exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                             base_url=server.base_url, timeout_ms=2_000, clock=clock)
    return ExchangeClient(exchange, "BTC/USDT", timeframe, clock=clock,
                          policy=RetryPolicy(attempts=attempts))


def kline_requests(server: EmulatorServer) -> list:
    """The klines requests the server received, oldest first."""
    return [r for r in server.requests if r.path == "/api/v3/klines"]
