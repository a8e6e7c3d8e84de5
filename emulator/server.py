"""The local Binance Spot emulator: an HTTP server on loopback that the real ``ccxt.binance`` uses.

``EmulatorServer(market, clock).start()`` serves the spot REST subset ccxt needs (see
``/work/shared/design/binance-emulator.md`` and ``docs/readme/emulator.md``) in a daemon thread,
one thread per connection. Every time it serves comes from the injected clock; every price
from the market. Faults are switched through ``server.faults``. Any request it has no route
for answers 404 (JSON) and is recorded in ``unknown_requests`` so a test can fail loudly.

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
from core.types import Fill
from emulator.account import Account
from emulator.auth import check_signed
from emulator.faults import FaultInjector
from emulator.klines import INTERVALS_MS, klines, ticker_24hr
from emulator.market import Market
from emulator.persistence import account_state, restore_account, save_emulator_state
from emulator.symbols import listed_markets
from emulator.wire import (
    MSG_INVALID_INTERVAL,
    MSG_INVALID_SYMBOL,
    MSG_OVERLOADED,
    MSG_TOO_MANY,
    MSG_UNKNOWN_ERROR,
    ApiError,
    fmt8,
    illegal,
    int_param,
    mandatory,
)
from exchange.endpoints import is_loopback_host

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
        self._requested_port = int(port)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], tuple[_Route, bool]] = {
            ("GET", "/api/v3/ping"): (lambda r: {}, False),
            ("GET", "/api/v3/time"): (lambda r: {"serverTime": self.clock.now_ms()}, False),
            ("GET", "/api/v3/exchangeInfo"): (self._exchange_info, False),
            ("GET", "/api/v3/klines"): (self._klines, False),
            ("GET", "/api/v3/uiKlines"): (self._klines, False),
            ("GET", "/api/v3/ticker/24hr"): (self._ticker_24hr, False),
            ("GET", "/api/v3/ticker/price"): (self._ticker_price, False),
            ("GET", "/api/v3/account"): (self._account_info, True),
            ("POST", "/api/v3/order"): (self._create_order, True),
            ("GET", "/api/v3/order"): (self._get_order, True),
            ("DELETE", "/api/v3/order"): (self._cancel_order, True),
            ("GET", "/api/v3/openOrders"): (self._open_orders, True),
            ("GET", "/api/v3/allOrders"): (self._all_orders, True),
            ("GET", "/api/v3/myTrades"): (self._my_trades, True),
            ("GET", "/emulator/clock"): (self._emulator_clock, False),
            ("GET", "/emulator/fills"): (self._emulator_fills, False),
            ("POST", "/emulator/fault"): (self._emulator_fault, False),
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
        """Answer one request: faults, routing, signature checks, errors as Binance JSON."""
        extension = request.path.startswith("/emulator/")
        delay = 0.0
        if not extension:
            decision = self.faults.decide(request.method, request.path)
            if decision.drop:
                return _Answer(0, None, drop=True)
            delay = decision.delay_s
            if decision.status is not None:
                return self._fault_answer(decision.status, decision.retry_after_s, delay)
        route = self._routes.get((request.method, request.path))
        if route is None:
            with self._lock:
                self.unknown_requests.append(f"{request.method} {request.path}")
            return _Answer(404, {"msg": f"the emulator has no route for {request.method}"
                                        f" {request.path}"}, delay_s=delay)
        handler, signed = route
        try:
            if signed:
                self._check_signed(request)
            answer = handler(request)
        except ApiError as exc:
            return _Answer(exc.status, exc.body(), delay_s=delay)
        except Exception as exc:  # the client must get JSON, the test must see the bug
            log.exception("emulator failed on %s %s", request.method, request.path)
            with self._lock:
                self.internal_errors.append(f"{request.method} {request.path}: {exc!r}")
            return _Answer(500, {"code": -1000, "msg": MSG_UNKNOWN_ERROR}, delay_s=delay)
        if isinstance(answer, _Answer):
            answer.delay_s += delay
            return answer
        return _Answer(200, answer, delay_s=delay)

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
        if symbol not in self.listed:
            raise ApiError(400, -1121, MSG_INVALID_SYMBOL)
        return symbol

    def _symbols_param(self, params: dict[str, str]) -> list[str] | None:
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            names = json.loads(raw)
        except ValueError:
            raise illegal("symbols", '["BTCUSDT"]') from None
        if not isinstance(names, list) or any(n not in self.listed for n in names):
            raise ApiError(400, -1121, MSG_INVALID_SYMBOL)
        return names

    def _chosen_symbols(self, params: dict[str, str]) -> tuple[str | None, list[str]]:
        """``symbol`` (when sent) and the symbols an answer covers: that one, those of
        ``symbols``, or every listed symbol."""
        single = self._symbol_param(params, required=False)
        if single:
            return single, [single]
        names = self._symbols_param(params)
        return None, list(self.listed) if names is None else names

    def market_of(self, symbol: str) -> Market:
        """The market of a listed symbol (exchange id such as ``ETHUSDT``)."""
        return self.listed[symbol][1]

    def _exchange_info(self, request: _Request) -> dict:
        _, names = self._chosen_symbols(request.params)
        return {
            "timezone": "UTC",
            "serverTime": self.clock.now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [self.listed[name][0].exchange_info() for name in names],
        }

    def _klines(self, request: _Request) -> list:
        params = request.params
        symbol = self._symbol_param(params)
        assert symbol is not None
        market = self.market_of(symbol)
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        interval_ms = INTERVALS_MS.get(interval)
        if interval_ms is None or interval_ms % market.timeframe_ms:
            raise ApiError(400, -1120, MSG_INVALID_INTERVAL)
        limit = int_param(params, "limit")
        limit = 500 if limit is None else min(limit, 1000)
        if limit < 1:
            raise illegal("limit", "1..1000")
        return klines(
            market,
            interval_ms,
            self.clock.now_ms(),
            start_ms=int_param(params, "startTime"),
            end_ms=int_param(params, "endTime"),
            limit=limit,
        )

    def _ticker_24hr(self, request: _Request) -> object:
        single, names = self._chosen_symbols(request.params)
        now = self.clock.now_ms()
        tickers = [ticker_24hr(self.market_of(name), name, now) for name in names]
        return tickers[0] if single else tickers

    def _ticker_price(self, request: _Request) -> object:
        single, names = self._chosen_symbols(request.params)
        now = self.clock.now_ms()
        tickers = [{"symbol": name, "price": fmt8(self.market_of(name).price_at(now))}
                   for name in names]
        return tickers[0] if single else tickers

    # -- signed endpoints -----------------------------------------------------------------
    def _account_info(self, request: _Request) -> dict:
        omit = request.params.get("omitZeroBalances", "").lower() == "true"
        with self._lock:
            return self._account.account_info(self.clock.now_ms(), omit_zero=omit)

    def _create_order(self, request: _Request) -> object:
        symbol = self._symbol_param(request.params)
        assert symbol is not None
        with self._lock:
            now = self.clock.now_ms()
            price = self.market_of(symbol).price_at(now)
            order = self._account.place(request.params, price, now)
            answer = order.as_full_ack()
            self._autosave()  # on disk before the client can learn of the order
        timeout = self.faults.take_order_timeout()
        if timeout is None:
            return answer
        if timeout < 0:
            return _Answer(0, None, drop=True)
        return _Answer(200, answer, delay_s=timeout)

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
        limit = int_param(params, "limit") or 500
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
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
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if raw_body and "json" not in (self.headers.get("Content-Type") or ""):
            params.update(parse_qsl(raw_body, keep_blank_values=True))
        request = _Request(
            method=method,
            path=parts.path,
            raw_query=parts.query,
            raw_body=raw_body,
            params=params,
            headers={k.lower(): v for k, v in self.headers.items()},
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
