"""The REST endpoints the emulator serves: security, request weight and accepted parameters.

Weights and parameter lists are Binance's (``rest-api.md``, snapshot a5e0bc3). A parameter
not in an endpoint's list is answered -1104 "Not all sent parameters were read", as Binance
does; SIGNED endpoints also read ``timestamp``, ``recvWindow`` and ``signature``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})
Weight = Callable[[dict[str, str]], int]


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint: SIGNED or not, its weight (fixed or from the parameters), its params."""

    signed: bool
    weight: int | Weight
    params: frozenset[str]
    new_order: bool = False  # counts against the ORDERS limits, answers X-MBX-ORDER-COUNT-*

    def weight_of(self, params: dict[str, str]) -> int:
        """The request weight of a call with these parameters."""
        return self.weight if isinstance(self.weight, int) else self.weight(params)

    def accepted(self) -> frozenset[str]:
        """Every parameter this endpoint reads."""
        return self.params | SIGNED_PARAMS if self.signed else self.params


def _count_symbols(params: dict[str, str]) -> int | None:
    """How many symbols ``symbols=[...]`` names (None when absent or unreadable)."""
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        return None
    return len(names) if isinstance(names, list) else None


def _depth_weight(params: dict[str, str]) -> int:
    raw = params.get("limit", "")
    limit = int(raw) if raw.isdigit() else 100
    for top, weight in ((100, 5), (500, 25), (1000, 50)):
        if limit <= top:
            return weight
    return 250


def _ticker_24hr_weight(params: dict[str, str]) -> int:
    if params.get("symbol"):
        return 2
    count = _count_symbols(params)
    if count is None:
        return 80
    return 2 if count <= 20 else 40 if count <= 100 else 80


def _one_or_all_weight(params: dict[str, str]) -> int:
    return 2 if params.get("symbol") else 4


def _per_symbol_weight(params: dict[str, str]) -> int:
    count = _count_symbols(params) or 1
    return 4 * count if count <= 50 else 200


ORDER_PARAMS = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price",
    "newClientOrderId", "strategyId", "strategyType", "stopPrice", "trailingDelta",
    "icebergQty", "newOrderRespType", "selfTradePreventionMode", "pegPriceType",
    "pegOffsetValue", "pegOffsetType",
})
TICKER_PARAMS = frozenset({"symbol", "symbols", "type", "symbolStatus"})
PRICE_PARAMS = frozenset({"symbol", "symbols", "symbolStatus"})
KLINE_PARAMS = frozenset({"symbol", "interval", "startTime", "endTime", "timeZone", "limit"})

SPECS: dict[tuple[str, str], EndpointSpec] = {
    ("GET", "/api/v3/ping"): EndpointSpec(False, 1, frozenset()),
    ("GET", "/api/v3/time"): EndpointSpec(False, 1, frozenset()),
    ("GET", "/api/v3/exchangeInfo"): EndpointSpec(False, 20, frozenset(
        {"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"})),
    ("GET", "/api/v3/depth"): EndpointSpec(False, _depth_weight,
                                           frozenset({"symbol", "limit", "symbolStatus"})),
    ("GET", "/api/v3/trades"): EndpointSpec(False, 25, frozenset({"symbol", "limit"})),
    ("GET", "/api/v3/historicalTrades"): EndpointSpec(
        False, 25, frozenset({"symbol", "limit", "fromId"})),
    ("GET", "/api/v3/aggTrades"): EndpointSpec(False, 4, frozenset(
        {"symbol", "fromId", "startTime", "endTime", "limit"})),
    ("GET", "/api/v3/klines"): EndpointSpec(False, 2, KLINE_PARAMS),
    ("GET", "/api/v3/uiKlines"): EndpointSpec(False, 2, KLINE_PARAMS),
    ("GET", "/api/v3/avgPrice"): EndpointSpec(False, 2, frozenset({"symbol"})),
    ("GET", "/api/v3/ticker/24hr"): EndpointSpec(False, _ticker_24hr_weight, TICKER_PARAMS),
    ("GET", "/api/v3/ticker/tradingDay"): EndpointSpec(
        False, _per_symbol_weight, TICKER_PARAMS | {"timeZone"}),
    ("GET", "/api/v3/ticker/price"): EndpointSpec(False, _one_or_all_weight, PRICE_PARAMS),
    ("GET", "/api/v3/ticker/bookTicker"): EndpointSpec(False, _one_or_all_weight, PRICE_PARAMS),
    ("GET", "/api/v3/ticker"): EndpointSpec(
        False, _per_symbol_weight, TICKER_PARAMS | {"windowSize"}),
    ("GET", "/api/v3/account"): EndpointSpec(True, 20, frozenset({"omitZeroBalances"})),
    ("POST", "/api/v3/order"): EndpointSpec(True, 1, ORDER_PARAMS, new_order=True),
    ("POST", "/api/v3/order/test"): EndpointSpec(
        True, lambda p: 20 if p.get("computeCommissionRates", "").lower() == "true" else 1,
        ORDER_PARAMS | {"computeCommissionRates"}),
    ("GET", "/api/v3/order"): EndpointSpec(
        True, 4, frozenset({"symbol", "orderId", "origClientOrderId"})),
    ("DELETE", "/api/v3/order"): EndpointSpec(True, 1, frozenset(
        {"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"})),
    ("GET", "/api/v3/openOrders"): EndpointSpec(
        True, lambda p: 6 if p.get("symbol") else 80, frozenset({"symbol"})),
    ("DELETE", "/api/v3/openOrders"): EndpointSpec(True, 1, frozenset({"symbol"})),
    ("GET", "/api/v3/allOrders"): EndpointSpec(True, 20, frozenset(
        {"symbol", "orderId", "startTime", "endTime", "limit"})),
    ("GET", "/api/v3/myTrades"): EndpointSpec(
        True, lambda p: 5 if p.get("orderId") else 20,
        frozenset({"symbol", "orderId", "startTime", "endTime", "fromId", "limit"})),
    ("GET", "/api/v3/rateLimit/order"): EndpointSpec(True, 40, frozenset()),
    ("GET", "/api/v3/account/commission"): EndpointSpec(True, 20, frozenset({"symbol"})),
}
