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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from core.types import Fill
from emulator.book import Book, first_touch
from emulator.market import Market
from emulator.wire import (
    MSG_DUPLICATE,
    MSG_INSUFFICIENT,
    MSG_INVALID_SYMBOL,
    MSG_NO_ORDER,
    MSG_UNKNOWN_ORDER,
    ApiError,
    dec,
    decimal_param,
    floor_to_step,
    fmt8,
    illegal,
    int_param,
    mandatory,
    time_param,
)

CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LIMIT_TYPES = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
MAX_NUM_ORDERS = 200
MAX_NUM_ALGO_ORDERS = 5
STP_MODES = ("NONE", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH")
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
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                           "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "opoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "amendAllowed": False,
            "pegInstructionsAllowed": False,
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
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": MAX_NUM_ORDERS},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": MAX_NUM_ALGO_ORDERS},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": list(STP_MODES),
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
    is_maker: bool = False


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
    stop_price: Decimal = ZERO
    working_ms: int | None = None  # None: working since placement; -1: stop not triggered
    checked_ms: int | None = None  # the market path is settled up to here
    expiry_reason: str | None = None
    stp_mode: str = "NONE"

    @property
    def is_stop(self) -> bool:
        """A STOP_LOSS / TAKE_PROFIT order (market or limit on trigger)."""
        return self.type in STOP_TYPES

    @property
    def working_time(self) -> int:
        """``workingTime``: when the order started working on the book, -1 before a trigger."""
        return self.time_ms if self.working_ms is None else self.working_ms

    @property
    def remaining(self) -> Decimal:
        """The base quantity not filled yet."""
        return self.orig_qty - self.executed_qty

    def as_query(self) -> dict:
        """The ``GET /api/v3/order`` / ``openOrders`` shape (no fills)."""
        answer = self._query()
        if self.expiry_reason:
            answer["expiryReason"] = self.expiry_reason
        return answer

    def _query(self) -> dict:
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
            "stopPrice": fmt8(self.stop_price),
            "icebergQty": fmt8(ZERO),
            "time": self.time_ms,
            "updateTime": self.update_ms,
            "isWorking": self.working_time >= 0,
            "workingTime": self.working_time,
            "origQuoteOrderQty": fmt8(self.orig_quote_qty),
            "selfTradePreventionMode": self.stp_mode,
        }

    def as_full_ack(self) -> dict:
        """The ``POST /api/v3/order`` answer with ``newOrderRespType=FULL``."""
        answer = self.as_query()
        for key in ("icebergQty", "time", "updateTime", "isWorking"):
            answer.pop(key)
        if not self.is_stop:  # stopPrice appears for stop orders only
            answer.pop("stopPrice")
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

    def place(self, params: dict[str, str], book: Book | float, now_ms: int) -> Order:
        """Validate and execute ``POST /api/v3/order`` against ``book`` (the symbol's book
        now; a bare price stands for a book of unlimited depth there); raises ApiError as
        Binance would."""
        order = self.validate(params, book, now_ms)
        self._next_order_id += 1
        self.orders.append(order)
        self.update_ms = now_ms
        if order.is_stop:
            order.working_ms = -1
            self._lock_funds(order)
        elif order.type == "MARKET":
            self._fill_market(order, self._book(order.symbol, book), now_ms)
        else:
            self._lock_funds(order)
            self._take(order, self._book(order.symbol, book), now_ms)
        order.checked_ms = now_ms
        return order

    def validate(self, params: dict[str, str], book: Book | float, now_ms: int) -> Order:
        """The order ``params`` describe, checked as Binance checks it (nothing executed:
        ``POST /api/v3/order/test`` stops here)."""
        rules = self.check_symbol(params)
        side = params.get("side")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        kind = params.get("type")
        if not kind:
            raise mandatory("type")
        if kind not in ORDER_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        self._refuse_unsupported(params)
        client_id = params.get("newClientOrderId") or self._new_client_id()
        if not CLIENT_ID_RE.match(client_id):
            raise illegal("newClientOrderId", CLIENT_ID_RE.pattern)
        if any(o.client_order_id == client_id and o.status in OPEN_STATUSES for o in self.orders):
            raise ApiError(400, -2010, MSG_DUPLICATE)
        market = self._book(rules.symbol, book).price
        quote_qty = ZERO
        stop = ZERO
        tif = "GTC"
        if kind == "MARKET":
            for name in ("timeInForce", "price", "stopPrice"):
                if params.get(name):
                    raise ApiError(400, -1106, f"Parameter '{name}' sent when not required.")
            qty, quote_qty = self._market_quantity(rules, params, market)
            price = ZERO
        else:
            if params.get("quoteOrderQty"):
                raise ApiError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
            sent_qty = decimal_param(params, "quantity")
            if sent_qty is None:
                raise mandatory("quantity")
            qty = sent_qty
            price = self._price_param(rules, params, "price", kind in LIMIT_TYPES)
            tif = self._tif_param(params, kind)
            if kind in STOP_TYPES:
                stop = self._price_param(rules, params, "stopPrice", True)
                self._check_trigger(kind, side, stop, market)
            elif params.get("stopPrice"):
                raise ApiError(400, -1106, "Parameter 'stopPrice' sent when not required.")
            self._check_lot(rules, qty, rules.max_qty)
            if kind in ("STOP_LOSS", "TAKE_PROFIT") and qty > rules.market_max_qty:
                raise ApiError(400, -1013, "Filter failure: MARKET_LOT_SIZE")
            if qty * (price or stop) < rules.min_notional:
                raise ApiError(400, -1013, "Filter failure: NOTIONAL")
            if kind == "LIMIT_MAKER" and self._marketable(side, price, market):
                raise ApiError(400, -2010, "Order would immediately match and take.")
        self._check_open_counts(rules.symbol, kind)
        order = Order(
            order_id=self._next_order_id, client_order_id=client_id, symbol=rules.symbol,
            side=side, type=kind, status="NEW", orig_qty=qty, price=price,
            orig_quote_qty=quote_qty, time_in_force=tif, time_ms=now_ms, update_ms=now_ms,
            stop_price=stop, stp_mode=params.get("selfTradePreventionMode") or "NONE",
        )
        if kind != "MARKET":
            asset, amount = self._reserved(order)
            if self.free.get(asset, ZERO) < amount:
                raise ApiError(400, -2010, MSG_INSUFFICIENT)
        return order

    @staticmethod
    def _refuse_unsupported(params: dict[str, str]) -> None:
        """Features this emulator's symbols do not allow, refused as Binance refuses them
        on a symbol without them (decision 0142)."""
        if params.get("icebergQty"):
            raise ApiError(400, -2010, "Iceberg orders are not supported for this symbol.")
        if params.get("trailingDelta"):
            raise ApiError(400, -2010, "Trailing stop orders are not supported for this symbol.")
        if params.get("pegPriceType") or params.get("pegOffsetValue") or params.get(
                "pegOffsetType"):
            raise ApiError(400, -2010, "Pegged orders are not supported for this symbol.")
        strategy_type = int_param(params, "strategyType")
        if strategy_type is not None and strategy_type < 1_000_000:
            raise ApiError(400, -1134, "`strategyType` was less than 1000000.")
        int_param(params, "strategyId")
        mode = params.get("selfTradePreventionMode")
        if mode and mode not in STP_MODES:
            raise ApiError(400, -1100, "Illegal characters found in parameter"
                                       " 'selfTradePreventionMode'; legal range is"
                                       f" '{', '.join(STP_MODES)}'.")

    @staticmethod
    def _price_param(rules: SymbolRules, params: dict[str, str], name: str,
                     required: bool) -> Decimal:
        value = decimal_param(params, name)
        if value is None:
            if required:
                raise mandatory(name)
            return ZERO
        if not required:
            raise ApiError(400, -1106, f"Parameter '{name}' sent when not required.")
        if value < rules.min_price or value > rules.max_price or value % rules.tick_size:
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        return value

    @staticmethod
    def _tif_param(params: dict[str, str], kind: str) -> str:
        tif = params.get("timeInForce")
        if kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            if not tif:
                raise mandatory("timeInForce")
            if tif not in TIME_IN_FORCE:
                raise ApiError(400, -1115, "Invalid timeInForce.")
            return tif
        if tif:
            raise ApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        return "GTC"

    @staticmethod
    def _check_trigger(kind: str, side: str, stop: Decimal, market: Decimal) -> None:
        """A stop above the market for STOP_LOSS BUY / TAKE_PROFIT SELL, below it for
        STOP_LOSS SELL / TAKE_PROFIT BUY (``rest-api.md``); else it would trigger at once."""
        above = (kind.startswith("STOP_LOSS")) == (side == "BUY")
        if (above and stop <= market) or (not above and stop >= market):
            raise ApiError(400, -2010, "Order would trigger immediately.")

    @staticmethod
    def _marketable(side: str, price: Decimal, market: Decimal) -> bool:
        return price >= market if side == "BUY" else price <= market

    def _check_open_counts(self, symbol: str, kind: str) -> None:
        open_here = [o for o in self.orders if o.symbol == symbol and o.status in OPEN_STATUSES]
        if len(open_here) >= MAX_NUM_ORDERS:
            raise ApiError(400, -1013, "Filter failure: MAX_NUM_ORDERS")
        if kind in STOP_TYPES and sum(o.is_stop for o in open_here) >= MAX_NUM_ALGO_ORDERS:
            raise ApiError(400, -1013, "Filter failure: MAX_NUM_ALGO_ORDERS")

    def _book(self, symbol: str, book: Book | float) -> Book:
        if isinstance(book, Book):
            return book
        rules = self.symbols[symbol]
        return Book(dec(book), rules.tick_size, rules.step_size, 1e12, 0)

    def _new_client_id(self) -> str:
        return "emu" + secrets.token_hex(10)

    def _market_quantity(
        self, rules: SymbolRules, params: dict[str, str], price: Decimal
    ) -> tuple[Decimal, Decimal]:
        qty = decimal_param(params, "quantity")
        quote_qty = decimal_param(params, "quoteOrderQty")
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

    @staticmethod
    def _check_lot(rules: SymbolRules, qty: Decimal, max_qty: Decimal) -> None:
        if qty < rules.min_qty or qty > max_qty or (qty - rules.min_qty) % rules.step_size:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")

    def _lock_funds(self, order: Order) -> None:
        asset, amount = self._reserved(order)
        self.free[asset] -= amount
        self.locked[asset] += amount

    def _reserved(self, order: Order) -> tuple[str, Decimal]:
        """The asset and amount an open order keeps locked for its unfilled quantity."""
        rules = self.symbols[order.symbol]
        if order.side == "BUY":
            per_unit = order.price if order.type in LIMIT_TYPES else order.stop_price
            return rules.quote, dec(order.remaining * per_unit)
        return rules.base, order.remaining

    def _release(self, order: Order) -> None:
        """Give back everything ``order`` still keeps locked."""
        asset, amount = self._reserved(order)
        self.locked[asset] -= amount
        self.free[asset] += amount

    # -- execution ------------------------------------------------------------------------
    def _fill_market(self, order: Order, book: Book, now_ms: int) -> None:
        """A market order (or a triggered STOP_LOSS / TAKE_PROFIT) against the book."""
        rules = self.symbols[order.symbol]
        side = "asks" if order.side == "BUY" else "bids"
        quote = order.orig_quote_qty if order.orig_quote_qty > 0 and order.side == "BUY" else None
        fills = book.walk(side, None if quote else order.orig_qty, quote, None, rules.step_size)
        if quote is not None:
            order.orig_qty = sum((q for _, q in fills), ZERO)
        cost = sum((dec(p * q) for p, q in fills), ZERO)
        if order.side == "BUY" and self.free[rules.quote] < cost:
            self._refuse_or_expire(order, now_ms)
            return
        if order.side == "SELL" and self.free[rules.base] < order.orig_qty:
            self._refuse_or_expire(order, now_ms)
            return
        for price, qty in fills:
            self._trade(order, price, qty, now_ms, maker=False, from_lock=False)
        self._finish_taker(order, now_ms)

    def _refuse_or_expire(self, order: Order, now_ms: int) -> None:
        if order.working_ms == now_ms and order.is_stop:  # a triggered stop cannot pay
            order.status, order.expiry_reason, order.update_ms = "EXPIRED", "REJECTED", now_ms
            return
        self.orders.remove(order)
        self._next_order_id -= 1
        raise ApiError(400, -2010, MSG_INSUFFICIENT)

    def _take(self, order: Order, book: Book, now_ms: int) -> None:
        """A limit order's taker phase: eat the book up to its price, then rest, expire (IOC)
        or, for FOK, fill whole or not at all. Its funds are locked already."""
        rules = self.symbols[order.symbol]
        side = "asks" if order.side == "BUY" else "bids"
        fills = []
        if self._marketable(order.side, order.price, book.price):
            fills = book.walk(side, order.remaining, None, order.price, rules.step_size)
        filled = sum((q for _, q in fills), ZERO)
        if order.time_in_force == "FOK" and filled < order.remaining:
            self._release(order)
            order.status, order.expiry_reason, order.update_ms = (
                "EXPIRED", "UNFILLED_FOK_ORDER_EXPIRED", now_ms)
            return
        for price, qty in fills:
            self._trade(order, price, qty, now_ms, maker=False, from_lock=True)
        if order.remaining == 0:
            order.status = "FILLED"
        elif order.time_in_force == "IOC":
            self._release(order)
            order.status, order.expiry_reason = "EXPIRED", "UNFILLED_IOC_QUANTITY_EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if order.executed_qty > 0 else "NEW"
        order.update_ms = now_ms

    def _finish_taker(self, order: Order, now_ms: int) -> None:
        if order.remaining > 0:
            order.status, order.expiry_reason = "EXPIRED", "INSUFFICIENT_LIQUIDITY"
        else:
            order.status = "FILLED"
        order.update_ms = now_ms

    def _trade(self, order: Order, price: Decimal, qty: Decimal, now_ms: int, *,
               maker: bool, from_lock: bool) -> None:
        """One execution: move balances (out of the order's lock when it holds one), pay the
        fee in the asset received, record the trade."""
        rules = self.symbols[order.symbol]
        locked_before = self._reserved(order) if from_lock else None
        quote = dec(qty * price)
        order.executed_qty += qty
        order.cum_quote += quote
        if locked_before is not None:  # the filled part leaves the lock first
            asset, before = locked_before
            released = before - self._reserved(order)[1]
            self.locked[asset] -= released
            self.free[asset] += released
        if order.side == "BUY":
            fee, fee_asset = dec(qty * self.fee_rate), rules.base
            self.free[rules.quote] -= quote
            self.free[rules.base] += qty - fee
        else:
            fee, fee_asset = dec(quote * self.fee_rate), rules.quote
            self.free[rules.base] -= qty
            self.free[rules.quote] += quote - fee
        trade = Trade(
            trade_id=self._next_trade_id, order_id=order.order_id, price=price, qty=qty,
            commission=fee, commission_asset=fee_asset, time_ms=now_ms,
            is_buyer=order.side == "BUY", symbol=order.symbol, is_maker=maker,
        )
        self._next_trade_id += 1
        order.trades.append(trade)
        self.trades.append(trade)
        self.fill_log.append(self.fill_of(order, trade))

    # -- the market path works resting orders -----------------------------------------------
    def settle(self, now_ms: int, market_of: Callable[[str], Market],
               book_at: Callable[[str, int], Book]) -> list[Order]:
        """Let the market path from each open order's last check up to ``now_ms`` trigger
        its stop and fill its resting limit (at its price, as maker); returns the orders
        that got their first fill here (for the unfilled-order count)."""
        first_fills = []
        for order in [o for o in self.orders if o.status in OPEN_STATUSES]:
            had_fill = order.executed_qty > 0
            self._settle_one(order, now_ms, market_of(order.symbol), book_at)
            if not had_fill and order.executed_qty > 0:
                first_fills.append(order)
        return first_fills

    def _settle_one(self, order: Order, now_ms: int, market: Market,
                    book_at: Callable[[str, int], Book]) -> None:
        rules = self.symbols[order.symbol]
        half_tick = float(rules.tick_size) / 2
        start = (order.checked_ms if order.checked_ms is not None else order.time_ms) + 1
        while order.status in OPEN_STATUSES and start <= now_ms:
            if order.is_stop and order.working_ms == -1:
                above = order.type.startswith("STOP_LOSS") == (order.side == "BUY")
                level = float(order.stop_price)
                at = first_touch(market, start, now_ms,
                                 level - half_tick if above else level + half_tick,
                                 below=not above)
                if at is None:
                    break
                self._trigger(order, at, book_at(order.symbol, at))
                start = at + 1
                continue
            below = order.side == "BUY"
            level = float(order.price)
            at = first_touch(market, start, now_ms,
                             level + half_tick if below else level - half_tick, below=below)
            if at is None:
                break
            self._trade(order, order.price, order.remaining, at, maker=True, from_lock=True)
            order.status, order.update_ms = "FILLED", at
            self.update_ms = at
        order.checked_ms = now_ms

    def _trigger(self, order: Order, at_ms: int, book: Book) -> None:
        """A stop reached: it starts working; a market kind fills now, a limit kind takes
        what the book offers up to its price and rests, expires or fills as its TIF says."""
        order.working_ms, order.update_ms = at_ms, at_ms
        self.update_ms = at_ms
        if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
            self._release(order)
            self._fill_market(order, book, at_ms)
        else:
            self._take(order, book, at_ms)

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
        restriction = params.get("cancelRestrictions")
        if restriction and restriction not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise ApiError(400, -1145, "Invalid cancelRestrictions")
        order = self.find(params, -2011, MSG_UNKNOWN_ORDER)
        if order.status not in OPEN_STATUSES:
            raise ApiError(400, -2011, MSG_UNKNOWN_ORDER)
        if restriction and order.status != restriction[len("ONLY_"):]:
            raise ApiError(400, -2011, "Order was not canceled due to cancel restrictions.")
        self._release(order)
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
        limit = int_param(params, "limit")
        limit = 500 if limit is None else limit
        if limit < 1 or limit > 1000:
            raise illegal("limit", "1..1000")
        start, end = time_param(params, "startTime"), time_param(params, "endTime")
        if start is not None and end is not None and end - start > 86_400_000:
            raise ApiError(400, -1127, "More than 24 hours between startTime and endTime.")
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
                "isMaker": t.is_maker,
                "isBestMatch": True,
            }
            for t in chosen
        ]
