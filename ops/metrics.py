"""``/metrics`` (Prometheus text format, via prometheus-client) and ``/health`` (JSON).

The figures live in a registry of their own (not prometheus-client's global one), fed by the
loop's events and by a log handler that counts API retries and errors by kind. A small HTTP
server thread on 127.0.0.1 (unless told otherwise) answers both paths; scraping it never
touches the loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.events import BotEvents, CandleEvent
from ops.notify import error_kind

RETRY_MARK = "failed (attempt"


class BotMetrics(BotEvents):
    """The bot's counters and gauges, and its health (stale after two silent candles)."""

    def __init__(self, *, timeframe_ms: int, now_ms: Callable[[], int],
                 position: Callable[[], Any], info: dict[str, str] | None = None,
                 realised_pnl: float = 0.0) -> None:
        self.timeframe_ms = int(timeframe_ms)
        self.now_ms = now_ms
        self.position = position
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.candles = Counter("paperbot_candles_processed", "Closed candles acted on",
                               registry=r)
        self.skipped = Counter("paperbot_cycles_skipped", "Candle cycles skipped", registry=r)
        self.orders = Counter("paperbot_orders", "Filled orders", ["side", "reason"],
                              registry=r)
        self.retries = Counter("paperbot_api_retries", "Exchange reads retried", registry=r)
        self.errors = Counter("paperbot_errors", "Errors logged, by kind", ["kind"], registry=r)
        self.position_size = Gauge("paperbot_position_size",
                                   "Base asset held by the open position (0 when flat)",
                                   registry=r)
        self.realised = Gauge("paperbot_realised_pnl", "Realised PnL in the quote asset",
                              registry=r)
        self.unrealised = Gauge("paperbot_unrealised_pnl",
                                "Unrealised PnL of the open position at the last price",
                                registry=r)
        self.last_price = Gauge("paperbot_last_price", "Last price seen", registry=r)
        self.last_cycle = Gauge("paperbot_last_cycle_timestamp_seconds",
                                "Bot-clock time of the last candle cycle", registry=r)
        self.info = Info("paperbot", "What this instance trades", registry=r)
        self.info.info(dict(info or {}))
        self.realised.set(realised_pnl)
        self._last_cycle_ms = now_ms()
        self._processed = 0
        self._lock = threading.Lock()
        self._refresh(None)

    # -- events -----------------------------------------------------------------------------

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Health counts from the end of the start-up."""
        self._last_cycle_ms = now_ms
        self._refresh(None)

    def price(self, price: float, now_ms: int) -> None:
        """Last price and the open position's unrealised PnL."""
        self._refresh(price)

    def candle(self, event: CandleEvent) -> None:
        """Count the candle (or the skip) and stamp the cycle time."""
        with self._lock:
            if event.candles_processed > self._processed:
                self.candles.inc(event.candles_processed - self._processed)
                self._processed = event.candles_processed
            self._last_cycle_ms = event.now_ms
        if event.skipped is not None:
            self.skipped.inc()
        self.last_cycle.set(event.now_ms / 1000)
        self._refresh(event.close)

    def fill(self, row: Any) -> None:
        """Count the order by side and reason; add a close's PnL."""
        if not row.order_id:
            return
        reason = row.exit_reason or "signal"
        self.orders.labels(side=row.side, reason=reason).inc()
        if row.pnl is not None:
            self.realised.inc(float(row.pnl))
        self._refresh(None)

    def log_record(self, record: logging.LogRecord) -> None:
        """Count API retries (their WARNING line) and errors by kind."""
        if record.levelno >= logging.ERROR:
            self.errors.labels(kind=error_kind(record.getMessage())).inc()
        elif isinstance(record.msg, str) and RETRY_MARK in record.msg:
            self.retries.inc()

    def _refresh(self, price: float | None) -> None:
        if price is not None and price > 0:
            self.last_price.set(price)
        pos = self.position()
        if pos is None:
            self.position_size.set(0)
            self.unrealised.set(0)
            return
        self.position_size.set(pos.quantity)
        last = price if price is not None and price > 0 else None
        if last is not None:
            self.unrealised.set((last - pos.entry_price) * pos.quantity)

    # -- reading ----------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def health(self) -> tuple[int, dict[str, Any]]:
        """(200, ...) while a cycle ran within two candle lengths, else (503, ...)."""
        with self._lock:
            age_ms = max(0, self.now_ms() - self._last_cycle_ms)
            processed = self._processed
        stale = age_ms > 2 * self.timeframe_ms
        body = {"status": "stale" if stale else "ok",
                "last_cycle_age_seconds": round(age_ms / 1000, 3),
                "stale_after_seconds": 2 * self.timeframe_ms / 1000,
                "candles_processed": processed}
        return (503 if stale else 200), body


class _LogCounter(logging.Handler):
    def __init__(self, metrics: BotMetrics) -> None:
        super().__init__(level=logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        self.metrics.log_record(record)


class MetricsServer(BotEvents):
    """Serves ``/metrics`` and ``/health`` of ``metrics`` on ``host:port`` (0 = a free port)."""

    def __init__(self, metrics: BotMetrics, port: int, host: str = "127.0.0.1",
                 logger_name: str = "paperbot") -> None:
        self.metrics = metrics
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    code, body, kind = 200, owner.metrics.exposition(), CONTENT_TYPE_LATEST
                elif path == "/health":
                    code, data = owner.metrics.health()
                    body, kind = json.dumps(data).encode(), "application/json"
                else:
                    code, body, kind = 404, b"try /metrics or /health\n", "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # a scrape every 15 s is no news for trading.log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = int(self.server.server_address[1])
        self._counter = _LogCounter(metrics)
        self._logger = logging.getLogger(logger_name)
        self._logger.addHandler(self._counter)
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        """Stop serving and stop counting log lines."""
        self._logger.removeHandler(self._counter)
        self.server.shutdown()
        self.server.server_close()
