"""Faults the emulator can inject at run time, each for a number of requests or a stretch of time.

Switching is thread-safe: a test (or ``POST /emulator/fault`` from another process) arms a
fault while request threads consume it. ``outage`` lasts for clock time, so a test on a
``ManualClock`` ends it by advancing the clock; ``slow`` and a delayed order answer wait in
real time, because what they exercise is the client's real socket timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.clock import Clock


@dataclass
class _Counted:
    """A fault that hits the next ``count`` matching requests."""

    count: int
    value: float = 0.0
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


@dataclass(frozen=True)
class Decision:
    """What to do with one request before it is routed."""

    drop: bool = False
    delay_s: float = 0.0
    status: int | None = None  # answer this error status instead of routing
    retry_after_s: float | None = None


class FaultInjector:
    """The switchboard of faults; ``decide`` is asked once per request."""

    def __init__(self, clock: Clock, on_wipe: Callable[[], None] | None = None) -> None:
        self._clock = clock
        self._on_wipe = on_wipe
        self._lock = threading.Lock()
        self._outage_until_ms: int | None = None
        self._server_errors: list[_Counted] = []
        self._slow: list[_Counted] = []
        self._rate_limit: list[_Counted] = []
        self._skew: list[_Counted] = []
        self._order_timeout: list[_Counted] = []

    # -- switches -------------------------------------------------------------------------
    def outage(self, seconds: float) -> None:
        """Drop every connection without an answer for ``seconds`` of clock time."""
        with self._lock:
            self._outage_until_ms = self._clock.now_ms() + int(seconds * 1000)

    def server_errors(
        self, count: int, status: int = 500, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` requests (optionally only ``method``/``path``) with
        ``status``: 500 -> code -1000, 503 -> code -1008, 502/504 -> no code."""
        if status < 500 or status > 599:
            raise ValueError(f"server_errors needs a 5xx status, got {status}")
        with self._lock:
            self._server_errors.append(_Counted(count, status, method, path))

    def slow(
        self, count: int, delay_s: float, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` requests only after ``delay_s`` real seconds."""
        with self._lock:
            self._slow.append(_Counted(count, delay_s, method, path))

    def rate_limit(
        self,
        count: int,
        retry_after_s: float = 1.0,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests with 429, code -1003 and ``Retry-After``."""
        with self._lock:
            self._rate_limit.append(_Counted(count, retry_after_s, method, path))

    def clock_skew(self, count: int) -> None:
        """Refuse the next ``count`` signed requests with -1021 (timestamp outside recvWindow)."""
        with self._lock:
            self._skew.append(_Counted(count))

    def order_timeout_after_fill(self, count: int, delay_s: float | None = None) -> None:
        """Execute and record the next ``count`` orders, then drop the connection without an
        answer (``delay_s=None``) or answer only after ``delay_s`` real seconds."""
        with self._lock:
            self._order_timeout.append(_Counted(count, -1.0 if delay_s is None else delay_s))

    def balance_wipe(self) -> None:
        """Reset the account as the testnet's monthly wipe does (same as ``server.wipe()``)."""
        if self._on_wipe is not None:
            self._on_wipe()

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._outage_until_ms = None
            for faults in self._all():
                faults.clear()

    def _all(self) -> list[list[_Counted]]:
        return [self._server_errors, self._slow, self._rate_limit, self._skew, self._order_timeout]

    def active(self) -> dict[str, object]:
        """What is armed right now, for logs and ``/emulator/fault`` answers."""
        with self._lock:
            now = self._clock.now_ms()
            until = self._outage_until_ms
            return {
                "outage_ms_left": max(0, until - now) if until is not None else 0,
                "server_errors": sum(f.count for f in self._server_errors),
                "slow": sum(f.count for f in self._slow),
                "rate_limit": sum(f.count for f in self._rate_limit),
                "clock_skew": sum(f.count for f in self._skew),
                "order_timeout_after_fill": sum(f.count for f in self._order_timeout),
            }

    # -- consumption ----------------------------------------------------------------------
    @staticmethod
    def _take(faults: list[_Counted], method: str, path: str) -> _Counted | None:
        for fault in faults:
            if fault.count > 0 and fault.matches(method, path):
                fault.count -= 1
                if fault.count == 0:
                    faults.remove(fault)
                return fault
        return None

    def decide(self, method: str, path: str) -> Decision:
        """The fault (if any) for one incoming request, consuming one count of it."""
        with self._lock:
            if self._outage_until_ms is not None:
                if self._clock.now_ms() < self._outage_until_ms:
                    return Decision(drop=True)
                self._outage_until_ms = None
            slow = self._take(self._slow, method, path)
            delay = slow.value if slow else 0.0
            limited = self._take(self._rate_limit, method, path)
            if limited is not None:
                return Decision(delay_s=delay, status=429, retry_after_s=limited.value)
            failing = self._take(self._server_errors, method, path)
            if failing is not None:
                return Decision(delay_s=delay, status=int(failing.value))
            return Decision(delay_s=delay)

    def take_clock_skew(self) -> bool:
        """True when this signed request must be refused with -1021."""
        with self._lock:
            return self._take(self._skew, "", "") is not None

    def take_order_timeout(self) -> float | None:
        """None for a normal order answer; else -1 (drop) or the real delay in seconds."""
        with self._lock:
            fault = self._take(self._order_timeout, "", "")
            return None if fault is None else fault.value

    def apply(self, spec: dict) -> None:
        """Arm a fault from a JSON object such as ``{"fault": "slow", "count": 2,
        "delay_s": 0.5}`` (the body of ``POST /emulator/fault``); ValueError when unknown."""
        spec = dict(spec)
        name = spec.pop("fault", None)
        allowed: dict[str, Callable[..., None]] = {
            "outage": self.outage,
            "server_errors": self.server_errors,
            "slow": self.slow,
            "rate_limit": self.rate_limit,
            "clock_skew": self.clock_skew,
            "order_timeout_after_fill": self.order_timeout_after_fill,
            "balance_wipe": self.balance_wipe,
            "clear": self.clear,
        }
        if name not in allowed:
            raise ValueError(f"unknown fault {name!r}; use one of {', '.join(allowed)}")
        try:
            allowed[name](**spec)
        except TypeError as exc:
            raise ValueError(f"bad arguments for fault {name!r}: {exc}") from None
