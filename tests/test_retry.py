"""The read retry policy: what is retried, how long it waits (on the clock), how it gives up."""

from __future__ import annotations

import logging

import ccxt
import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from exchange.retry import (
    RetryPolicy,
    call_with_retry,
    one_line,
    resync_clock,
    retry_after_seconds,
    wait_before_retry,
)

START = 1_700_000_000_000


class StubExchange:
    """Only what the retry helper reads from a ccxt instance: headers and the time resync."""

    def __init__(self, headers=None, resync_error=None):
        self.last_response_headers = headers
        self.resyncs = 0
        self.resync_error = resync_error

    def load_time_difference(self):
        self.resyncs += 1
        if self.resync_error:
            raise self.resync_error
        return 42


def failing(errors, result="ok"):
    """A call that raises each of ``errors`` in turn, then returns ``result``; counts calls."""
    state = {"calls": 0}

    def call():
        state["calls"] += 1
        if state["calls"] <= len(errors):
            raise errors[state["calls"] - 1]
        return result

    call.state = state
    return call


def run(call, clock=None, exchange=None, policy=None):
    return call_with_retry(call, what="fetch thing", policy=policy or RetryPolicy(),
                           clock=clock or ManualClock(START), exchange=exchange or StubExchange())


def test_default_policy_is_three_attempts_doubling_from_one_second():
    """
    Given the default retry policy
    When the backoff before each retry is asked for
    Then it is 1 s, 2 s, 4 s ... capped at 60 s, with 3 attempts in all
    """
    policy = RetryPolicy()
    assert policy.attempts == 3
    assert [policy.delay(n) for n in (1, 2, 3, 7, 20)] == [1.0, 2.0, 4.0, 60.0, 60.0]


@pytest.mark.parametrize("kwargs", [
    {"attempts": 0}, {"attempts": 2.5}, {"base_delay": -1}, {"factor": 0.5},
    {"max_delay": float("nan")},
])
def test_bad_policy_values_are_refused(kwargs):
    """
    Given zero attempts, a fractional count, a negative delay, a shrinking factor or NaN
    When a policy is built
    Then ValueError names the bad setting
    """
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**kwargs)


def test_retry_number_starts_at_one():
    """
    Given a policy
    When the delay before retry 0 is asked for
    Then ValueError says retries count from 1
    """
    with pytest.raises(ValueError, match="starts at 1"):
        RetryPolicy().delay(0)


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "2.5"}, 2.5),
    ({"Content-Type": "application/json"}, None),
    ({"Retry-After": "soon"}, None),
    ({"Retry-After": "-3"}, None),
    (None, None),
])
def test_retry_after_header_is_read_case_insensitively(headers, expected):
    """
    Given response headers with or without a usable Retry-After
    When the wait they ask for is read
    Then it is the number of seconds, or None when absent or unusable
    """
    assert retry_after_seconds(headers) == expected


def test_retry_after_lengthens_the_wait_only_for_rate_limits():
    """
    Given the last response carried Retry-After: 30
    When the wait after a 429 (DDoSProtection) and after a connection error is computed
    Then the 429 waits 30 s while the connection error keeps the 1 s backoff (stale header)
    """
    exchange = StubExchange(headers={"Retry-After": "30"})
    policy = RetryPolicy()
    assert wait_before_retry(ccxt.DDoSProtection("429"), 1, policy, exchange) == 30.0
    assert wait_before_retry(ccxt.RateLimitExceeded("-1015"), 1, policy, exchange) == 30.0
    assert wait_before_retry(ccxt.NetworkError("refused"), 1, policy, exchange) == 1.0


def test_retry_after_shorter_than_backoff_keeps_backoff():
    """
    Given Retry-After: 1 on the third attempt's 429
    When the wait is computed
    Then the 2 s backoff wins (the wait is the longer of the two)
    """
    exchange = StubExchange(headers={"Retry-After": "1"})
    assert wait_before_retry(ccxt.DDoSProtection("429"), 2, RetryPolicy(), exchange) == 2.0


@pytest.mark.parametrize("error", [
    ccxt.RequestTimeout("t"), ccxt.ExchangeNotAvailable("503"), ccxt.DDoSProtection("429"),
    ccxt.RateLimitExceeded("-1015"), ccxt.NetworkError("reset"), ccxt.OperationFailed("-1000"),
    ccxt.InvalidNonce("-1021"),
])
def test_retryable_errors_are_retried_until_success(error):
    """
    Given a read failing twice with a retryable ccxt error, then succeeding
    When it is called with the default policy on a manual clock
    Then the result comes back after three calls and 1 s + 2 s of clock time
    """
    clock = ManualClock(START)
    call = failing([error, error])
    assert run(call, clock=clock) == "ok"
    assert call.state["calls"] == 3
    assert clock.now_ms() - START == 3000


