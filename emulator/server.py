"""The local Binance Spot emulator: an HTTP server on loopback that the real ``ccxt.binance`` uses.

``EmulatorServer(market, clock).start()`` serves the spot REST subset ccxt needs (see
``docs/readme/emulator.md``) in a daemon thread, one thread per connection. Every time it
serves comes from the injected clock; every price from the market. Faults are switched
through ``server.faults``. Any request it has no route for answers 404 (JSON) and is
recorded in ``unknown_requests`` so a test can fail loudly.

Non-Binance extension endpoints live under ``/emulator/`` (ccxt's binance class builds only
``/api/...`` URLs, so a bot cannot reach them by accident):

* ``GET /emulator/clock`` -> ``{"serverTime": ms, "speed": x}`` (speed ``null`` when the
  clock does not run by itself);
* ``GET /emulator/fills`` -> every fill the emulator ever made (also before a wipe);
* ``POST /emulator/fault`` with a JSON body such as ``{"fault": "outage", "seconds": 30}``
  and the ``X-MBX-APIKEY`` header -> arms a fault, answers the faults now armed.

State survives a restart: ``export_state()`` / ``import_state(doc)`` and, with
``state_path=``, an atomic save after every accepted or cancelled order, every wipe and on
``stop()`` (``emulator/persistence.py``).
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from core.clock import Clock
from core.loopback import is_loopback_host
from core.types import Fill
from emulator.account import OPEN_STATUSES, Account
from emulator.auth import check_signed
from emulator.book import (
    Book,
    agg_trade_json,
    recent_trades,
    trade_json,
    trades_between,
    trades_from_id,
)
from emulator.faults import FaultInjector
from emulator.klines import (
    INTERVALS_MS,
    MINI_FIELDS,
    WEEK_SHIFT_MS,
    WINDOW_FIELDS,
    klines,
    second_klines,
    ticker_24hr,
    window_stats,
)
from emulator.limits import RateLimiter, RateLimits
from emulator.market import Market
from emulator.persistence import account_state, restore_account, save_emulator_state
from emulator.routes import SPECS
from emulator.symbols import listed_markets
from emulator.wire import (
    MSG_BAD_COMBO,
    MSG_INVALID_INTERVAL,
    MSG_INVALID_SYMBOL,
    MSG_OVERLOADED,
    MSG_TOO_MANY,
    MSG_UNKNOWN_ERROR,
    MSG_UNKNOWN_ORDER,
    MSG_UNSUPPORTED,
    PERMISSIONS,
    SYMBOL_RANGE,
    SYMBOL_RE,
    SYMBOL_STATUSES,
    SYMBOLS_RANGE,
    SYMBOLS_RE,
    ApiError,
    bool_param,
    fmt8,
    illegal,
    int_param,
    mandatory,
    time_param,
    time_unit,
    time_zone_ms,
    to_microseconds,
    window_size_ms,
)

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_API_SECRET = "emulator-api-secret"
DEFAULT_QUOTE_BALANCE = 10_000.0
DEFAULT_BASE_BALANCE = 1.0
REQUEST_LOG_SIZE = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator received and what it answered (``status`` 0 = dropped)."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    time_ms: int


@dataclass
class _Request:
    method: str
    path: str
    raw_query: str
    raw_body: str
    params: dict[str, str]
    headers: dict[str, str]
    ip: str = "127.0.0.1"
    duplicate: str | None = None  # a parameter sent twice in the query or twice in the body


@dataclass
class _Answer:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0


_Route = Callable[[_Request], object]


class EmulatorServer:
    """A Binance Spot-compatible HTTP server on loopback over a ``Market`` and a ``Clock``.

    ``market`` is the market of ``symbol`` (the primary one); BTC/USDT, ETH/USDT and
    BNB/USDT are listed as well, each on its own generated market (``emulator/symbols.py``);
    ``markets`` (ccxt name -> Market) replaces or adds any of them.

    Default account: 10,000 of the quote asset and 1 of every base asset (10,000 USDT, 1 BTC,
    1 ETH, 1 BNB), taker fee ``fee_rate`` (0.1 %) in the asset received.

    ``state_path``: save the state there (atomically) after every accepted or cancelled
    order, every wipe and on ``stop()``; load it first with ``load_emulator_state``. A file
    that this server has neither loaded nor written is never overwritten (see ``save_errors``).
    """

    def __init__(
        self,
        market: Market,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        symbol: str = "BTC/USDT",
        balances: dict[str, float] | None = None,
        fee_rate: float = 0.001,
        state_path: Path | None = None,
        markets: dict[str, Market] | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(
                f"the emulator accepts any order for its key; bind it to a loopback host"
                f" (127.0.0.1), not {host!r}"
            )
        if not api_key or not api_secret:
            raise ValueError("the emulator needs a non-empty API key and secret")
        self.market = market
        self.clock = clock
        self.host = host
        self.api_key = api_key
        self.api_secret = api_secret
        self.symbol = symbol
        self.listed = listed_markets(symbol, market, markets)
        self.rules = next(iter(self.listed.values()))[0]
        all_rules = [rules for rules, _ in self.listed.values()]
        if balances is None:
            balances = {rules.quote: DEFAULT_QUOTE_BALANCE for rules in all_rules}
            balances.update({rules.base: DEFAULT_BASE_BALANCE for rules in all_rules})
        self._lock = threading.RLock()
        self._account = Account(all_rules, balances, fee_rate)
        self.faults = FaultInjector(clock, on_wipe=self.wipe)
        self.unknown_requests: list[str] = []
        self.internal_errors: list[str] = []
        self.state_path = Path(state_path) if state_path is not None else None
        self.save_errors: list[str] = []  # autosaves that failed (disk full, foreign file)
        self._state_owned = False  # True once this server imported or wrote its state file
        self._records: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self.request_count = 0
        self.limiter = RateLimiter(limits or RateLimits())
        self._requested_port = int(port)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], _Route] = {
            ("GET", "/api/v3/ping"): lambda r: {},
            ("GET", "/api/v3/time"): lambda r: {"serverTime": self.clock.now_ms()},
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/klines"): self._klines,
            ("GET", "/api/v3/uiKlines"): self._klines,
            ("GET", "/api/v3/ticker/24hr"): self._ticker_24hr,
            ("GET", "/api/v3/ticker/price"): self._ticker_price,
            ("GET", "/api/v3/ticker/bookTicker"): self._book_ticker,
            ("GET", "/api/v3/ticker"): self._rolling_ticker,
            ("GET", "/api/v3/ticker/tradingDay"): self._trading_day,
            ("GET", "/api/v3/depth"): self._depth,
            ("GET", "/api/v3/trades"): self._trades,
            ("GET", "/api/v3/historicalTrades"): self._historical_trades,
            ("GET", "/api/v3/aggTrades"): self._agg_trades,
            ("GET", "/api/v3/avgPrice"): self._avg_price,
            ("POST", "/api/v3/order/test"): self._test_order,
            ("DELETE", "/api/v3/openOrders"): self._cancel_open_orders,
            ("GET", "/api/v3/account/commission"): self._commission,
            ("GET", "/api/v3/account"): self._account_info,
            ("POST", "/api/v3/order"): self._create_order,
            ("GET", "/api/v3/order"): self._get_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/allOrders"): self._all_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/rateLimit/order"): self._rate_limit_order,
        }
        self._extensions: dict[tuple[str, str], _Route] = {
            ("GET", "/emulator/clock"): self._emulator_clock,
            ("GET", "/emulator/fills"): self._emulator_fills,
            ("POST", "/emulator/fault"): self._emulator_fault,
        }

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"emulator": self})
        self._httpd = ThreadingHTTPServer((self.host, self._requested_port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"emulator:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._autosave()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start``)."""
        if self._httpd is None:
            return self._requested_port
        return int(self._httpd.server_address[1])

    @property
    def next_order_id(self) -> int:
        """The id the next accepted order gets."""
        with self._lock:
            return self._account._next_order_id

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid after ``start``)."""
        return f"http://{self.host}:{self.port}"

    # -- state for tests ------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """The last 10,000 requests received (oldest first); ``request_count`` counts all."""
        with self._lock:
            return list(self._records)

    @property
    def orders(self) -> list[dict]:
        """Every order since the last wipe, in the ``GET /api/v3/order`` shape."""
        with self._lock:
            return [o.as_query() for o in self._account.orders]

    @property
    def trades(self) -> list[Fill]:
        """Every fill since the last wipe, as shared ``Fill`` records."""
        with self._lock:
            account = self._account
            by_id = {o.order_id: o for o in account.orders}
            return [account.fill_of(by_id[t.order_id], t) for t in account.trades]

    @property
    def fills(self) -> list[Fill]:
        """Every fill the emulator ever made, wipes included (for journal comparisons)."""
        with self._lock:
            return list(self._account.fill_log)

    def balances(self) -> dict[str, float]:
        """Free balance of every asset, ``{"BTC": 1.0, "USDT": 10000.0}``."""
        with self._lock:
            return {a: v["free"] for a, v in self._account.snapshot().items()}

    def locked_balances(self) -> dict[str, float]:
        """Balance of every asset locked in resting orders."""
        with self._lock:
            return {a: v["locked"] for a, v in self._account.snapshot().items()}

    def set_balance(self, asset: str, amount: float) -> None:
        """Set the free balance of ``asset``."""
        with self._lock:
            self._account.set_balance(asset, amount)

    def wipe(self) -> None:
        """The testnet reset: orders and trades gone, balances back to the defaults."""
        with self._lock:
            self._account.wipe()
            self._autosave()

    # -- state across restarts ------------------------------------------------------------
    def export_state(self) -> dict:
        """Balances, orders, trades, fills, id counters and ``clock_ms``, JSON-serialisable."""
        with self._lock:
            state = account_state(self._account)
            state["clock_ms"] = int(self.clock.now_ms())
            return state

    def import_state(self, state: dict) -> None:
        """Replace the account with an exported state (its ``clock_ms`` is for the caller's
        clock). ValueError (one line) on a bad document; the account is then unchanged."""
        with self._lock:
            try:
                restore_account(self._account, state)
            except ValueError as exc:
                raise ValueError(f"emulator state rejected: {exc}") from None
            self._state_owned = True

    def _autosave(self) -> None:
        """Save to ``state_path`` if set; failures are logged and kept in ``save_errors``."""
        path = self.state_path
        if path is None:
            return
        with self._lock:
            if not self._state_owned and path.exists():
                problem = (f"not overwriting {path}: it holds an emulator state this server"
                           " has not loaded (call load_emulator_state first)")
            else:
                try:
                    save_emulator_state(self, path)
                except OSError as exc:
                    problem = f"could not save the emulator state to {path}: {exc}"
                else:
                    self._state_owned = True
                    return
            log.error("%s", problem)
            self.save_errors.append(problem)

    # -- request handling -----------------------------------------------------------------
    def handle(self, request: _Request) -> _Answer:
        """Answer one request: faults, rate limits, routing, parameter and signature checks;
        every error as Binance's ``{"code", "msg"}`` and every answer with its weight headers."""
        key = (request.method, request.path)
        extension = self._extensions.get(key)
        if extension is not None or request.path.startswith("/emulator/"):
            return self._serve_extension(request, extension)
        now = self.clock.now_ms()
        decision = self.faults.decide(request.method, request.path)
        if decision.drop:
            return _Answer(0, None, drop=True)
        delay = decision.delay_s
        if decision.status is not None:
            answer = self._fault_answer(decision.status, decision.retry_after_s, delay)
            answer.headers.update(self.limiter.weight_headers(request.ip, now))
            return answer
        spec, handler = SPECS.get(key), self._routes.get(key)
        if spec is None or handler is None:
            with self._lock:
                self.unknown_requests.append(f"{request.method} {request.path}")
            return _Answer(404, {"code": -1020, "msg": MSG_UNSUPPORTED},
                           self.limiter.weight_headers(request.ip, now), delay_s=delay)
        try:
            _, headers = self.limiter.admit(request.ip, spec.weight_of(request.params), now)
        except ApiError as exc:
            return _Answer(exc.status, exc.body(), exc.headers, delay_s=delay)
        try:
            if request.duplicate is not None:
                raise ApiError(400, -1101, "Duplicate values for a parameter detected.")
            if spec.signed:
                self._check_signed(request)
            unread = set(request.params) - spec.accepted()
            if unread:
                sent = len(request.params)
                raise ApiError(400, -1104, f"Not all sent parameters were read; read"
                                           f" '{sent - len(unread)}' parameter(s) but was sent"
                                           f" '{sent}'.")
            if spec.new_order:
                self.limiter.check_new_order(now)
            unit = time_unit(request.headers)
            self.settle(now)
            result = handler(request)
        except ApiError as exc:
            return _Answer(exc.status, exc.body(), {**headers, **exc.headers}, delay_s=delay)
        except Exception as exc:  # the client must get JSON, the test must see the bug
            log.exception("emulator failed on %s %s", request.method, request.path)
            with self._lock:
                self.internal_errors.append(f"{request.method} {request.path}: {exc!r}")
            return _Answer(500, {"code": -1000, "msg": MSG_UNKNOWN_ERROR}, headers,
                           delay_s=delay)
        answer = result if isinstance(result, _Answer) else _Answer(200, result)
        if unit == "MICROSECOND" and answer.status == 200:
            answer.body = to_microseconds(
                answer.body, klines=request.path in ("/api/v3/klines", "/api/v3/uiKlines"),
                period_end_close=request.path == "/api/v3/ticker/tradingDay")
        answer.delay_s += delay
        answer.headers = {**headers, **answer.headers}
        return answer

    def _serve_extension(self, request: _Request, handler: _Route | None) -> _Answer:
        """The ``/emulator/`` endpoints: no faults, no weights."""
        if handler is None:
            with self._lock:
                self.unknown_requests.append(f"{request.method} {request.path}")
            return _Answer(404, {"code": -1020, "msg": MSG_UNSUPPORTED})
        try:
            answer = handler(request)
        except ApiError as exc:
            return _Answer(exc.status, exc.body())
        return answer if isinstance(answer, _Answer) else _Answer(200, answer)

    def record(self, request: _Request, status: int) -> None:
        """Keep a request in the log."""
        with self._lock:
            self.request_count += 1
            self._records.append(
                RequestRecord(request.method, request.path, dict(request.params), status,
                              self.clock.now_ms())
            )

    @staticmethod
    def _fault_answer(status: int, retry_after_s: float | None, delay: float) -> _Answer:
        if status == 429:
            retry = str(max(1, math.ceil(retry_after_s or 0)))
            return _Answer(429, {"code": -1003, "msg": MSG_TOO_MANY}, {"Retry-After": retry},
                           delay_s=delay)
        if status == 500:
            return _Answer(500, {"code": -1000, "msg": MSG_UNKNOWN_ERROR}, delay_s=delay)
        if status == 503:
            return _Answer(503, {"code": -1008, "msg": MSG_OVERLOADED}, delay_s=delay)
        # Any other status stands for a proxy in front of Binance (a 502 gateway page): not
        # Binance's own answer, so deliberately not its error shape.
        return _Answer(status, {"msg": f"emulated HTTP {status}"}, delay_s=delay)

    def _check_signed(self, request: _Request) -> None:
        check_signed(
            header_key=request.headers.get("x-mbx-apikey"),
            raw_query=request.raw_query,
            raw_body=request.raw_body,
            params=request.params,
            api_key=self.api_key,
            api_secret=self.api_secret,
            now_ms=self.clock.now_ms(),
            speed=float(getattr(self.clock, "speed", 1.0)),
        )
        if self.faults.take_clock_skew():
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # -- public endpoints -----------------------------------------------------------------
    def _symbol_param(self, params: dict[str, str], required: bool = True) -> str | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise mandatory("symbol")
            return None
        return self._listed_symbol("symbol", symbol)

    def _listed_symbol(self, name: str, symbol: str) -> str:
        if not SYMBOL_RE.match(symbol):
            raise illegal(name, SYMBOL_RANGE)
        if symbol not in self.listed:
            raise ApiError(400, -1121, MSG_INVALID_SYMBOL)
        return symbol

    def _symbols_param(self, params: dict[str, str]) -> list[str] | None:
        raw = params.get("symbols")
        if not raw:
            return None
        if not SYMBOLS_RE.match(raw):
            raise illegal("symbols", SYMBOLS_RANGE)
        names = json.loads(raw)
        if len(set(names)) != len(names):
            raise ApiError(400, -1151, "Symbol is present multiple times in the list.")
        for name in names:
            self._listed_symbol("symbols", name)
        return names

    def _chosen_symbols(self, params: dict[str, str], required: bool = False
                        ) -> tuple[str | None, list[str]]:
        """``symbol`` (when sent) and the symbols an answer covers: that one, those of
        ``symbols``, or (unless ``required``) every listed symbol. ``symbolStatus`` other than
        TRADING empties the list, or is -1220 for a single symbol (all listed symbols trade)."""
        if params.get("symbol") and params.get("symbols"):
            raise ApiError(400, -1128, MSG_BAD_COMBO)
        status = params.get("symbolStatus")
        if status and status not in SYMBOL_STATUSES:
            raise ApiError(400, -1122, "Invalid symbolStatus.")
        single = self._symbol_param(params, required=False)
        if single:
            if status and status != "TRADING":
                raise ApiError(400, -1220, "The symbol's status does not match the requested"
                                           " symbolStatus.")
            return single, [single]
        names = self._symbols_param(params)
        if names is None:
            if required:
                raise ApiError(400, -1102, "Param 'symbol' or 'symbols' must be sent, but both"
                                           " were empty/null!")
            names = list(self.listed)
        return None, [] if status and status != "TRADING" else names

    def market_of(self, symbol: str) -> Market:
        """The market of a listed symbol (exchange id such as ``ETHUSDT``)."""
        return self.listed[symbol][1]

    def book_of(self, symbol: str, at_ms: int) -> Book:
        """The generated order book of a listed symbol at ``at_ms`` (``emulator/book.py``)."""
        rules, market = self.listed[symbol]
        return Book.of(market, symbol, at_ms, rules.tick_size, rules.step_size)

    def settle(self, now_ms: int | None = None) -> None:
        """Let the market path up to now trigger stops and fill resting limit orders."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        with self._lock:
            account = self._account
            waiting = [o for o in account.orders if o.status in OPEN_STATUSES]
            if not waiting:
                return
            before = [(o.status, o.working_ms, o.executed_qty) for o in waiting]
            for _ in account.settle(now, self.market_of, self.book_of):
                self.limiter.order_filled_later(now)
            if [(o.status, o.working_ms, o.executed_qty) for o in waiting] != before:
                self._autosave()

    def _exchange_info(self, request: _Request) -> dict:
        params = request.params
        permissions = self._permissions_param(params)
        if params.get("symbolStatus") and (params.get("symbol") or params.get("symbols")):
            raise ApiError(400, -1128, MSG_BAD_COMBO)
        if permissions is not None and (params.get("symbol") or params.get("symbols")):
            raise ApiError(400, -1128, MSG_BAD_COMBO)
        show_sets = bool_param(params, "showPermissionSets", default=True)
        _, names = self._chosen_symbols(params)
        wanted = set(permissions or ["SPOT", "MARGIN", "LEVERAGED"])
        symbols = []
        for name in names:
            info = self.listed[name][0].exchange_info()
            if not wanted & {p for group in info["permissionSets"] for p in group}:
                continue
            if not show_sets:
                info["permissionSets"] = []
            symbols.append(info)
        return {
            "timezone": "UTC",
            "serverTime": self.clock.now_ms(),
            "rateLimits": self.limiter.limits.exchange_info(),
            "exchangeFilters": [],
            "symbols": symbols,
        }

    @staticmethod
    def _permissions_param(params: dict[str, str]) -> list[str] | None:
        raw = params.get("permissions")
        if not raw:
            return None
        try:
            names = json.loads(raw) if raw.startswith("[") else [raw]
        except ValueError:
            names = None
        if not isinstance(names, list) or any(n not in PERMISSIONS for n in names):
            raise illegal("permissions", ", ".join(PERMISSIONS))
        return names

    def _klines(self, request: _Request) -> list:
        params = request.params
        symbol = self._symbol_param(params)
        assert symbol is not None
        market = self.market_of(symbol)
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        interval_ms = INTERVALS_MS.get(interval)
        if interval != "1s" and (interval_ms is None or interval_ms % market.timeframe_ms):
            raise ApiError(400, -1120, MSG_INVALID_INTERVAL)
        limit = int_param(params, "limit")
        limit = 500 if limit is None else min(limit, 1000)
        if limit < 1:
            raise illegal("limit", "1..1000")
        if interval == "1s":
            return second_klines(market, self.clock.now_ms(),
                                 start_ms=time_param(params, "startTime"),
                                 end_ms=time_param(params, "endTime"), limit=limit)
        assert interval_ms is not None  # checked above for every interval but 1s
        shift = time_zone_ms(params.get("timeZone"))
        if interval == "1w":
            shift += WEEK_SHIFT_MS
        return klines(
            market,
            interval_ms,
            self.clock.now_ms(),
            start_ms=time_param(params, "startTime"),
            end_ms=time_param(params, "endTime"),
            limit=limit,
            shift_ms=shift,
        )

    # -- order book, trades, average price, tickers (emulator/book.py) ---------------------
    def _limit_param(self, params: dict[str, str], default: int, maximum: int) -> int:
        limit = int_param(params, "limit")
        if limit is None:
            return default
        if limit < 1:
            raise illegal("limit", f"1..{maximum}")
        return min(limit, maximum)

    def _one_symbol(self, params: dict[str, str]) -> str:
        symbol = self._symbol_param(params)
        assert symbol is not None
        return symbol

    def _depth(self, request: _Request) -> dict:
        params = request.params
        _, names = self._chosen_symbols({k: v for k, v in params.items() if k != "limit"})
        symbol = self._one_symbol(params)
        if not names:
            raise ApiError(400, -1220, "The symbol's status does not match the requested"
                                       " symbolStatus.")
        limit = self._limit_param(params, 100, 5000)
        now = self.clock.now_ms()
        book = self.book_of(symbol, now)
        with self._lock:
            own = [o for o in self._account.orders
                   if o.symbol == symbol and o.status in OPEN_STATUSES and o.working_time >= 0]
        sides = {}
        for side, name in (("bids", "BUY"), ("asks", "SELL")):
            levels = dict(book.levels(side, limit))
            for order in own:
                if order.side == name and order.price in levels:
                    levels[order.price] += order.remaining
            sides[side] = [[fmt8(p), fmt8(q)] for p, q in levels.items()]
        return {"lastUpdateId": now, "bids": sides["bids"], "asks": sides["asks"]}

    def _trades(self, request: _Request) -> list:
        symbol = self._one_symbol(request.params)
        limit = self._limit_param(request.params, 500, 1000)
        tape = recent_trades(self.market_of(symbol), self.clock.now_ms(), limit)
        return [trade_json(tape, i) for i in range(len(tape))]

    def _historical_trades(self, request: _Request) -> list:
        params = request.params
        symbol = self._one_symbol(params)
        limit = self._limit_param(params, 500, 1000)
        from_id = int_param(params, "fromId")
        market, now = self.market_of(symbol), self.clock.now_ms()
        tape = (recent_trades(market, now, limit) if from_id is None
                else trades_from_id(market, from_id, now, limit))
        return [trade_json(tape, i) for i in range(len(tape))]

    def _agg_trades(self, request: _Request) -> list:
        params = request.params
        symbol = self._one_symbol(params)
        limit = self._limit_param(params, 500, 1000)
        from_id = int_param(params, "fromId")
        start, end = time_param(params, "startTime"), time_param(params, "endTime")
        market, now = self.market_of(symbol), self.clock.now_ms()
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, MSG_BAD_COMBO)
        if start is not None and end is not None and end - start > 3_600_000:
            raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        if from_id is not None:
            tape = trades_from_id(market, from_id, now, limit)
        elif start is not None or end is not None:
            lo = start if start is not None else (end or now) - 3_600_000
            hi = end if end is not None else lo + 3_600_000
            tape = trades_between(market, lo, hi, now)
            tape = tape.take(slice(0, limit) if start is not None
                             else slice(max(0, len(tape) - limit), None))
        else:
            tape = recent_trades(market, now, limit)
        return [agg_trade_json(tape, i) for i in range(len(tape))]

    def _avg_price(self, request: _Request) -> dict:
        symbol = self._one_symbol(request.params)
        market, now = self.market_of(symbol), self.clock.now_ms()
        tape = trades_between(market, now - 5 * 60_000, now, now)
        if len(tape) == 0:
            return {"mins": 5, "price": fmt8(market.price_at(now)), "closeTime": now}
        vwap = float((tape.prices * tape.qtys).sum() / tape.qtys.sum())
        return {"mins": 5, "price": fmt8(vwap), "closeTime": int(tape.times[-1])}

    def _book_ticker(self, request: _Request) -> object:
        single, names = self._chosen_symbols(request.params)
        now = self.clock.now_ms()
        tickers = []
        for name in names:
            book = self.book_of(name, now)
            (bid, bid_qty), (ask, ask_qty) = book.levels("bids", 1)[0], book.levels("asks", 1)[0]
            tickers.append({"symbol": name, "bidPrice": fmt8(bid), "bidQty": fmt8(bid_qty),
                            "askPrice": fmt8(ask), "askQty": fmt8(ask_qty)})
        return tickers[0] if single else tickers

    @staticmethod
    def _ticker_type(params: dict[str, str]) -> str:
        kind = params.get("type") or "FULL"
        if kind not in ("FULL", "MINI"):
            raise ApiError(400, -1139, "Invalid ticker type.")
        return kind

    def _window_symbols(self, params: dict[str, str]) -> tuple[str | None, list[str]]:
        """``_chosen_symbols`` of a window ticker: a symbol is required, at most 100 of them."""
        single, names = self._chosen_symbols(params, required=True)
        if len(names) > 100:
            raise illegal("symbols", "at most 100 symbols")
        return single, names

    def _rolling_ticker(self, request: _Request) -> object:
        params = request.params
        kind = self._ticker_type(params)
        window = window_size_ms(params.get("windowSize"))
        single, names = self._window_symbols(params)
        now = self.clock.now_ms()
        open_ms = (now - window) // 60_000 * 60_000
        fields = MINI_FIELDS if kind == "MINI" else WINDOW_FIELDS
        tickers = [{k: v for k, v in window_stats(self.market_of(n), n, open_ms, now).items()
                    if k in fields} for n in names]
        return tickers[0] if single else tickers

    def _trading_day(self, request: _Request) -> object:
        params = request.params
        kind = self._ticker_type(params)
        shift = time_zone_ms(params.get("timeZone"))
        single, names = self._window_symbols(params)
        now = self.clock.now_ms()
        day_open = (now + shift) // 86_400_000 * 86_400_000 - shift
        fields = MINI_FIELDS if kind == "MINI" else WINDOW_FIELDS
        tickers = [{k: v for k, v in window_stats(self.market_of(n), n, day_open, now,
                                                  day_open + 86_400_000 - 1).items()
                    if k in fields} for n in names]
        return tickers[0] if single else tickers

    def _ticker_24hr(self, request: _Request) -> object:
        kind = self._ticker_type(request.params)
        single, names = self._chosen_symbols(request.params)
        now = self.clock.now_ms()
        tickers = [ticker_24hr(self.market_of(name), name, now, self.book_of(name, now))
                   for name in names]
        if kind == "MINI":
            tickers = [{k: t[k] for k in MINI_FIELDS} for t in tickers]
        return tickers[0] if single else tickers

    def _ticker_price(self, request: _Request) -> object:
        single, names = self._chosen_symbols(request.params)
        now = self.clock.now_ms()
        tickers = [{"symbol": name, "price": fmt8(self.market_of(name).price_at(now))}
                   for name in names]
        return tickers[0] if single else tickers

    # -- signed endpoints -----------------------------------------------------------------
    def _account_info(self, request: _Request) -> dict:
        omit = bool_param(request.params, "omitZeroBalances")
        with self._lock:
            return self._account.account_info(self.clock.now_ms(), omit_zero=omit)

    def _create_order(self, request: _Request) -> object:
        symbol = self._symbol_param(request.params)
        assert symbol is not None
        with self._lock:
            now = self.clock.now_ms()
            book = self.book_of(symbol, now)
            kind = request.params.get("newOrderRespType")
            if kind and kind not in ("ACK", "RESULT", "FULL"):
                raise illegal("newOrderRespType", "ACK, RESULT, FULL")
            order = self._account.place(request.params, book, now)
            answer = order.as_full_ack()
            self._autosave()  # on disk before the client can learn of the order
        kind = kind or ("FULL" if order.type in ("MARKET", "LIMIT") else "ACK")
        if kind == "ACK":
            answer = {k: answer[k] for k in ("symbol", "orderId", "orderListId",
                                             "clientOrderId", "transactTime")}
        elif kind == "RESULT":
            answer.pop("fills")
        counts = self.limiter.order_placed(now, filled=bool(order.trades))
        timeout = self.faults.take_order_timeout()
        if timeout is None:
            return _Answer(200, answer, counts)
        if timeout < 0:
            return _Answer(0, None, drop=True)
        return _Answer(200, answer, counts, delay_s=timeout)

    def _test_order(self, request: _Request) -> dict:
        """``POST /api/v3/order/test``: every check of a new order, nothing executed."""
        symbol = self._one_symbol(request.params)
        compute = bool_param(request.params, "computeCommissionRates")
        with self._lock:
            now = self.clock.now_ms()
            self._account.validate(request.params, self.book_of(symbol, now), now)
            if not compute:
                return {}
            rate = fmt8(self._account.fee_rate)
            zero = fmt8(0)
            return {
                "standardCommissionForOrder": {"maker": rate, "taker": rate},
                "specialCommissionForOrder": {"maker": zero, "taker": zero},
                "taxCommissionForOrder": {"maker": zero, "taker": zero},
                "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                             "discountAsset": "BNB", "discount": zero},
            }

    def _commission(self, request: _Request) -> dict:
        symbol = self._one_symbol(request.params)
        rate, zero = fmt8(self._account.fee_rate), fmt8(0)
        four = {"maker": rate, "taker": rate, "buyer": zero, "seller": zero}
        return {
            "symbol": symbol,
            "standardCommission": four,
            "specialCommission": dict.fromkeys(four, zero),
            "taxCommission": dict.fromkeys(four, zero),
            "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                         "discountAsset": "BNB", "discount": zero},
        }

    def _cancel_open_orders(self, request: _Request) -> list:
        symbol = self._one_symbol(request.params)
        with self._lock:
            now = self.clock.now_ms()
            targets = [o for o in self._account.orders
                       if o.symbol == symbol and o.status in OPEN_STATUSES]
            if not targets:
                raise ApiError(400, -2011, MSG_UNKNOWN_ORDER)
            answers = [self._account.cancel({"symbol": symbol, "orderId": str(o.order_id)}, now)
                       for o in targets]
            self._autosave()
            return answers

    def _rate_limit_order(self, request: _Request) -> list:
        return self.limiter.order_counts(self.clock.now_ms())

    def _get_order(self, request: _Request) -> dict:
        with self._lock:
            return self._account.get(request.params).as_query()

    def _cancel_order(self, request: _Request) -> dict:
        with self._lock:
            answer = self._account.cancel(request.params, self.clock.now_ms())
            self._autosave()
            return answer

    def _open_orders(self, request: _Request) -> list:
        symbol = self._symbol_param(request.params, required=False)
        with self._lock:
            return self._account.open_orders(symbol)

    def _all_orders(self, request: _Request) -> list:
        params = request.params
        symbol = self._symbol_param(params)
        limit = self._limit_param(params, 500, 1000)
        start, end = time_param(params, "startTime"), time_param(params, "endTime")
        check_day_span(start, end)
        from_id = int_param(params, "orderId")
        with self._lock:
            chosen = [
                o.as_query()
                for o in self._account.orders
                if o.symbol == symbol
                and (start is None or o.time_ms >= start)
                and (end is None or o.time_ms <= end)
                and (from_id is None or o.order_id >= from_id)
            ]
        return chosen[:limit] if start is not None or from_id is not None else chosen[-limit:]

    def _my_trades(self, request: _Request) -> list:
        with self._lock:
            return self._account.my_trades(request.params)

    # -- extension endpoints --------------------------------------------------------------
    def _emulator_clock(self, request: _Request) -> dict:
        speed = float(getattr(self.clock, "speed", 1.0))
        return {"serverTime": self.clock.now_ms(), "speed": speed if math.isfinite(speed) else None}

    def _emulator_fills(self, request: _Request) -> list:
        return [
            {
                "order_id": f.order_id,
                "client_order_id": f.client_order_id,
                "side": f.side,
                "price": f.price,
                "quantity": f.quantity,
                "fee": f.fee,
                "fee_currency": f.fee_currency,
                "timestamp_ms": f.timestamp_ms,
            }
            for f in self.fills
        ]

    def _emulator_fault(self, request: _Request) -> dict:
        if request.headers.get("x-mbx-apikey") != self.api_key:
            raise ApiError(401, -2015, "POST /emulator/fault needs the emulator's X-MBX-APIKEY")
        try:
            spec = json.loads(request.raw_body or "{}")
        except ValueError:
            raise ApiError(400, -1100, "the fault body must be a JSON object") from None
        if not isinstance(spec, dict):
            raise ApiError(400, -1100, "the fault body must be a JSON object")
        try:
            self.faults.apply(spec)
        except ValueError as exc:
            raise ApiError(400, -1100, str(exc)) from None
        return self.faults.active()


def check_day_span(start: int | None, end: int | None) -> None:
    """-1127 when ``startTime`` and ``endTime`` are more than 24 hours apart."""
    if start is not None and end is not None and end - start > 86_400_000:
        raise ApiError(400, -1127, "More than 24 hours between startTime and endTime.")


def parse_params(query: str, body: str) -> tuple[dict[str, str], str | None]:
    """Parameters of a query string and a form body, and the first name sent twice in one of
    them. A name in both keeps the query string's value, as Binance does."""
    params: dict[str, str] = {}
    duplicate = None
    for source in (body, query):  # the query string last: its values win
        seen: set[str] = set()
        for name, value in parse_qsl(source, keep_blank_values=True):
            if name in seen and duplicate is None:
                duplicate = name
            seen.add(name)
            params[name] = value
    return params, duplicate


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (ccxt's requests session reuses connections)."""

    protocol_version = "HTTP/1.1"
    server_version = "BinanceSpotEmulator/1.0"
    timeout = 60  # an idle keep-alive connection is closed after this
    emulator: EmulatorServer

    def setup(self) -> None:
        """Disable Nagle: headers and body go out in separate writes, and Nagle plus the
        client's delayed ACK would add ~40 ms to every answer."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence the per-request stderr line; the emulator keeps its own request log."""

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        params, duplicate = parse_params(
            parts.query,
            raw_body if "json" not in (self.headers.get("Content-Type") or "") else "",
        )
        request = _Request(
            method=method,
            path=parts.path,
            raw_query=parts.query,
            raw_body=raw_body,
            params=params,
            headers={k.lower(): v for k, v in self.headers.items()},
            ip=str(self.client_address[0]),
            duplicate=duplicate,
        )
        emulator = self.emulator
        answer = emulator.handle(request)
        emulator.record(request, 0 if answer.drop else answer.status)
        if answer.delay_s > 0:
            time.sleep(answer.delay_s)
        if answer.drop:
            self._drop()
            return
        payload = json.dumps(answer.body, separators=(",", ":")).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout): nothing to answer

    def _drop(self) -> None:
        """Close the connection without a byte of answer, as a crashed server would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
