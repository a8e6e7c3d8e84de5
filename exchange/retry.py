"""Retrying READ calls to the exchange: which errors, how long to wait, what happens at the end.

Only errors that say "the request did not get through or the exchange is busy" are retried:
ccxt's ``OperationFailed`` family (``NetworkError``: timeouts, 5xx, 429/418, -1021 clock errors,
dropped connections; and plain ``OperationFailed`` for Binance's -1000/-1006 "unknown error").
Anything else (bad keys, bad symbol, insufficient funds, invalid order) is a refusal that a retry
cannot fix, and is raised at once. Orders are never retried here: see ``ExchangeClient``.

Waiting goes through the injected Clock, so tests and accelerated runs do not sleep for real.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt

from core.clock import Clock
from core.errors import ExchangeUnavailable
from core.lognames import ERRORS_LOGGER, EVENTS_LOGGER

T = TypeVar("T")


# NetworkError and its children (RequestTimeout, ExchangeNotAvailable, DDoSProtection,
# RateLimitExceeded, InvalidNonce) plus OperationFailed itself (Binance -1000/-1006 on a 500).
RETRYABLE: tuple[type[BaseException], ...] = (ccxt.OperationFailed,)
RATE_LIMITED: tuple[type[BaseException], ...] = (ccxt.DDoSProtection, ccxt.RateLimitExceeded)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a read is retried.

    ``attempts`` counts every call, the first included; the wait before retry ``n`` (1-based)
    is ``base_delay * factor ** (n - 1)`` capped at ``max_delay`` seconds, and never shorter
    than a ``Retry-After`` the exchange sent with a 429/418.
    """

    attempts: int = 3
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"retry attempts must be a whole number >= 1, got {self.attempts!r}")
        for name in ("base_delay", "factor", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"retry {name} must be a finite number >= 0, got {value!r}")
        if self.factor < 1:
            raise ValueError(f"retry factor must be >= 1 (delays never shrink), got {self.factor}")

    def delay(self, retry: int) -> float:
        """Backoff in seconds before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            raise ValueError(f"retry number starts at 1, got {retry}")
        return min(self.base_delay * self.factor ** (retry - 1), self.max_delay)


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` header in seconds (case-insensitive name), or None if absent/bad."""
    if not headers:
        return None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


def wait_before_retry(
    exc: BaseException, retry: int, policy: RetryPolicy, exchange: Any
) -> float:
    """Seconds to wait after ``exc`` before retry ``retry``: backoff, or Retry-After if longer.

    ``Retry-After`` is read only for rate-limit errors: ccxt keeps the headers of the last
    response even when a later request never got one (connection refused), so for other
    errors they may be stale.
    """
    wait = policy.delay(retry)
    if isinstance(exc, RATE_LIMITED):
        after = retry_after_seconds(getattr(exchange, "last_response_headers", None))
        if after is not None:
            wait = max(wait, after)
    return wait


def resync_clock(exchange: Any, logger: logging.Logger | None = None) -> bool:
    """Refresh ccxt's offset to the server clock (after a -1021); True when it worked."""
    log = logger or logging.getLogger(EVENTS_LOGGER)
    try:
        offset = exchange.load_time_difference()
    except ccxt.BaseError as exc:
        log.warning("could not resynchronise with the exchange clock: %s", one_line(exc))
        return False
    log.info("resynchronised with the exchange clock (local clock ahead by %s ms)", offset)
    return True


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, shortened, for log lines and error messages."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_with_retry(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    clock: Clock,
    exchange: Any,
    logger: logging.Logger | None = None,
    error_logger: logging.Logger | None = None,
) -> T:
    """Run a READ ``call``, retrying ccxt's retryable errors per ``policy``.

    ``what`` names the call in logs ("fetch OHLCV"). A retryable failure is logged as a
    WARNING and waited out on ``clock``; an ``InvalidNonce`` (-1021) first resynchronises
    the clock offset. Non-retryable ccxt errors propagate unchanged at once. When every
    attempt failed, the last error is logged with its stack trace on ``paperbot.errors`` and
    ``ExchangeUnavailable`` is raised (the caller skips this cycle).
    """
    log = logger or logging.getLogger(EVENTS_LOGGER)
    errors = error_logger or logging.getLogger(ERRORS_LOGGER)
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except RETRYABLE as exc:
            if attempt == policy.attempts:
                errors.error(
                    "%s failed after %d attempt(s): %s", what, attempt, one_line(exc),
                    exc_info=True,
                )
                raise ExchangeUnavailable(
                    f"{what} failed after {attempt} attempt(s): {one_line(exc)}"
                ) from exc
            wait = wait_before_retry(exc, attempt, policy, exchange)
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1f s",
                what, attempt, policy.attempts, one_line(exc), wait,
            )
            if isinstance(exc, ccxt.InvalidNonce):
                resync_clock(exchange, log)
            clock.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
