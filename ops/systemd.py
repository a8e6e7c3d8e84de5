"""systemd's notify protocol without a dependency: one datagram to ``$NOTIFY_SOCKET``.

With ``Type=notify`` systemd counts the service as started when the bot sends ``READY=1``
(after reconciling with the exchange), and with ``WatchdogSec=`` it restarts the service when
no ``WATCHDOG=1`` came for that long. The loop pings from its wait, at half the watchdog
interval, so a hung loop (not merely a long candle) is what gets restarted.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from bot.events import BotEvents, CandleEvent


def notify_address(env: Mapping[str, str]) -> str | bytes | None:
    """The socket address of ``NOTIFY_SOCKET`` (``@name`` is Linux's abstract namespace)."""
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


def sd_notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not under systemd or it failed."""
    address = notify_address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s(env: Mapping[str, str]) -> float | None:
    """``WATCHDOG_USEC`` in seconds, when it is meant for this process (``WATCHDOG_PID``)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000


class SystemdNotifier(BotEvents):
    """READY=1 once reconciled, WATCHDOG=1 from the loop, STOPPING=1 at the end."""

    def __init__(self, env: Mapping[str, str] | None = None,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.env = dict(os.environ if env is None else env)
        self.wall = wall
        interval = watchdog_interval_s(self.env)
        self.ping_every_s = interval / 2 if interval else None
        self._last_ping = float("-inf")
        self.sent: list[str] = []

    @property
    def active(self) -> bool:
        """True when running under systemd's notify protocol."""
        return notify_address(self.env) is not None

    def _send(self, message: str) -> None:
        if sd_notify(message, self.env):
            self.sent.append(message)

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Tell systemd the bot is up."""
        self._send("READY=1\nSTATUS=reconciled, trading")
        self._last_ping = self.wall()

    def tick(self, now_ms: int) -> None:
        """Ping the watchdog when half its interval has passed."""
        if self.ping_every_s is None:
            return
        now = self.wall()
        if now - self._last_ping >= self.ping_every_s:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def candle(self, event: CandleEvent) -> None:
        """A finished cycle is a sign of life too."""
        self.tick(event.now_ms)

    def stopped(self, summary: str, now_ms: int) -> None:
        """Tell systemd the stop is deliberate."""
        self._send("STOPPING=1")
