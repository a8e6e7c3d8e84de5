"""Binance's rate limits: request weight and raw requests per IP, unfilled orders per account.

Windows are fixed and aligned on the emulator's clock, as Binance's are on its own: the used
weight counts from the start of the current minute, the order counts from the start of the
current 10 seconds and UTC day, raw requests from the start of the current 5 minutes. The
emulator's clock is used (not the wall clock) so a test on a ``ManualClock`` sees exactly the
weight it spent, and an accelerated run gets the limits of its simulated time (decision 0143).

* every answer carries ``X-MBX-USED-WEIGHT-1M`` (and the older ``X-MBX-USED-WEIGHT``);
* past the weight or raw-request limit: 429 -1003 with ``Retry-After`` = seconds to the next
  window; the request's weight still counts, as on Binance;
* more than ``ban_after`` requests answered 429 in one window: the IP is banned, 418 -1003
  "IP banned until <ms>" with ``Retry-After`` = seconds to the end of the ban; bans double for
  a repeat offender, from ``ban_seconds`` (2 minutes) up to 3 days;
* a new order past an ORDERS limit: 429 -1015 with ``Retry-After``; an accepted order adds one
  to the unfilled order count of every ORDERS window and its first fill takes one off
  (``faqs/order_count_decrement.md``); successful order answers carry
  ``X-MBX-ORDER-COUNT-10S`` and ``X-MBX-ORDER-COUNT-1D``.

Thread-safe; the server calls it for every request.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from emulator.wire import ApiError

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MAX_BAN_S = 3 * 86_400


@dataclass(frozen=True)
class RateLimits:
    """The limits the emulator enforces; Binance Spot's values by default.

    ``None`` for a limit switches it off; tests set small values to stay fast.
    """

    weight_per_minute: int | None = 6000
    raw_requests_per_5m: int | None = 61000
    orders_per_10s: int | None = 100
    orders_per_day: int | None = 200_000
    ban_after: int = 5
    ban_seconds: int = 120

    def exchange_info(self) -> list[dict]:
        """The ``rateLimits`` array of ``GET /api/v3/exchangeInfo``."""
        entries = []
        for kind, interval, num, limit in (
            ("REQUEST_WEIGHT", "MINUTE", 1, self.weight_per_minute),
            ("ORDERS", "SECOND", 10, self.orders_per_10s),
            ("ORDERS", "DAY", 1, self.orders_per_day),
            ("RAW_REQUESTS", "MINUTE", 5, self.raw_requests_per_5m),
        ):
            if limit is not None:
                entries.append({"rateLimitType": kind, "interval": interval,
                                "intervalNum": num, "limit": limit})
        return entries


# No limit at all: for benchmarks that send thousands of requests in one frozen minute.
UNLIMITED = RateLimits(weight_per_minute=None, raw_requests_per_5m=None, orders_per_10s=None,
                       orders_per_day=None)


@dataclass
class _IpUse:
    minute: int = -1
    weight: int = 0
    window5: int = -1
    raw: int = 0
    rejected: int = 0  # requests answered 429 in the current minute
    banned_until_ms: int = 0
    strikes: int = 0


@dataclass
class _OrderWindow:
    span_ms: int
    index: int = -1
    count: int = 0

    def roll(self, now_ms: int) -> None:
        index = now_ms // self.span_ms
        if index != self.index:
            self.index, self.count = index, 0

    def seconds_left(self, now_ms: int) -> int:
        return max(1, math.ceil(((self.index + 1) * self.span_ms - now_ms) / 1000))


@dataclass
class RateLimiter:
    """Counts weights and orders and decides 429 / 418 answers (see the module docstring)."""

    limits: RateLimits = field(default_factory=RateLimits)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ips: dict[str, _IpUse] = {}
        self._orders = (_OrderWindow(10_000), _OrderWindow(DAY_MS))

    # -- request weight ---------------------------------------------------------------------
    def admit(self, ip: str, weight: int, now_ms: int) -> tuple[int, dict[str, str]]:
        """Count one request of ``weight``; return the used weight and the headers to send.

        Raises ApiError 429/418 (with its headers in ``exc.headers``) past a limit.
        """
        limits = self.limits
        with self._lock:
            use = self._ips.setdefault(ip, _IpUse())
            minute = now_ms // MINUTE_MS
            if minute != use.minute:
                use.minute, use.weight, use.rejected = minute, 0, 0
            if use.banned_until_ms > now_ms:
                raise self._banned(use, now_ms)
            window5 = now_ms // (5 * MINUTE_MS)
            if window5 != use.window5:
                use.window5, use.raw = window5, 0
            use.weight += weight
            use.raw += 1
            over_weight = limits.weight_per_minute is not None and (
                use.weight > limits.weight_per_minute)
            over_raw = limits.raw_requests_per_5m is not None and (
                use.raw > limits.raw_requests_per_5m)
            if over_weight or over_raw:
                use.rejected += 1
                if use.rejected > limits.ban_after:
                    seconds = min(MAX_BAN_S, limits.ban_seconds * 2 ** use.strikes)
                    use.strikes += 1
                    use.banned_until_ms = now_ms + seconds * 1000
                    raise self._banned(use, now_ms)
                if over_weight:
                    msg = (f"Too much request weight used; current limit is"
                           f" {limits.weight_per_minute} request weight per 1 MINUTE. Please use"
                           " WebSocket Streams for live updates to avoid polling the API.")
                    retry = (minute + 1) * MINUTE_MS - now_ms
                else:
                    msg = (f"Too many requests; current limit is {limits.raw_requests_per_5m}"
                           " requests per 5 MINUTE. Please use WebSocket Streams for live"
                           " updates to avoid polling the API.")
                    retry = (window5 + 1) * 5 * MINUTE_MS - now_ms
                error = ApiError(429, -1003, msg)
                error.headers = {**self._weight_headers(use),
                                 "Retry-After": str(max(1, math.ceil(retry / 1000)))}
                raise error
            return use.weight, self._weight_headers(use)

    def used_weight(self, ip: str, now_ms: int) -> int:
        """The weight ``ip`` used in the current minute."""
        with self._lock:
            use = self._ips.get(ip)
            if use is None or use.minute != now_ms // MINUTE_MS:
                return 0
            return use.weight

    def weight_headers(self, ip: str, now_ms: int) -> dict[str, str]:
        """The used-weight headers for an answer that did not go through ``admit``."""
        used = str(self.used_weight(ip, now_ms))
        return {"X-MBX-USED-WEIGHT": used, "X-MBX-USED-WEIGHT-1M": used}

    @staticmethod
    def _weight_headers(use: _IpUse) -> dict[str, str]:
        return {"X-MBX-USED-WEIGHT": str(use.weight), "X-MBX-USED-WEIGHT-1M": str(use.weight)}

    def _banned(self, use: _IpUse, now_ms: int) -> ApiError:
        error = ApiError(418, -1003, f"Way too much request weight used; IP banned until"
                                     f" {use.banned_until_ms}. Please use WebSocket Streams for"
                                     " live updates to avoid bans.")
        left = max(1, math.ceil((use.banned_until_ms - now_ms) / 1000))
        error.headers = {**self._weight_headers(use), "Retry-After": str(left)}
        return error

    # -- unfilled orders --------------------------------------------------------------------
    def check_new_order(self, now_ms: int) -> None:
        """429 -1015 when a new order would pass an ORDERS limit."""
        limits = self.limits
        with self._lock:
            for window, limit, label in zip(
                self._orders, (limits.orders_per_10s, limits.orders_per_day),
                ("10 SECOND", "1 DAY"), strict=True,
            ):
                window.roll(now_ms)
                if limit is not None and window.count >= limit:
                    error = ApiError(429, -1015, f"Too many new orders; current limit is"
                                                 f" {limit} orders per {label}.")
                    error.headers = {"Retry-After": str(window.seconds_left(now_ms))}
                    raise error

    def order_placed(self, now_ms: int, filled: bool) -> dict[str, str]:
        """Count an accepted order (and its first fill); the order-count headers to send."""
        with self._lock:
            for window in self._orders:
                window.roll(now_ms)
                window.count += 0 if filled else 1
            return self._order_headers()

    def order_filled_later(self, now_ms: int) -> None:
        """A resting order's first fill: one off the unfilled count of every window."""
        with self._lock:
            for window in self._orders:
                window.roll(now_ms)
                window.count = max(0, window.count - 1)

    def _order_headers(self) -> dict[str, str]:
        ten, day = self._orders
        return {"X-MBX-ORDER-COUNT-10S": str(ten.count), "X-MBX-ORDER-COUNT-1D": str(day.count)}

    def order_counts(self, now_ms: int) -> list[dict]:
        """The ``GET /api/v3/rateLimit/order`` answer."""
        limits = self.limits
        answer = []
        with self._lock:
            for window, limit, interval, num in zip(
                self._orders, (limits.orders_per_10s, limits.orders_per_day),
                ("SECOND", "DAY"), (10, 1), strict=True,
            ):
                window.roll(now_ms)
                if limit is not None:
                    answer.append({"rateLimitType": "ORDERS", "interval": interval,
                                   "intervalNum": num, "limit": limit, "count": window.count})
        return answer
