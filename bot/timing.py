"""Candle-close arithmetic for the loop: when the current candle closes, when to wake up."""

from __future__ import annotations


def next_close_ms(now_ms: int, timeframe_ms: int) -> int:
    """Close time (= next candle's open time) of the candle that is open at ``now_ms``.

    Candles are aligned on multiples of the timeframe since the epoch, as on Binance; at an
    exact boundary the candle that just opened is the current one.
    """
    return (now_ms // timeframe_ms + 1) * timeframe_ms


def wake_time_ms(now_ms: int, timeframe_ms: int, offset_ms: int) -> int:
    """When the loop should fetch: the current candle's close plus a small offset.

    The offset gives the exchange time to publish the closed candle; without it the fetch can
    still see the candle as open and the cycle would find nothing new.
    """
    return next_close_ms(now_ms - offset_ms, timeframe_ms) + offset_ms
