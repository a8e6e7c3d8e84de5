"""ExchangeClient: the bot's only door to the exchange (Spot Testnet or the local emulator).

Reads (markets, candles, ticker, balance, time, order look-ups) go through the retry policy.
Market orders are never blindly resent: each carries our own client order id, and after an
answer that leaves the outcome unknown (timeout, 5xx, dropped connection, 429, -1021) the
order is looked up by that id; only an exchange that has no such order gets it again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import ccxt
import pandas as pd

from core.candles import CandleFetch
from core.clock import Clock
from core.errors import ExchangeRefused, ExchangeUnavailable, OrderRejected
from core.formatting import plain
from core.lognames import ERRORS_LOGGER, EVENTS_LOGGER
from core.types import Fill, Side
from exchange.market_rules import MarketRules
from exchange.retry import (
    RETRYABLE,
    RetryPolicy,
    call_with_retry,
    one_line,
    resync_clock,
    wait_before_retry,
)
from exchange.validation import CandleDataError, closed_candles

T = TypeVar("T")

MAX_KLINES = 1000  # Binance's per-request cap for /api/v3/klines


def _hint(exc: BaseException) -> str:
    """What the user should check after a non-retryable refusal of a read."""
    if isinstance(exc, ccxt.AuthenticationError):
        return ("check BINANCE_TESTNET_API_KEY and BINANCE_TESTNET_API_SECRET in .env"
                " (Spot Testnet keys from https://testnet.binance.vision)")
    if isinstance(exc, ccxt.BadSymbol):
        return "check SYMBOL (a Binance spot pair such as BTC/USDT)"
    if "-1120" in str(exc) or "interval" in str(exc).lower():
        return "check TIMEFRAME (an interval this exchange serves, such as 1m or 1h)"
    return "retrying cannot fix this; check the settings"


def _finite_positive(value: Any) -> float | None:
    """``value`` as a float when it is a finite number > 0, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


