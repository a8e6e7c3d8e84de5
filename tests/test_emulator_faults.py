"""The fault switchboard, without HTTP."""

import pytest

from core.clock import ManualClock
from emulator.faults import Decision, FaultInjector


def test_outage_lasts_for_clock_time():
    """
    Given an outage of 30 clock seconds
    When requests arrive at once, after 29 s and after 30 s
    Then the first two are dropped and the last goes through
    """
    clock = ManualClock(0)
    faults = FaultInjector(clock)
    faults.outage(30)
    assert faults.decide("GET", "/api/v3/time").drop
    clock.advance(29)
    assert faults.decide("GET", "/api/v3/time").drop
    clock.advance(1)
    assert faults.decide("GET", "/api/v3/time") == Decision()


def test_counted_faults_hit_exactly_count_matching_requests():
    """
    Given two 503s only for POST /api/v3/order, one 429 and one slow answer
    When requests arrive
    Then the first request gets the 429 (slowed), GETs pass, two POSTs get 503, then none
    """
    faults = FaultInjector(ManualClock(0))
    faults.server_errors(2, 503, method="POST", path="/api/v3/order")
    faults.rate_limit(1, retry_after_s=7)
    faults.slow(1, 0.2)
    assert faults.decide("GET", "/x") == Decision(delay_s=0.2, status=429, retry_after_s=7)
    assert faults.decide("GET", "/api/v3/order") == Decision()
    assert faults.decide("POST", "/api/v3/order").status == 503
    assert faults.decide("POST", "/api/v3/order").status == 503
    assert faults.decide("POST", "/api/v3/order") == Decision()


def test_skew_and_order_timeout_are_consumed_once_each():
    """
    Given one clock skew, one dropped order answer and one delayed order answer
    When they are taken
    Then each is true/its value once and then gone
    """
    faults = FaultInjector(ManualClock(0))
    faults.clock_skew(1)
    faults.order_timeout_after_fill(1)
    faults.order_timeout_after_fill(1, delay_s=0.5)
    assert faults.take_clock_skew() and not faults.take_clock_skew()
    assert faults.take_order_timeout() == -1.0
    assert faults.take_order_timeout() == 0.5
    assert faults.take_order_timeout() is None


def test_clear_and_active_report_the_armed_faults():
    """
    Given an outage and some counted faults
    When active() is read, then clear() is called
    Then active() shows them, and after clear nothing is armed
    """
    clock = ManualClock(0)
    faults = FaultInjector(clock)
    faults.outage(10)
    faults.server_errors(3)
    faults.clock_skew(2)
    active = faults.active()
    assert active["outage_ms_left"] == 10_000 and active["server_errors"] == 3
    assert active["clock_skew"] == 2
    faults.clear()
    assert set(faults.active().values()) == {0}
    assert faults.decide("GET", "/") == Decision()


def test_balance_wipe_calls_the_servers_wipe():
    """
    Given an injector wired to a wipe callback
    When balance_wipe() is called
    Then the callback ran once
    """
    calls = []
    FaultInjector(ManualClock(0), on_wipe=lambda: calls.append(1)).balance_wipe()
    assert calls == [1]


def test_apply_arms_faults_from_json_objects():
    """
    Given fault specs as a remote process would send them
    When they are applied, including an unknown fault and bad arguments
    Then valid ones are armed and the others raise a ValueError naming the problem
    """
    faults = FaultInjector(ManualClock(0))
    faults.apply({"fault": "server_errors", "count": 2, "status": 500})
    faults.apply({"fault": "slow", "count": 1, "delay_s": 0.1})
    assert faults.active()["server_errors"] == 2 and faults.active()["slow"] == 1
    with pytest.raises(ValueError, match="unknown fault 'melt'"):
        faults.apply({"fault": "melt"})
    with pytest.raises(ValueError, match="bad arguments"):
        faults.apply({"fault": "outage", "minutes": 3})
    with pytest.raises(ValueError, match="5xx"):
        faults.server_errors(1, status=404)
