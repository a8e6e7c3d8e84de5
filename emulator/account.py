"""The emulated spot account: balances, orders, trades, filters and fees.

Money is kept in ``Decimal`` rounded to 8 places (Binance's precision), so balances move by
exactly the strings the answers show. A MARKET order fills at once and whole at the price the
caller passes (the market's price now), paying ``fee_rate`` in the asset it receives: base
for a buy, quote for a sell. A LIMIT order that can execute at once fills like a market order
(as a taker at the current price); otherwise it rests as NEW with its funds locked until it
is cancelled. Resting orders are never matched later (the bot only sends market orders).

Not thread-safe by itself: the server holds its lock around every call.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from core.types import Fill
from emulator.wire import (
    MSG_DUPLICATE,
    MSG_INSUFFICIENT,
    MSG_INVALID_SYMBOL,
    MSG_NO_ORDER,
    MSG_UNKNOWN_ORDER,
    ApiError,
    dec,
    floor_to_step,
    fmt8,
    illegal,
    int_param,
    mandatory,
)

CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
ZERO = Decimal(0)


@dataclass(frozen=True)
class SymbolRules:
    """One symbol's assets and exchange filters (the testnet's BTCUSDT values by default)."""

    base: str
    quote: str
    tick_size: Decimal = Decimal("0.01")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    market_max_qty: Decimal = Decimal("100")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")

    @property
    def symbol(self) -> str:
        """The exchange id, e.g. ``BTCUSDT``."""
        return self.base + self.quote

    @classmethod
    def from_unified(cls, unified: str) -> SymbolRules:
        """Rules for a ccxt symbol such as ``BTC/USDT`` (ValueError if not BASE/QUOTE)."""
        parts = unified.split("/")
        if len(parts) != 2 or not all(p.isalnum() and p.isupper() for p in parts):
            raise ValueError(f"symbol {unified!r} is not of the form BASE/QUOTE, e.g. BTC/USDT")
        return cls(base=parts[0], quote=parts[1])

    def exchange_info(self) -> dict:
        """This symbol's entry in ``GET /api/v3/exchangeInfo``."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt8(self.min_price),
                    "maxPrice": fmt8(self.max_price),
                    "tickSize": fmt8(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt8(self.min_qty),
                    "maxQty": fmt8(self.max_qty),
                    "stepSize": fmt8(self.step_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt8(ZERO),
                    "maxQty": fmt8(self.market_max_qty),
                    "stepSize": fmt8(ZERO),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt8(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt8(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_MAKER"],
        }


@dataclass
class Trade:
    """One execution of an order."""

    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    symbol: str = ""


@dataclass
class Order:
    """One order as the exchange keeps it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    orig_qty: Decimal
    price: Decimal
    orig_quote_qty: Decimal
    time_in_force: str
    time_ms: int
    update_ms: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    trades: list[Trade] = field(default_factory=list)

    def as_query(self) -> dict:
        """The ``GET /api/v3/order`` / ``openOrders`` shape (no fills)."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed_qty),
            "cummulativeQuoteQty": fmt8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt8(ZERO),
            "icebergQty": fmt8(ZERO),
            "time": self.time_ms,
            "updateTime": self.update_ms,
            "isWorking": True,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": fmt8(self.orig_quote_qty),
            "selfTradePreventionMode": "NONE",
        }

    def as_full_ack(self) -> dict:
        """The ``POST /api/v3/order`` answer with ``newOrderRespType=FULL``."""
        answer = self.as_query()
        for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
            answer.pop(key)
        answer["transactTime"] = self.time_ms
        answer["fills"] = [
            {
                "price": fmt8(t.price),
                "qty": fmt8(t.qty),
                "commission": fmt8(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.trade_id,
            }
            for t in self.trades
        ]
        return answer


def _decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from None
    if not value.is_finite() or value < 0:
        raise illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
    return value


class Account:
    """Balances, orders and trades of the one emulated account."""

    def __init__(
        self,
        rules: SymbolRules | Sequence[SymbolRules],
        balances: dict[str, float],
        fee_rate: float = 0.001,
    ) -> None:
        listed = [rules] if isinstance(rules, SymbolRules) else list(rules)
        if not listed:
            raise ValueError("an account needs at least one symbol")
        self.rules = listed[0]  # the primary symbol
        self.symbols: dict[str, SymbolRules] = {r.symbol: r for r in listed}
        self.fee_rate = dec(fee_rate)
        self._defaults = {asset: dec(float(amount)) for asset, amount in balances.items()}
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        self.orders: list[Order] = []
        self.trades: list[Trade] = []
        self.fill_log: list[Fill] = []  # every fill ever, across wipes
        self.update_ms = 0
        self._next_order_id = 1
        self._next_trade_id = 1
        self.reset_balances()

    # -- balances -------------------------------------------------------------------------
    def reset_balances(self) -> None:
        """Balances back to the defaults, nothing locked."""
        self.free = dict(self._defaults)
        self.locked = {asset: ZERO for asset in self._defaults}
        for asset in self.assets():
            self.free.setdefault(asset, ZERO)
            self.locked.setdefault(asset, ZERO)

    def assets(self) -> list[str]:
        """Every base and quote asset of the listed symbols."""
        return sorted({a for r in self.symbols.values() for a in (r.base, r.quote)})

    def default_balance(self, asset: str) -> Decimal:
        """The balance ``asset`` starts with (and gets back at a wipe)."""
        return self._defaults.get(asset, ZERO)

    def set_balance(self, asset: str, amount: float) -> None:
        """Set the free balance of ``asset`` (locked funds stay as they are)."""
        if amount < 0:
            raise ValueError(f"balance of {asset} must be >= 0, got {amount}")
        self.free[asset] = dec(float(amount))
        self.locked.setdefault(asset, ZERO)

    def wipe(self) -> None:
        """The testnet reset: orders and trades gone, balances re-issued to the defaults.

        Order and trade ids keep counting up, so an id seen before a wipe is never reused.
        """
        self.orders.clear()
        self.trades.clear()
        self.reset_balances()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """``{asset: {"free": x, "locked": y}}`` as floats."""
        return {
            asset: {"free": float(self.free[asset]), "locked": float(self.locked.get(asset, 0))}
            for asset in sorted(self.free)
        }

    def account_info(self, now_ms: int, omit_zero: bool = False) -> dict:
        """The ``GET /api/v3/account`` answer."""
        rate = fmt8(self.fee_rate)
        balances = [
            {"asset": asset, "free": fmt8(self.free[asset]), "locked": fmt8(self.locked[asset])}
            for asset in sorted(self.free)
            if not omit_zero or self.free[asset] > 0 or self.locked[asset] > 0
        ]
        commission = int(self.fee_rate * 10000)
        return {
            "makerCommission": commission,
            "takerCommission": commission,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt8(0), "seller": fmt8(0)},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.update_ms or now_ms,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    # -- orders ---------------------------------------------------------------------------
    def check_symbol(self, params: dict[str, str]) -> SymbolRules:
        """The rules of ``symbol``: -1102 when it is missing, -1121 when it is not listed."""
        symbol = params.get("symbol")
        if not symbol:
            raise mandatory("symbol")
        rules = self.symbols.get(symbol)
        if rules is None:
            raise ApiError(400, -1121, MSG_INVALID_SYMBOL)
        return rules

    def place(self, params: dict[str, str], price_now: float, now_ms: int) -> Order:
        """Validate and execute ``POST /api/v3/order``; raises ApiError as Binance would."""
        rules = self.check_symbol(params)
        side = params.get("side")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        kind = params.get("type")
        if not kind:
            raise mandatory("type")
        if kind not in ("MARKET", "LIMIT"):
            raise ApiError(400, -1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or self._new_client_id()
        if not CLIENT_ID_RE.match(client_id):
            raise illegal("newClientOrderId", CLIENT_ID_RE.pattern)
        if any(o.client_order_id == client_id and o.status in OPEN_STATUSES for o in self.orders):
            raise ApiError(400, -2010, MSG_DUPLICATE)
        price = dec(price_now)
        if kind == "MARKET":
            qty, quote_qty = self._market_quantity(rules, params, price)
            limit_price, tif = ZERO, "GTC"
        else:
            qty, limit_price, tif = self._limit_terms(rules, params)
            quote_qty = ZERO
        order = Order(
            order_id=self._next_order_id,
            client_order_id=client_id,
            symbol=rules.symbol,
            side=side,
            type=kind,
            status="NEW",
            orig_qty=qty,
            price=limit_price,
            orig_quote_qty=quote_qty,
            time_in_force=tif,
            time_ms=now_ms,
            update_ms=now_ms,
        )
        marketable = kind == "MARKET" or (
            (side == "BUY" and limit_price >= price) or (side == "SELL" and limit_price <= price)
        )
        if marketable:
            self._check_funds(rules, side, qty, price)
            self._next_order_id += 1
            self._execute(order, price, now_ms)
        else:
            self._check_funds(rules, side, qty, limit_price)
            self._next_order_id += 1
            self._lock_funds(order)
        self.orders.append(order)
        self.update_ms = now_ms
        return order

    def _new_client_id(self) -> str:
        return "emu" + secrets.token_hex(10)

    def _market_quantity(
        self, rules: SymbolRules, params: dict[str, str], price: Decimal
    ) -> tuple[Decimal, Decimal]:
        qty = _decimal_param(params, "quantity")
        quote_qty = _decimal_param(params, "quoteOrderQty")
        if qty is not None and quote_qty is not None:
            raise ApiError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        if qty is None and quote_qty is None:
            raise ApiError(
                400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were"
                " empty/null!"
            )
        if quote_qty is not None:
            if quote_qty < rules.min_notional:
                raise ApiError(400, -1013, "Filter failure: NOTIONAL")
            qty = floor_to_step(quote_qty / price, rules.step_size)
        assert qty is not None
        self._check_lot(rules, qty, rules.max_qty)
        if qty > rules.market_max_qty:
            raise ApiError(400, -1013, "Filter failure: MARKET_LOT_SIZE")
        if qty * price < rules.min_notional:
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")
        return qty, quote_qty if quote_qty is not None else ZERO

    def _limit_terms(
        self, rules: SymbolRules, params: dict[str, str]
    ) -> tuple[Decimal, Decimal, str]:
        qty = _decimal_param(params, "quantity")
        if qty is None:
            raise mandatory("quantity")
        price = _decimal_param(params, "price")
        if price is None:
            raise mandatory("price")
        tif = params.get("timeInForce")
        if not tif:
            raise mandatory("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            raise ApiError(400, -1115, "Invalid timeInForce.")
        if price < rules.min_price or price > rules.max_price or price % rules.tick_size:
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        self._check_lot(rules, qty, rules.max_qty)
        if qty * price < rules.min_notional:
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")
        return qty, price, tif

    @staticmethod
    def _check_lot(rules: SymbolRules, qty: Decimal, max_qty: Decimal) -> None:
        if qty < rules.min_qty or qty > max_qty or (qty - rules.min_qty) % rules.step_size:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")

    def _check_funds(self, rules: SymbolRules, side: str, qty: Decimal, price: Decimal) -> None:
        if side == "BUY":
            enough = self.free[rules.quote] >= dec(qty * price)
        else:
            enough = self.free[rules.base] >= qty
        if not enough:
            raise ApiError(400, -2010, MSG_INSUFFICIENT)

    def _lock_funds(self, order: Order) -> None:
        asset, amount = self._reserved(order)
        self.free[asset] -= amount
        self.locked[asset] += amount

    def _reserved(self, order: Order) -> tuple[str, Decimal]:
        rules = self.symbols[order.symbol]
        if order.side == "BUY":
            return rules.quote, dec(order.orig_qty * order.price)
        return rules.base, order.orig_qty

    def _execute(self, order: Order, price: Decimal, now_ms: int) -> None:
        rules = self.symbols[order.symbol]
        qty = order.orig_qty
        quote = dec(qty * price)
        if order.side == "BUY":
            fee, fee_asset = dec(qty * self.fee_rate), rules.base
            self.free[rules.quote] -= quote
            self.free[rules.base] += qty - fee
        else:
            fee, fee_asset = dec(quote * self.fee_rate), rules.quote
            self.free[rules.base] -= qty
            self.free[rules.quote] += quote - fee
        trade = Trade(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            price=price,
            qty=qty,
            commission=fee,
            commission_asset=fee_asset,
            time_ms=now_ms,
            is_buyer=order.side == "BUY",
            symbol=order.symbol,
        )
        self._next_trade_id += 1
        order.trades.append(trade)
        order.executed_qty = qty
        order.cum_quote = quote
        order.status = "FILLED"
        self.trades.append(trade)
        self.fill_log.append(self.fill_of(order, trade))

    def fill_of(self, order: Order, trade: Trade) -> Fill:
        """The shared ``Fill`` record of one trade."""
        return Fill(
            order_id=str(order.order_id),
            client_order_id=order.client_order_id,
            side="buy" if order.side == "BUY" else "sell",
            price=float(trade.price),
            quantity=float(trade.qty),
            fee=float(trade.commission),
            fee_currency=trade.commission_asset,
            timestamp_ms=trade.time_ms,
        )

    def find(self, params: dict[str, str], missing_code: int, missing_msg: str) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (the latest with that id)."""
        symbol = self.check_symbol(params).symbol
        order_id = int_param(params, "orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise ApiError(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were"
                " empty/null!"
            )
        for order in reversed(self.orders):
            if order.symbol != symbol:
                continue
            if (order_id is None or order.order_id == order_id) and (
                not client_id or order.client_order_id == client_id
            ):
                return order
        raise ApiError(400, missing_code, missing_msg)

    def get(self, params: dict[str, str]) -> Order:
        """``GET /api/v3/order``: -2013 when unknown."""
        return self.find(params, -2013, MSG_NO_ORDER)

    def cancel(self, params: dict[str, str], now_ms: int) -> dict:
        """``DELETE /api/v3/order``: -2011 when unknown or no longer open."""
        order = self.find(params, -2011, MSG_UNKNOWN_ORDER)
        if order.status not in OPEN_STATUSES:
            raise ApiError(400, -2011, MSG_UNKNOWN_ORDER)
        asset, amount = self._reserved(order)
        self.locked[asset] -= amount
        self.free[asset] += amount
        order.status = "CANCELED"
        order.update_ms = now_ms
        self.update_ms = now_ms
        answer = order.as_full_ack()
        for key in ("fills", "workingTime"):
            answer.pop(key)
        answer["origClientOrderId"] = order.client_order_id
        answer["clientOrderId"] = params.get("newClientOrderId") or self._new_client_id()
        answer["transactTime"] = now_ms
        return answer

    def open_orders(self, symbol: str | None) -> list[dict]:
        """``GET /api/v3/openOrders`` for one symbol or all."""
        return [
            o.as_query()
            for o in self.orders
            if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def my_trades(self, params: dict[str, str]) -> list[dict]:
        """``GET /api/v3/myTrades`` with ``startTime``, ``endTime``, ``fromId``, ``orderId``,
        ``limit`` (default 500, at most 1000), oldest first."""
        symbol = self.check_symbol(params).symbol
        limit = int_param(params, "limit") or 500
        if limit < 1 or limit > 1000:
            raise illegal("limit", "1..1000")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        from_id, order_id = int_param(params, "fromId"), int_param(params, "orderId")
        chosen = [
            t
            for t in self.trades
            if t.symbol == symbol
            and (start is None or t.time_ms >= start)
            and (end is None or t.time_ms <= end)
            and (from_id is None or t.trade_id >= from_id)
            and (order_id is None or t.order_id == order_id)
        ]
        chosen = chosen[:limit] if start is not None or from_id is not None else chosen[-limit:]
        return [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "orderListId": -1,
                "price": fmt8(t.price),
                "qty": fmt8(t.qty),
                "quoteQty": fmt8(t.price * t.qty),
                "commission": fmt8(t.commission),
                "commissionAsset": t.commission_asset,
                "time": t.time_ms,
                "isBuyer": t.is_buyer,
                "isMaker": False,
                "isBestMatch": True,
            }
            for t in chosen
        ]