class ExchangeClient:
    """Candles, prices, balances and safe market orders for one spot symbol.

    Implements the Broker protocol the position manager uses (``base_asset``,
    ``quote_asset``, ``free_balance``, ``market_buy``, ``market_sell``, ``find_order``).
    """

    def __init__(
        self,
        exchange: ccxt.binance,
        symbol: str = "BTC/USDT",
        timeframe: str = "1m",
        *,
        clock: Clock,
        policy: RetryPolicy | None = None,
        logger: logging.Logger | None = None,
        error_logger: logging.Logger | None = None,
    ) -> None:
        if not isinstance(symbol, str) or symbol.count("/") != 1 or "" in symbol.split("/"):
            raise ValueError(f"symbol must look like BASE/QUOTE (e.g. BTC/USDT), got {symbol!r}")
        try:
            seconds = exchange.parse_timeframe(timeframe)
        except Exception:  # ccxt raises NotSupported or plain errors for unknown units
            seconds = 0
        if not seconds or seconds <= 0:
            raise ValueError(f"timeframe {timeframe!r} is not a Binance interval such as 1m or 1h")
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.timeframe_ms = int(seconds * 1000)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.log = logger or logging.getLogger(EVENTS_LOGGER)
        self.errors = error_logger or logging.getLogger(ERRORS_LOGGER)
        self.base_asset, self.quote_asset = symbol.split("/")
        self.rules: MarketRules | None = None

    # -- reads -------------------------------------------------------------------------------

    def _read(self, what: str, call: Callable[[], T]) -> T:
        """``call`` with read retries; a non-retryable refusal becomes ExchangeRefused."""
        try:
            return call_with_retry(
                call, what=what, policy=self.policy, clock=self.clock, exchange=self.exchange,
                logger=self.log, error_logger=self.errors,
            )
        except ccxt.BaseError as exc:
            if isinstance(exc, RETRYABLE):  # pragma: no cover - call_with_retry converts these
                raise
            self.errors.error("%s refused: %s", what, one_line(exc), exc_info=True)
            raise ExchangeRefused(f"{what} refused by the exchange ({one_line(exc)}); "
                                  f"{_hint(exc)}") from exc

    def sync_clock(self) -> int:
        """Measure the local clock's offset to the server's and use it for signing (ms)."""
        return int(self._read("synchronise with the server clock",
                              self.exchange.load_time_difference))

    def server_time_ms(self) -> int:
        """The exchange's current time in epoch ms (ExchangeUnavailable after retries)."""
        return int(self._read("fetch server time", self.exchange.fetch_time))

    def load_markets(self) -> MarketRules:
        """Synchronise the clock, load the spot markets and return this symbol's rules."""
        self.sync_clock()
        self._read("load markets", lambda: self.exchange.load_markets(True))
        try:
            market = self.exchange.market(self.symbol)
        except ccxt.BadSymbol as exc:
            raise ExchangeRefused(
                f"symbol {self.symbol} is not listed on this exchange; {_hint(exc)}"
            ) from exc
        if market.get("spot") is False or market.get("active") is False:
            kind = "not a spot market" if market.get("spot") is False else "not trading now"
            raise ExchangeRefused(
                f"symbol {self.symbol} is listed but {kind}; choose a spot symbol with status"
                " TRADING (SYMBOL or --symbol)")
        self.rules = MarketRules.from_market(market)
        self.base_asset, self.quote_asset = self.rules.base, self.rules.quote
        return self.rules

    def market_rules(self) -> MarketRules:
        """The symbol's rules, loading the markets on first use."""
        return self.rules if self.rules is not None else self.load_markets()

    def fetch_ohlcv_page(self, since_ms: int | None = None, limit: int = MAX_KLINES) -> list[list]:
        """Raw OHLCV rows ``[t, o, h, l, c, v]`` from ``since_ms`` on (read retries).

        The last row may be the still-open candle; see ``fetch_closed_page`` for clean data.
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_KLINES:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_KLINES}, got {limit!r}")
        return self._read(
            "fetch OHLCV",
            lambda: self.exchange.fetch_ohlcv(self.symbol, self.timeframe, since_ms, limit),
        )

    def fetch_closed_page(self, since_ms: int | None = None,
                          limit: int = MAX_KLINES) -> pd.DataFrame:
        """Closed, validated candles from ``since_ms`` on, for the download command.

        Raises CandleDataError (one line) for a bad reply and ExchangeUnavailable after retries.
        """
        now = self.server_time_ms()  # before the candles: a candle closing in between stays out
        return closed_candles(self.fetch_ohlcv_page(since_ms, limit), self.timeframe_ms, now)

    def _skip(self, reason: str) -> CandleFetch:
        """Log a skipped cycle as a WARNING and return it."""
        self.log.warning("skipping this cycle: %s", reason)
        return CandleFetch(frame=None, skip_reason=reason)

    def fetch_closed_candles(self, limit: int) -> CandleFetch:
        """The last ``limit`` closed candles, validated; or a logged reason to skip the cycle.

        The still-open candle (open time + timeframe > server time) is dropped. A malformed
        row (None, missing or non-numeric field), non-increasing times, or a closed candle
        breaking a price rule (NaN, price <= 0, high < low, open/close outside the range)
        skips the whole cycle, as does ExchangeUnavailable.
        """
        if not isinstance(limit, int) or not 1 <= limit < MAX_KLINES:
            raise ValueError(
                f"candle limit must be a whole number from 1 to {MAX_KLINES - 1}, got {limit!r}"
            )
        try:
            now = self.server_time_ms()
            rows = self.fetch_ohlcv_page(None, limit + 1)
        except ExchangeUnavailable as exc:
            return self._skip(f"exchange unavailable: {exc}")
        try:
            closed = closed_candles(rows, self.timeframe_ms, now)
        except CandleDataError as exc:
            return self._skip(f"bad candle data from the exchange: {exc}")
        if closed.empty:
            return self._skip("the exchange returned no closed candle")
        if len(closed) > limit:
            closed = closed.iloc[-limit:].reset_index(drop=True)
        return CandleFetch(frame=closed, skip_reason=None)

    def _ticker_price(self) -> float:
        """The ticker's last price; ExchangeUnavailable when unreachable or unusable."""
        ticker = self._read("fetch ticker", lambda: self.exchange.fetch_ticker(self.symbol))
        price = _finite_positive((ticker or {}).get("last"))
        if price is None:
            raise ExchangeUnavailable(
                f"the {self.symbol} ticker has no usable last price "
                f"({(ticker or {}).get('last')!r})"
            )
        return price

    def last_price(self) -> float | None:
        """The last traded price, or None (logged as a WARNING) when there is none this time."""
        try:
            return self._ticker_price()
        except ExchangeUnavailable as exc:
            self.log.warning("no price this time: %s", exc)
            return None

    def free_balance(self, asset: str) -> float:
        """Free (not locked) balance of ``asset``; 0.0 when the account holds none."""
        balance = self._read("fetch balance", self.exchange.fetch_balance)
        entry = (balance or {}).get(asset) or {}
        free = entry.get("free") if isinstance(entry, dict) else None
        try:
            value = float(free) if free is not None else 0.0
        except (TypeError, ValueError):
            value = 0.0
        return value if math.isfinite(value) else 0.0

    def check_trade_size(self, size: float) -> float:
        """The tradable quantity for TRADE_SIZE at the current price; TradeSizeError if none."""
        return self.market_rules().check_trade_size(size, self._ticker_price())

    # -- orders ------------------------------------------------------------------------------

    def market_buy(self, quantity: float, client_order_id: str) -> Fill:
        """Buy ``quantity`` base at market with our client order id; the resulting Fill."""
        return self._market_order("buy", quantity, client_order_id)

    def market_sell(self, quantity: float, client_order_id: str) -> Fill:
        """Sell ``quantity`` base at market with our client order id; the resulting Fill."""
        return self._market_order("sell", quantity, client_order_id)

    def find_order(self, client_order_id: str) -> Fill | None:
        """The fill of our order ``client_order_id``; None when the exchange has no such order.

        An order that ended without any fill (expired, cancelled) also gives None: nothing
        changed hands. A still-open order raises ExchangeUnavailable (look again later).
        """
        order = self._lookup_order(client_order_id)
        if order is None:
            return None
        if _filled(order) <= 0 and order.get("status") != "open":
            return None
        side = order.get("side")
        if side not in ("buy", "sell"):
            raise ExchangeUnavailable(f"order {client_order_id} has no usable side ({side!r})")
        return self._fill_from_order(order, side, client_order_id)

    def _lookup_order(self, client_order_id: str) -> dict | None:
        """Our order by client id (read retries), or None on OrderNotFound."""
        def call() -> dict | None:
            try:
                return self.exchange.fetch_order(
                    None, self.symbol, {"clientOrderId": client_order_id}
                )
            except ccxt.OrderNotFound:
                return None
        return self._read(f"look up order {client_order_id}", call)

    def _recv_window_s(self) -> float:
        """ccxt's recvWindow in seconds: how long a sent order can still be accepted."""
        options = getattr(self.exchange, "options", {}) or {}
        try:
            return float(options.get("recvWindow", 10_000)) / 1000
        except (TypeError, ValueError):
            return 10.0

    def _market_order(self, side: Side, quantity: float, cid: str) -> Fill:
        """Send a market order at most ``policy.attempts`` times, looking it up before resends."""
        if not isinstance(cid, str) or not cid:
            raise ValueError(f"a client order id is required, got {cid!r}")
        rules = self.market_rules()
        amount = rules.round_quantity(quantity)
        price = self._ticker_price()
        problem = rules.order_problem(amount, price)
        if problem is not None:
            raise OrderRejected(f"{side.upper()} {cid} not sent: {problem}")
        if amount != quantity:
            self.log.info("%s quantity %s rounded down to the lot step: %s %s",
                          side.upper(), plain(quantity), plain(amount), self.base_asset)
        attempts = self.policy.attempts
        last: BaseException | None = None
        for send in range(1, attempts + 1):
            sent_at = self.clock.now_ms()
            try:
                order = self.exchange.create_order(
                    self.symbol, "market", side, amount, None, {"clientOrderId": cid}
                )
            except ccxt.InvalidOrder as exc:
                if "duplicate order" not in str(exc).lower():
                    raise self._rejected(side, cid, exc) from exc
                last = exc  # our id is already on the exchange: look it up, never resend
            except RETRYABLE as exc:
                last = exc
            except ccxt.ExchangeError as exc:
                raise self._rejected(side, cid, exc) from exc
            else:
                return self._fill_from_order(order, side, cid)
            found = self._after_unknown_outcome(side, cid, last, send, sent_at)
            if found is not None:
                if found.get("side") not in (None, side):
                    raise OrderRejected(
                        f"{side.upper()} {cid} not sent: client order id {cid} already belongs"
                        f" to a {found.get('side')} order on the exchange; use a fresh id"
                    )
                self.log.info("%s %s found on the exchange (status %s): not sent again",
                              side.upper(), cid, found.get("status"))
                return self._fill_from_order(found, side, cid)
            if send < attempts:
                self.log.warning("%s %s is not on the exchange; sending it again (send %d of %d)",
                                 side.upper(), cid, send + 1, attempts)
        message = (f"{side.upper()} {cid} not placed after {attempts} send(s): "
                   f"{one_line(last) if last else 'no answer'}")
        self.errors.error("%s", message, exc_info=last)
        raise ExchangeUnavailable(message)

    def _rejected(self, side: Side, cid: str, exc: BaseException) -> OrderRejected:
        """Log a refusal and turn it into OrderRejected (one line)."""
        self.log.warning("%s %s rejected: %s", side.upper(), cid, one_line(exc))
        return OrderRejected(f"{side.upper()} {cid} rejected by the exchange: {one_line(exc)}")

    def _after_unknown_outcome(
        self, side: Side, cid: str, exc: BaseException, send: int, sent_at: int
    ) -> dict | None:
        """Wait, then look the order up by client id: the order dict, or None if absent.

        The wait is the backoff (or Retry-After), and at least until the send is older than
        recvWindow: by then a copy still travelling to the exchange would be refused, so an
        OrderNotFound really means "never placed".
        """
        wait = wait_before_retry(exc, send, self.policy, self.exchange)
        settle = self._recv_window_s() - (self.clock.now_ms() - sent_at) / 1000
        wait = max(wait, settle)
        self.log.warning("%s %s: outcome unknown (%s); looking it up by client order id in %.1f s",
                         side.upper(), cid, one_line(exc), wait)
        if isinstance(exc, ccxt.InvalidNonce):
            resync_clock(self.exchange, self.log)
        self.clock.sleep(wait)
        try:
            return self._lookup_order(cid)
        except (ExchangeUnavailable, ExchangeRefused) as lookup_exc:
            message = (f"{side.upper()} {cid}: outcome unknown after {one_line(exc)} and the"
                       f" look-up failed; reconcile by client order id {cid} later")
            self.errors.error("%s", message, exc_info=lookup_exc)
            raise ExchangeUnavailable(message) from lookup_exc

    def _fill_from_order(self, order: dict, side: Side, cid: str) -> Fill:
        """A Fill from a ccxt order; fees from its trades, or from myTrades when it has none."""
        status = order.get("status")
        filled = _filled(order)
        if status == "open":
            raise ExchangeUnavailable(
                f"{side.upper()} {cid} is still open on the exchange ({plain(filled)} filled);"
                " reconcile by client order id later"
            )
        if filled <= 0:
            raise OrderRejected(f"{side.upper()} {cid} ended {status or 'unknown'} without a fill")
        price = _finite_positive(order.get("average"))
        if price is None:
            cost = _finite_positive(order.get("cost"))
            if cost is None:
                raise ExchangeUnavailable(f"{side.upper()} {cid}: the exchange reported no price")
            price = cost / filled
        trades = order.get("trades") or []
        if not trades:
            trades = self._order_trades(order)
        received = self.base_asset if side == "buy" else self.quote_asset
        fee, currency = _fee_in(trades, order, received)
        timestamp = order.get("timestamp") or order.get("lastTradeTimestamp")
        if timestamp is None and trades:
            timestamp = max(t.get("timestamp") or 0 for t in trades) or None
        return Fill(
            order_id=str(order.get("id")),
            client_order_id=str(order.get("clientOrderId") or cid),
            side=side,
            price=float(price),
            quantity=float(filled),
            fee=fee,
            fee_currency=currency,
            timestamp_ms=int(timestamp if timestamp is not None else self.clock.now_ms()),
        )

    def _order_trades(self, order: dict) -> list[dict]:
        """The trades of ``order`` from myTrades (a GET order reply carries no fees)."""
        order_id = str(order.get("id"))
        # Binance allows symbol + orderId but not orderId + startTime, so no ``since`` here.
        trades = self._read(
            f"fetch trades of order {order_id}",
            lambda: self.exchange.fetch_my_trades(self.symbol, None, None, {"orderId": order_id}),
        )
        return [t for t in trades or [] if str(t.get("order")) == order_id]


def _filled(order: dict) -> float:
    """Filled base quantity of a ccxt order (0.0 when absent)."""
    try:
        value = float(order.get("filled") or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def _fee_in(trades: list[dict], order: dict, received: str) -> tuple[float, str]:
    """Total commission and its currency: the received asset's, else the largest other one.

    Binance charges in the received asset (base for buys, quote for sells) unless fees are
    paid in BNB; trades are preferred over the order's own fee list, which GET order lacks.
    """
    totals: dict[str, float] = {}
    fees = [t.get("fee") for t in trades] if trades else list(order.get("fees") or [])
    if not trades and not fees and order.get("fee"):
        fees = [order.get("fee")]
    for fee in fees:
        if not fee or fee.get("cost") is None:
            continue
        currency = str(fee.get("currency") or received)
        totals[currency] = totals.get(currency, 0.0) + float(fee["cost"])
    if received in totals or not totals:
        return totals.get(received, 0.0), received
    currency = max(totals, key=lambda c: totals[c])
    return totals[currency], currency
