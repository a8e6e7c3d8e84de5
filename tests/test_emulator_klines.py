"""Klines and 24-hour tickers computed from a market (no HTTP)."""

import numpy as np
import pandas as pd
import pytest

from emulator.klines import aggregate, base_rows_until, klines, ticker_24hr
from emulator.market import GeneratedMarket, ReplayMarket

T0 = 1_700_000_040_000
I0 = T0 // 60_000


def floats(row):
    return [float(x) for x in row[1:6]]


def test_klines_end_with_the_open_candle_built_so_far():
    """
    Given a generated market and a clock 30 s into the candle opening at T0
    When 3 one-minute klines are asked
    Then they are the two closed candles before T0 and the partial candle at T0, with
    12 fields each, close times one ms before the next open
    """
    m = GeneratedMarket(4)
    now = T0 + 30_000
    bars = klines(m, 60_000, now, limit=3)
    assert [b[0] for b in bars] == [T0 - 120_000, T0 - 60_000, T0]
    assert all(len(b) == 12 and b[6] == b[0] + 59_999 for b in bars)
    assert floats(bars[0]) == pytest.approx(list(m.candle_at(T0 - 120_000)))
    assert floats(bars[2]) == pytest.approx(list(m.partial_at(now)), abs=1e-8)
    assert isinstance(bars[0][1], str) and bars[0][1].split(".")[1].__len__() == 8


def test_klines_start_end_and_limit_follow_binance():
    """
    Given a generated market and a clock at T0 + 10 min
    When klines are asked from a startTime that is not on a bar open, with endTime, and
    from a startTime in the future
    Then bars open at or after startTime, stop at endTime or the limit, and none in the future
    """
    m = GeneratedMarket(4)
    now = T0 + 600_000
    bars = klines(m, 60_000, now, start_ms=T0 + 1, limit=3)
    assert [b[0] for b in bars] == [T0 + 60_000, T0 + 120_000, T0 + 180_000]
    bars = klines(m, 60_000, now, start_ms=T0, end_ms=T0 + 120_000, limit=500)
    assert [b[0] for b in bars] == [T0, T0 + 60_000, T0 + 120_000]
    bars = klines(m, 60_000, now, end_ms=T0 + 120_000, limit=2)
    assert [b[0] for b in bars] == [T0 + 60_000, T0 + 120_000]
    assert klines(m, 60_000, now, start_ms=now + 60_000) == []
    assert len(klines(m, 60_000, now, limit=1000)) == 1000


def test_five_minute_klines_aggregate_the_one_minute_ones():
    """
    Given a generated market and a clock 2.5 minutes into a 5-minute bar
    When 5m and 1m klines cover the same span
    Then each 5m bar's open/high/low/close/volume come from its 1m bars, the last one from the
    1m bars so far
    """
    m = GeneratedMarket(8)
    five_open = (T0 // 300_000) * 300_000
    now = five_open + 150_000
    five = klines(m, 300_000, now, limit=3)
    ones = klines(m, 60_000, now, start_ms=five[0][0], limit=1000)
    assert five[-1][0] == five_open
    for bar in five:
        members = np.array([floats(b) for b in ones if bar[0] <= b[0] < bar[0] + 300_000])
        want = [members[0, 0], members[:, 1].max(), members[:, 2].min(), members[-1, 3],
                members[:, 4].sum()]
        assert floats(bar) == pytest.approx(want, abs=2e-8)
    assert len([b for b in ones if b[0] >= five_open]) == 3


def test_hour_klines_and_multiples_of_the_base_only():
    """
    Given a generated market
    When 1h klines are asked and an interval that is not a multiple of the 1m base
    Then hour bars open on whole hours and the odd interval raises a ValueError
    """
    m = GeneratedMarket(8)
    bars = klines(m, 3_600_000, T0, limit=5)
    assert all(b[0] % 3_600_000 == 0 for b in bars) and len(bars) == 5
    with pytest.raises(ValueError, match="multiple"):
        klines(m, 90_000, T0)


def test_replay_klines_start_at_the_first_candle():
    """
    Given a replay of 10 candles starting at T0 and a clock 5 minutes in
    When 500 klines are asked
    Then only the 5 closed candles and the open one are returned, none before T0
    """
    frame = pd.DataFrame({
        "timestamp": T0 + 60_000 * np.arange(10, dtype="int64"),
        "open": np.arange(10.0) + 100, "high": np.arange(10.0) + 102,
        "low": np.arange(10.0) + 99, "close": np.arange(10.0) + 101, "volume": np.ones(10),
    })
    m = ReplayMarket(frame)
    bars = klines(m, 60_000, T0 + 300_000, limit=500)
    assert [b[0] for b in bars] == list(T0 + 60_000 * np.arange(6))
    assert floats(bars[0]) == [100.0, 102.0, 99.0, 101.0, 1.0]
    assert klines(m, 60_000, T0 - 60_000) == []


def test_aggregate_ignores_missing_rows():
    """
    Given two 3-row groups, the first with a missing middle row and the second all missing
    When they are aggregated
    Then the first bar uses its two rows and the second is NaN
    """
    nan = [np.nan] * 5
    rows = np.array([[1, 3, 0.5, 2, 1], nan, [2, 5, 1, 4, 2], nan, nan, nan], dtype=float)
    out = aggregate(rows, 3)
    assert out[0].tolist() == [1, 5, 0.5, 4, 3]
    assert np.isnan(out[1]).all()


def test_base_rows_until_hides_the_future():
    """
    Given a generated market and a clock 30 s into candle I0
    When rows from I0-1 to I0+1 are read as seen now, and rows entirely in the future
    Then the candle before is whole, I0 is partial and I0+1 is NaN; the future ones all NaN
    """
    m = GeneratedMarket(1)
    rows = base_rows_until(m, I0 - 1, 3, T0 + 30_000)
    assert rows[0].tolist() == list(m.candle_at(T0 - 60_000))
    assert rows[1].tolist() == pytest.approx(list(m.partial_at(T0 + 30_000)))
    assert np.isnan(rows[2]).all()
    assert np.isnan(base_rows_until(m, I0 + 5, 2, T0)).all()


def test_ticker_24hr_summarises_the_last_day():
    """
    Given a generated market and a clock at T0 + 30 s
    When the 24-hour ticker is built
    Then last price is the price now, high/low enclose it, open is the day-ago open and
    times are ints
    """
    m = GeneratedMarket(1)
    now = T0 + 30_000
    t = ticker_24hr(m, "BTCUSDT", now)
    last = float(t["lastPrice"])
    assert last == m.price_at(now) == float(t["bidPrice"]) == float(t["askPrice"])
    assert float(t["lowPrice"]) <= last <= float(t["highPrice"])
    assert float(t["openPrice"]) == m.candle_at(now - 86_400_000)[0]
    assert t["closeTime"] == now and t["openTime"] == now - 86_400_000
    assert isinstance(t["count"], int) and float(t["volume"]) > 0


def test_ticker_24hr_before_a_replay_starts_is_flat():
    """
    Given a replay starting at T0 and a clock one hour earlier
    When the 24-hour ticker is built
    Then it is flat at the first open with zero volume
    """
    frame = pd.DataFrame({"timestamp": [T0], "open": [10.0], "high": [11.0], "low": [9.0],
                          "close": [10.5], "volume": [1.0]})
    t = ticker_24hr(ReplayMarket(frame), "BTCUSDT", T0 - 3_600_000)
    assert float(t["lastPrice"]) == 10.0 == float(t["highPrice"]) and float(t["volume"]) == 0
