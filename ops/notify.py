"""Alerts through apprise (Telegram, Discord, Slack, e-mail, ntfy, JSON webhooks, ...).

The loop never waits for a target: messages go into a bounded queue that one background
thread delivers. A full queue drops the newest message (counted, reported in errors.log);
a failing or hanging target is reported in errors.log by its position and scheme only,
because apprise URLs carry tokens. Error alerts are rate limited per kind: the first goes
out at once, later ones of the same kind within ``interval_s`` are counted and sent as one
line when the interval is over, so a flapping exchange cannot flood a phone.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.events import BotEvents, CandleEvent
from core.formatting import format_number
from core.lognames import ALERTS_LOGGER
from storage.logs import SecretFilter

EVENT_KINDS = ("start", "fill", "error", "daily", "stop")
QUEUE_SIZE = 100
ERROR_INTERVAL_S = 900.0
CLOSE_WAIT_S = 5.0
DAY_MS = 86_400_000
RECONCILE_PROBLEMS = ("unresolved", "skipped", "position lost")
REASON_WORDS = {"signal": "signal", "stop_loss": "stop-loss", "take_profit": "take-profit"}

alerts_log = logging.getLogger(ALERTS_LOGGER)


class NotifyConfigError(ValueError):
    """A NOTIFY_URLS entry apprise cannot use; the message never contains the URL."""


def url_scheme(url: str) -> str:
    """The scheme of an apprise URL (``json`` in ``json://host/path``), safe to print."""
    head, sep, _ = url.partition("://")
    return head.strip().lower() if sep and head.strip().isalnum() else "?"


def error_kind(message: str) -> str:
    """The rate-limit bucket of an error line: testnet_wipe, refused_key, reconcile, ..."""
    text = message.lower()
    if "position lost" in text or "testnet wipe" in text:
        return "testnet_wipe"
    if "api key" in text or "api-key" in text or "signature" in text or "-2015" in text:
        return "refused_key"
    if "pending" in text or "outcome unknown" in text or "reconcile" in text:
        return "reconcile"
    if "cycle" in text or "failed after" in text:
        return "cycle_skipped"
    if "order" in text:
        return "order"
    return "other"


@dataclass
class _Window:
    start: float
    count: int = 0
    last: str = ""


class KindLimiter:
    """Per-kind rate limit: the first message at once, then one count per interval."""

    def __init__(self, interval_s: float, wall: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = float(interval_s)
        self.wall = wall
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def offer(self, kind: str, text: str) -> str | None:
        """``text`` when it may go out now; None when it was counted for a later summary."""
        with self._lock:
            now = self.wall()
            window = self._windows.get(kind)
            if window is None or (window.count == 0 and now - window.start >= self.interval_s):
                self._windows[kind] = _Window(start=now)
                return text
            window.count += 1
            window.last = text
            return None

    def due(self) -> list[str]:
        """Summaries of the kinds whose interval is over with messages held back."""
        lines = []
        with self._lock:
            now = self.wall()
            for kind, window in self._windows.items():
                if window.count and now - window.start >= self.interval_s:
                    minutes = max(1, round((now - window.start) / 60))
                    lines.append(f"{window.count} more '{kind}' error(s) in the last"
                                 f" {minutes} min; latest: {window.last}")
                    self._windows[kind] = _Window(start=now)
        return lines


class _Target:
    """One apprise URL; ``label`` is what logs may show of it."""

    def __init__(self, number: int, url: str) -> None:
        import apprise

        self.label = f"target {number} ({url_scheme(url)})"
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise NotifyConfigError(
                f"NOTIFY_URLS entry {number} ({url_scheme(url)}://...) is not a URL apprise"
                " can use; see https://github.com/caronc/apprise/wiki for the URL formats")

    def send(self, title: str, body: str) -> bool:
        return bool(self.apprise.notify(title=title, body=body))


def _quiet_apprise() -> None:
    """Keep apprise's own log lines (which can name hosts and tokens) out of every output."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.CRITICAL + 1)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


class DeliveryWorker:
    """A bounded queue of (title, body) and one daemon thread that sends them to every target."""

    def __init__(self, urls: Iterable[str], *, queue_size: int = QUEUE_SIZE,
                 limiter: KindLimiter | None = None, poll_s: float = 1.0) -> None:
        _quiet_apprise()
        self.targets = [_Target(n, url) for n, url in enumerate(urls, start=1)]
        self.queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=queue_size)
        self.limiter = limiter
        self.poll_s = poll_s
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        # After close() gave up on a hanging target the logs are gone: report nothing more.
        self._silent = False
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def submit(self, title: str, body: str) -> bool:
        """Queue a message without waiting; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait((title, body))
            return True
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                alerts_log.error("alert queue full (%d messages waiting): %d alert(s) dropped;"
                                 " a target is slow or down", self.queue.qsize(), self.dropped)
            return False

    def _run(self) -> None:
        while True:
            item: tuple[str, str] | tuple[()] | None
            try:
                item = self.queue.get(timeout=self.poll_s)
            except queue.Empty:
                pass
            else:
                if item is None:
                    return
                self._deliver(*item)
            if self.limiter is not None:
                for line in self.limiter.due():
                    self._deliver("paperbot: errors", line)

    def _deliver(self, title: str, body: str) -> None:
        for target in self.targets:
            try:
                ok = target.send(title, body)
            except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the worker
                ok = False
                if not self._silent:
                    alerts_log.error("alert to %s failed: %s", target.label,
                                     type(exc).__name__)
            if ok:
                self.sent += 1
            else:
                self.failed += 1
                if self._silent:
                    continue
                alerts_log.error("alert to %s was not delivered (refused, unreachable or"
                                 " timed out): %s", target.label, title)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> bool:
        """Deliver what is queued within ``wait_s`` wall seconds; True when all went out."""
        deadline = time.monotonic() + wait_s
        try:
            self.queue.put(None, timeout=wait_s)
        except queue.Full:
            self._silent = True
            return False
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._silent = self._thread.is_alive()
        return not self._silent


class _ErrorLogHandler(logging.Handler):
    """Turns ERROR records of the bot's loggers into rate-limited error alerts."""

    def __init__(self, notifier: Notifier, secrets: Iterable[str]) -> None:
        super().__init__(level=logging.ERROR)
        self.notifier = notifier
        self.addFilter(SecretFilter(secrets))

    def emit(self, record: logging.LogRecord) -> None:
        # Delivery failures are logged on paperbot.alerts: alerting on them would loop.
        if record.name == ALERTS_LOGGER:
            return
        try:
            message = record.getMessage().splitlines()[0][:500]
        except Exception:  # noqa: BLE001 - a bad log call must not break the logger
            return
        self.notifier.error(error_kind(message), message)


class Notifier(BotEvents):
    """The bot's alerts: start, fills, errors (rate limited), daily summary and stop."""

    def __init__(
        self,
        worker: DeliveryWorker,
        events: Iterable[str],
        *,
        position: Callable[[], str],
        limiter: KindLimiter | None = None,
        name: str = "paperbot",
    ) -> None:
        self.worker = worker
        self.events = set(events)
        self.position = position
        self.limiter = limiter if limiter is not None else KindLimiter(ERROR_INTERVAL_S)
        self.worker.limiter = self.limiter
        self.name = name
        self.close_wait_s = CLOSE_WAIT_S
        self.info: dict[str, Any] = {}
        self._day: int | None = None
        self._day_trades = 0
        self._day_pnl = 0.0
        self._handler: _ErrorLogHandler | None = None

    # -- wiring -----------------------------------------------------------------------------

    def watch_errors(self, logger_name: str = "paperbot", secrets: Iterable[str] = ()) -> None:
        """Alert on ERROR records of ``logger_name`` (and its children)."""
        if "error" in self.events and self._handler is None:
            self._handler = _ErrorLogHandler(self, secrets)
            logging.getLogger(logger_name).addHandler(self._handler)
            self._logger_name = logger_name

    def _send(self, kind: str, title: str, body: str) -> None:
        if kind in self.events:
            self.worker.submit(f"{self.name}: {title}", body)

    # -- events -----------------------------------------------------------------------------

    def started(self, info: dict[str, Any]) -> None:
        """Keep the start-up facts for the start message."""
        self.info = dict(info)

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Start message: exchange, symbol, strategy and the position after reconcile.

        A reconcile note that says something could not be checked or resolved is an error
        alert of kind ``reconcile`` too.
        """
        i = self.info
        self._day = now_ms // DAY_MS
        for note in notes:
            if any(word in note for word in RECONCILE_PROBLEMS):
                self.error("reconcile", f"reconcile: {note}")
        self._send("start", f"started {i.get('symbol', '')}",
                   f"started on {i.get('exchange', '?')}: {i.get('symbol', '?')}"
                   f" {i.get('timeframe', '')}, strategy {i.get('strategy', '?')};"
                   f" position: {self.position()}")

    def fill(self, row: Any) -> None:
        """One message per filled order; a close says its PnL and reason."""
        if not row.order_id:
            return  # a position lost to a testnet wipe: an error, not a fill
        price = row.filled_price if row.filled_price is not None else (
            row.exit_price if row.side == "sell" else row.entry_price)
        text = (f"{row.side.upper()} {format_number(row.quantity)} {row.symbol} at"
                f" {format_number(price)}")
        if row.pnl is not None:
            quote = row.symbol.split("/")[-1] if row.symbol else ""
            reason = REASON_WORDS.get(row.exit_reason, row.exit_reason or "signal")
            text += f", PnL {row.pnl:+.2f} {quote} ({reason})"
            self._day_trades += 1
            self._day_pnl += float(row.pnl)
        self._send("fill", f"{row.side.upper()} {row.symbol}", text)

    def error(self, kind: str, message: str) -> None:
        """A rate-limited error alert of ``kind``."""
        if "error" not in self.events:
            return
        text = self.limiter.offer(kind, message)
        if text is not None:
            self._send("error", f"error ({kind})", text)

    def candle(self, event: CandleEvent) -> None:
        """Alert on a cycle skipped after retries; send the daily summary at a new UTC day."""
        if event.skipped is not None and not event.failed:
            self.error("cycle_skipped", f"cycle skipped: {event.skipped}")
        day = event.now_ms // DAY_MS
        if self._day is not None and day > self._day:
            self._send("daily", "daily summary",
                       f"{time.strftime('%Y-%m-%d', time.gmtime(self._day * 86_400))}:"
                       f" {self._day_trades} closed trade(s), PnL {self._day_pnl:+.2f};"
                       f" position: {self.position()}")
            self._day_trades, self._day_pnl = 0, 0.0
        self._day = day

    def stopped(self, summary: str, now_ms: int) -> None:
        """Stop message with the final summary."""
        self._send("stop", "stopped", f"stopped; {summary}")

    def close(self) -> None:
        """Stop watching the logs and deliver what is queued (bounded wait)."""
        if self._handler is not None:
            logging.getLogger(self._logger_name).removeHandler(self._handler)
            self._handler = None
        self.worker.close(self.close_wait_s)


def parse_urls(text: str) -> list[str]:
    """NOTIFY_URLS: comma-separated apprise URLs (blank entries ignored)."""
    return [part.strip() for part in text.split(",") if part.strip()]
