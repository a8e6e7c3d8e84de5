"""Candle-close arithmetic of the bot loop."""

from bot.timing import next_close_ms, wake_time_ms

MINUTE = 60_000


def test_next_close_inside_a_candle():
    """
    Given a time 10 seconds into a 1-minute candle opened at 120,000 ms
    When the next close is computed
    Then it is 180,000 ms
    """
    assert next_close_ms(130_000, MINUTE) == 180_000


def test_next_close_on_a_boundary_is_the_following_one():
    """
    Given a time exactly on a candle boundary
    When the next close is computed
    Then it is one timeframe later
    """
    assert next_close_ms(180_000, MINUTE) == 240_000


def test_wake_time_adds_the_offset_and_does_not_skip_a_close_inside_the_offset():
    """
    Given a 2-second offset and times before and just after a close
    When the wake time is computed
    Then it is the close plus 2 seconds, also 1 second after the close (the wake is still due)
    """
    assert wake_time_ms(130_000, MINUTE, 2_000) == 182_000
    assert wake_time_ms(181_000, MINUTE, 2_000) == 182_000
    assert wake_time_ms(182_000, MINUTE, 2_000) == 242_000
