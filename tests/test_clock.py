"""Clocks shared by the bot and the emulator."""

import time

import pytest

from core.clock import AcceleratedClock, ManualClock, RealClock


def test_manual_clock_moves_only_when_slept_on():
    """
    Given a manual clock at 1,000 ms
    When it is read, then slept on for 2.5 seconds
    Then it reads 1,000 ms first and 3,500 ms after, without waiting for real
    """
    clock = ManualClock(1_000)
    assert clock.now_ms() == 1_000
    started = time.monotonic()
    clock.sleep(2.5)
    assert clock.now_ms() == 3_500
    assert time.monotonic() - started < 0.1


def test_manual_clock_ignores_negative_advance():
    """
    Given a manual clock at 5,000 ms
    When it is advanced by a negative amount
    Then its time does not move back
    """
    clock = ManualClock(5_000)
    clock.advance(-3)
    assert clock.now_ms() == 5_000


def test_accelerated_clock_runs_faster_than_wall_time():
    """
    Given an accelerated clock at speed 1000 starting at 0
    When 60 clock seconds are slept
    Then at least 60,000 clock ms have passed while the wall waited about 60 ms
    """
    clock = AcceleratedClock(1000, start_ms=0)
    started = time.monotonic()
    clock.sleep(60)
    assert clock.now_ms() >= 60_000
    assert time.monotonic() - started < 1.0


def test_accelerated_clock_rejects_non_positive_speed():
    """
    Given a speed of zero
    When an accelerated clock is built
    Then it refuses with a message naming the speed
    """
    with pytest.raises(ValueError, match="speed"):
        AcceleratedClock(0)


def test_real_clock_reads_wall_time():
    """
    Given the real clock
    When it is read and slept on for zero seconds
    Then it matches the wall clock within a second
    """
    clock = RealClock()
    clock.sleep(0)
    assert abs(clock.now_ms() - time.time() * 1000) < 1000


def test_paced_clock_advances_by_the_sleep_and_waits_a_fraction():
    """
    Given a paced clock at speed 100 starting at 0
    When it is slept on for 5 seconds
    Then it reads 5,000 ms and about 50 ms of wall time passed
    """
    from core.clock import PacedClock

    clock = PacedClock(0, speed=100)
    started = time.monotonic()
    clock.sleep(5)
    waited = time.monotonic() - started
    assert clock.now_ms() == 5_000
    assert 0.04 <= waited < 1.0


def test_paced_clock_at_infinite_speed_does_not_wait():
    """
    Given a paced clock with no speed cap
    When it is slept on for an hour
    Then an hour passes on the clock at once
    """
    from core.clock import PacedClock

    clock = PacedClock(0)
    started = time.monotonic()
    clock.sleep(3600)
    assert clock.now_ms() == 3_600_000 and time.monotonic() - started < 0.1
    with pytest.raises(ValueError):
        PacedClock(0, speed=-1)
