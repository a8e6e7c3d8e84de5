"""Building the ccxt binance instance: Spot Testnet or the local emulator, spot-only, guarded.

Both kinds get the same recipe (binance-emulator.md section 1): sandbox mode on, spot-only
market loading (so ``load_markets`` never touches the futures testnet), spot URLs only in
``urls['api']`` (any non-spot call fails locally with NotSupported instead of reaching out), and
the endpoint guard run on the finished instance. ``local`` is built by the emulator's own
``make_ccxt_for_emulator``, so the bot and the emulator's tests share one recipe.
"""

from __future__ import annotations

from typing import Any

import ccxt

from core.clock import Clock
from core.types import ExchangeKind
from exchange.endpoints import check_exchange_endpoints, check_url

TESTNET_ROOT = "https://testnet.binance.vision"
KINDS = ("testnet", "local")


def spot_urls(root: str) -> dict[str, str]:
    """The three spot URL keys ccxt uses, under ``root`` (e.g. ``http://127.0.0.1:8123``)."""
    root = root.rstrip("/")
    return {"public": f"{root}/api/v3", "private": f"{root}/api/v3", "v1": f"{root}/api/v1"}


def make_exchange(
    kind: ExchangeKind,
    *,
    api_key: str,
    api_secret: str,
    base_url: str | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool | None = None,
    recv_window_ms: int = 10_000,
    clock: Clock | None = None,
) -> ccxt.binance:
    """A ccxt binance instance for Spot Testnet (``kind="testnet"``) or a local emulator.

    ``base_url`` is the server root: optional for testnet (default
    ``https://testnet.binance.vision``; ``https://api1.testnet.binance.vision`` also allowed),
    required for ``local`` (``http://127.0.0.1:<port>``). ``enable_rate_limit`` defaults to
    True for testnet (ccxt's client-side throttle) and False for local, so accelerated runs are
    not throttled in wall time. Raises ValueError (one line) on a bad argument and
    EndpointRefused when any spot URL is neither Spot Testnet nor loopback. No request is made:
    the clock offset is synchronised by ``ExchangeClient.load_markets``.

    ``clock``: sign requests with this clock's time instead of the wall clock. Pass the
    emulator's simulated clock for ``local`` runs on a manual or accelerated clock, so the
    emulator's recvWindow check sees timestamps on its own time line.
    """
    if kind not in KINDS:
        raise ValueError(f"exchange kind must be 'testnet' or 'local', got {kind!r}")
    if kind == "testnet" and (not api_key or not api_secret):
        raise ValueError(
            "Spot Testnet needs API keys: set BINANCE_TESTNET_API_KEY and"
            " BINANCE_TESTNET_API_SECRET in .env (create them at https://testnet.binance.vision)"
        )
    if kind == "local" and not base_url:
        raise ValueError("the local emulator needs its base URL, e.g. http://127.0.0.1:8123")
    if not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise ValueError(f"request timeout must be a positive number of ms, got {timeout_ms!r}")
    root = base_url or TESTNET_ROOT
    # Refuse before the instance exists, so a wrong root is named as the user typed it.
    check_url(spot_urls(root)["public"])
    rate_limit = (kind == "testnet") if enable_rate_limit is None else bool(enable_rate_limit)
    options = {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "adjustForTimeDifference": False,
        "recvWindow": recv_window_ms,
    }
    if kind == "local":
        # The emulator's own factory: the bot and the emulator's tests use one recipe.
        from exchange.ccxt_emulator import make_ccxt_for_emulator

        # Without its clock argument (which pins the nonce to the clock and so ignores the
        # measured offset): signing time follows ``clock`` below, minus the offset that
        # load_time_difference measures, which also holds for an emulator in another process.
        exchange = make_ccxt_for_emulator(root, api_key, api_secret, timeout_ms, rate_limit)
        exchange.options.update(options)
        _use_spot_error_table(exchange)  # already done there; kept so the guarantee is ours
    else:
        exchange = ccxt.binance({
            "apiKey": api_key,
            "secret": api_secret,
            "enableRateLimit": rate_limit,
            "timeout": timeout_ms,
            "options": options,
        })
        # set_sandbox_mode copies urls['test'] into urls['api']: with only spot keys there, no
        # futures or sapi URL exists on this instance at all.
        exchange.urls["test"] = spot_urls(root)
        exchange.set_sandbox_mode(True)
    if clock is not None:
        # ccxt stamps signed requests with self.milliseconds() - timeDifference (binance.nonce),
        # and load_time_difference measures that offset with self.milliseconds() too.
        exchange.milliseconds = clock.now_ms
    check_exchange_endpoints(exchange)
    return exchange


def _use_spot_error_table(exchange: Any) -> None:
    """Give a loopback URL the spot error-code table ccxt uses for testnet URLs (section 5.3).

    ccxt picks the spot table by URL prefix; on 127.0.0.1 only the global one applies, so e.g.
    -1008 would surface as a plain ExchangeError instead of the retryable OperationFailed.
    """
    spot_exact = exchange.exceptions.get("spot", {}).get("exact", {})
    exchange.exceptions["exact"] = {**exchange.exceptions["exact"], **spot_exact}
