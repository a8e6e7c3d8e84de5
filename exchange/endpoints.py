"""The endpoint guard: the bot talks to Binance Spot Testnet or a loopback emulator, nothing else.

The check runs on the URLs a built ccxt instance will actually use for spot calls, so a wrong
override, a forgotten sandbox switch or a typo in a base URL is caught before the first request
(and before any signed request could carry the keys to a real-money endpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core.errors import EndpointRefused
from core.loopback import is_loopback_host

TESTNET_HOSTS = frozenset({"testnet.binance.vision", "api1.testnet.binance.vision"})
SPOT_URL_KEYS = ("public", "private", "v1")


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` is not an allowed endpoint, or None when it is.

    Allowed: ``https://testnet.binance.vision/api/...`` (or ``api1.testnet.binance.vision``)
    and ``http(s)://`` on a loopback host (the local emulator).
    """
    if not isinstance(url, str) or not url:
        return "no URL is configured"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return "it is not a valid URL"
    if parts.username or parts.password:
        return "it carries a user name or password"
    if is_loopback_host(host):
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme!r} is not http or https"
        return None
    if host.lower() in TESTNET_HOSTS:
        if parts.scheme != "https":
            return "Binance Spot Testnet must be reached over https"
        if not parts.path.startswith("/api/"):
            return "Binance Spot Testnet URLs live under /api/"
        return None
    return f"host {host or '(none)'!r} is neither Binance Spot Testnet nor a loopback emulator"


def check_url(url: str) -> None:
    """Raise EndpointRefused (one line) unless ``url`` is Spot Testnet or a loopback emulator."""
    problem = endpoint_problem(url)
    if problem is not None:
        raise EndpointRefused(
            f"refusing endpoint {url!r}: {problem}; only https://testnet.binance.vision or a local"
            " emulator on 127.0.0.1/localhost is allowed (set EXCHANGE=testnet or EXCHANGE=local)"
        )


def check_exchange_endpoints(exchange: Any) -> None:
    """Check every URL a ccxt binance instance uses for spot calls; raise EndpointRefused.

    Reads ``exchange.urls['api']`` after construction, so it sees what ccxt will really call.
    """
    urls = getattr(exchange, "urls", None)
    api = urls.get("api") if isinstance(urls, Mapping) else None
    if not isinstance(api, Mapping):
        raise EndpointRefused(
            "refusing exchange: it has no urls['api'] table to check; build it with make_exchange()"
        )
    for key in SPOT_URL_KEYS:
        check_url(api.get(key, ""))
