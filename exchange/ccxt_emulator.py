"""A real ``ccxt.binance`` pointed at the emulator (recipe of binance-emulator.md, section 1).

* ``fetchMarkets.types = ["spot"]``: ``load_markets`` then asks only ``/api/v3/exchangeInfo``
  (by default it also asks the futures exchangeInfo endpoints);
* ``urls["test"]`` set to the emulator *before* ``set_sandbox_mode(True)``, which copies it into
  ``urls["api"]``: the api table then holds only the three spot keys, so any accidental
  non-spot call fails locally with ``NotSupported`` instead of leaving the machine;
* the spot error table merged into the exact table, so error codes map to the same ccxt
  exceptions as on ``testnet.binance.vision`` (ccxt picks that table by URL, and 127.0.0.1
  does not match).

With ``clock`` given, signed requests carry that clock's time as their ``timestamp``: an
in-process bot on a ``ManualClock`` and an emulator on the same clock agree on the time, as a
synchronised client and Binance do.
"""

from __future__ import annotations

import ccxt

from core.clock import Clock


def make_ccxt_for_emulator(
    base_url: str,
    api_key: str,
    secret: str,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = False,
    *,
    clock: Clock | None = None,
) -> ccxt.binance:
    """A ``ccxt.binance`` instance whose spot REST calls go to ``base_url`` (the emulator)."""
    base = base_url.rstrip("/")
    exchange = ccxt.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": enable_rate_limit,
            "timeout": timeout_ms,
            "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
        }
    )
    exchange.urls["test"] = {
        "public": base + "/api/v3",
        "private": base + "/api/v3",
        "v1": base + "/api/v1",
    }
    exchange.set_sandbox_mode(True)
    exchange.exceptions["exact"] = {
        **exchange.exceptions["exact"],
        **exchange.exceptions["spot"]["exact"],
    }
    if clock is not None:
        exchange.nonce = clock.now_ms
    return exchange
