"""The listeners of one bot run, from its settings: alerts, metrics, systemd, console, status."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any, TextIO

from bot.events import EventFanout
from config.settings import Settings
from core.lognames import EVENTS_LOGGER
from ops.console import ConsoleView, position_text
from ops.status_file import StatusFile
from ops.systemd import SystemdNotifier

log = logging.getLogger(EVENTS_LOGGER)


class ListenerError(Exception):
    """A listener cannot start (bad NOTIFY_URLS entry, metrics port taken); one line."""


def console_mode(quiet: bool, speed: float, stream: TextIO) -> str | None:
    """``lines`` on a terminal, ``progress`` there at --speed max, None when quiet or piped."""
    if quiet or not stream.isatty():
        return None
    return "progress" if math.isinf(speed) else "lines"


def build_events(
    settings: Settings,
    *,
    positions: Any,
    clock: Any,
    timeframe_ms: int,
    facts: dict[str, Any],
    console: str | None,
    max_candles: int | None,
    stream: TextIO | None = None,
) -> EventFanout:
    """Every listener this run needs, started; ListenerError when one cannot start."""
    fanout = EventFanout()
    try:
        fanout.add(StatusFile(settings.data_dir, facts))
        fanout.add(SystemdNotifier())
        if console is not None:
            fanout.add(ConsoleView(stream or sys.stdout, console,
                                   lambda: position_text(positions), total=max_candles))
        if settings.metrics_port is not None:
            fanout.add(_metrics(settings, positions, clock, timeframe_ms, facts))
        if settings.notify_urls:
            fanout.add(_notifier(settings, positions, facts))
    except ListenerError:
        fanout.close()
        raise
    return fanout


def _metrics(settings: Settings, positions: Any, clock: Any, timeframe_ms: int,
             facts: dict[str, Any]) -> EventFanout:
    from ops.figures import trade_figures
    from ops.metrics import BotMetrics, MetricsServer

    figures = trade_figures(positions.journal.rows(), settings.symbol, clock.now_ms())
    metrics = BotMetrics(
        timeframe_ms=timeframe_ms, now_ms=clock.now_ms, position=lambda: positions.position,
        info={k: str(facts[k]) for k in ("exchange", "symbol", "timeframe", "strategy")},
        realised_pnl=figures.pnl)
    try:
        server = MetricsServer(metrics, settings.metrics_port or 0, settings.metrics_host)
    except OSError as exc:
        raise ListenerError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}"
            f" ({exc.strerror}); choose another METRICS_PORT / --metrics-port") from None
    log.info("Metrics on %s/metrics, health on %s/health", server.url, server.url)
    return EventFanout([metrics, server])


def _notifier(settings: Settings, positions: Any, facts: dict[str, Any]) -> Any:
    from ops.notify import DeliveryWorker, Notifier, NotifyConfigError

    try:
        worker = DeliveryWorker(settings.notify_urls)
    except NotifyConfigError as exc:
        raise ListenerError(str(exc)) from None
    notifier = Notifier(worker, settings.notify_events, position=lambda: position_text(positions),
                        name=f"paperbot {settings.symbol}")
    notifier.watch_errors("paperbot", secrets=settings.secrets)
    log.info("Alerts: %d target(s), events %s", len(worker.targets),
             ", ".join(settings.notify_events))
    return notifier