@pytest.mark.parametrize("error", [
    ccxt.AuthenticationError("-2015"), ccxt.BadRequest("-1102"), ccxt.InsufficientFunds("-2010"),
    ccxt.InvalidOrder("-1013"), ccxt.BadSymbol("-1121"), ccxt.OrderNotFound("-2013"),
    ccxt.ExchangeError("?"),
])
def test_non_retryable_errors_are_raised_at_once(error):
    """
    Given a read failing with a refusal no retry can fix
    When it is called
    Then the same ccxt error is raised after one call, without waiting
    """
    clock = ManualClock(START)
    call = failing([error])
    with pytest.raises(type(error)):
        run(call, clock=clock)
    assert call.state["calls"] == 1
    assert clock.now_ms() == START


def test_exhausted_retries_log_stack_trace_and_raise_exchange_unavailable(caplog):
    """
    Given a read that times out on every attempt
    When it is called with the default policy
    Then each failure but the last is a WARNING on "paperbot",
    the last is an ERROR with its stack trace on "paperbot.errors",
    and ExchangeUnavailable (not the ccxt error) says what failed and why
    """
    call = failing([ccxt.RequestTimeout("binance GET /api/v3/klines")] * 3)
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ExchangeUnavailable) as caught:
            run(call)
    assert call.state["calls"] == 3
    assert "fetch thing failed after 3 attempt(s)" in str(caught.value)
    assert isinstance(caught.value.__cause__, ccxt.RequestTimeout)
    warnings = [r for r in caplog.records if r.name == "paperbot" and r.levelno == logging.WARNING]
    errors = [r for r in caplog.records if r.name == "paperbot.errors"]
    assert len(warnings) == 2
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert errors[0].exc_info and errors[0].exc_info[0] is ccxt.RequestTimeout
    assert "Traceback" in caplog.text


def test_rate_limit_waits_retry_after_on_the_clock():
    """
    Given a read answered twice with 429 and Retry-After: 30, then OK
    When it is called on a manual clock
    Then the clock moved at least 2 x 30 s
    """
    clock = ManualClock(START)
    call = failing([ccxt.DDoSProtection("429")] * 2)
    run(call, clock=clock, exchange=StubExchange(headers={"Retry-After": "30"}))
    assert clock.now_ms() - START >= 60_000


def test_invalid_nonce_resyncs_the_clock_before_retrying():
    """
    Given a read rejected once with -1021 (InvalidNonce)
    When it is called
    Then the exchange's time offset is reloaded once and the retry succeeds
    """
    exchange = StubExchange()
    call = failing([ccxt.InvalidNonce("-1021")])
    assert run(call, exchange=exchange) == "ok"
    assert exchange.resyncs == 1


def test_failed_resync_is_logged_and_does_not_raise(caplog):
    """
    Given an exchange whose time endpoint is down
    When the clock is resynchronised
    Then it returns False and logs a warning instead of raising
    """
    exchange = StubExchange(resync_error=ccxt.NetworkError("down"))
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert resync_clock(exchange) is False
    assert "could not resynchronise" in caplog.text


def test_successful_resync_returns_true():
    """
    Given a reachable time endpoint
    When the clock is resynchronised
    Then it returns True
    """
    assert resync_clock(StubExchange()) is True


def test_single_attempt_policy_never_waits():
    """
    Given a policy of one attempt
    When the read fails with a timeout
    Then ExchangeUnavailable is raised at once with no clock time spent
    """
    clock = ManualClock(START)
    with pytest.raises(ExchangeUnavailable):
        run(failing([ccxt.RequestTimeout("t")]), clock=clock, policy=RetryPolicy(attempts=1))
    assert clock.now_ms() == START


def test_one_line_flattens_and_shortens_messages():
    """
    Given an error whose message spans lines and is very long
    When it is summarised
    Then the summary is one line, starts with the type and is at most the limit long
    """
    text = one_line(ccxt.ExchangeError("a\nb " + "x" * 1000), limit=50)
    assert "\n" not in text
    assert text.startswith("ExchangeError: a b")
    assert len(text) <= len("ExchangeError: ") + 50
    assert one_line(ccxt.NetworkError()) == "NetworkError"
