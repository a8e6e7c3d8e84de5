"""Raw OHLCV rows become a clean candle frame, or a one-line reason naming the bad candle."""

from __future__ import annotations

import math

import pytest

from exchange.validation import (
    CandleDataError,
    _parse_columns,
    closed_candles,
    describe_time,
    raw_row_problem,
    rows_to_frame,
)

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE = 60_000


def good_rows(count=3):
    """``count`` clean one-minute candles from T0."""
    return [[T0 + i * MINUTE, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 10.0]
            for i in range(count)]


def test_clean_rows_become_a_contract_frame():
    """
    Given three clean raw rows (one with numeric strings, as some replies carry)
    When they are turned into a frame
    Then it has the storage columns and dtypes, a RangeIndex and the same values
    """
    rows = good_rows()
    rows[1] = [str(v) if i else v for i, v in enumerate(rows[1])]
    frame = rows_to_frame(rows)
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(frame["timestamp"].dtype) == "int64"
    assert all(str(frame[c].dtype) == "float64" for c in frame.columns[1:])
    assert list(frame.index) == [0, 1, 2]
    assert frame["close"].tolist() == [100.5, 101.5, 102.5]


def test_empty_reply_gives_empty_frame():
    """
    Given an empty candle list
    When it is turned into a frame
    Then the frame is empty with the contract columns
    """
    frame = rows_to_frame([])
    assert frame.empty and list(frame.columns)[0] == "timestamp"


def test_none_reply_is_an_error():
    """
    Given no candle list at all (None)
    When it is turned into a frame
    Then CandleDataError says no list came
    """
    with pytest.raises(CandleDataError, match="no candle list"):
        rows_to_frame(None)


def _with(index, row):
    rows = good_rows()
    rows[index] = row
    return rows


BAD = {
    "none row": (_with(1, None), "candle 2 of 3: the candle is missing (None)"),
    "not a list": (_with(1, "garbage"), "candle 2 of 3: the candle is not a list"),
    "short row": (_with(2, [T0 + 2 * MINUTE, 1.0, 2.0]),
                  "candle 3 of 3 (2024-01-01 00:02 UTC): the candle has 3 field"),
    "missing field": (_with(1, [T0 + MINUTE, 100.0, None, 99.0, 100.0, 1.0]),
                      "candle 2 of 3 (2024-01-01 00:01 UTC): high is missing"),
    "non-numeric": (_with(1, [T0 + MINUTE, "abc", 101.0, 99.0, 100.0, 1.0]),
                    "open 'abc' is not a number"),
    "boolean": (_with(1, [T0 + MINUTE, True, 101.0, 99.0, 100.0, 1.0]), "is not a number"),
    "missing time": (_with(0, [None, 100.0, 101.0, 99.0, 100.0, 1.0]),
                     "candle 1 of 3: timestamp is missing"),
    "fractional time": (_with(0, [T0 + 0.5, 100.0, 101.0, 99.0, 100.0, 1.0]),
                        "is not whole epoch milliseconds"),
    "NaN time": (_with(0, [math.nan, 100.0, 101.0, 99.0, 100.0, 1.0]),
                 "is not whole epoch milliseconds"),
    "NaN price": (_with(1, [T0 + MINUTE, 100.0, 101.0, math.nan, 100.0, 1.0]),
                  "candle 2 of 3 (2024-01-01 00:01 UTC): a price or the volume is missing (NaN)"),
    "zero price": (_with(1, [T0 + MINUTE, 0.0, 101.0, 0.0, 100.0, 1.0]),
                   "a price is zero or negative"),
    "negative price": (_with(1, [T0 + MINUTE, -5.0, 101.0, -6.0, 100.0, 1.0]),
                       "a price is zero or negative"),
    "high below low": (_with(1, [T0 + MINUTE, 100.0, 98.0, 99.0, 98.5, 1.0]),
                       "high is below low"),
    "open outside": (_with(1, [T0 + MINUTE, 105.0, 101.0, 99.0, 100.0, 1.0]),
                     "open is outside [low, high]"),
    "close outside": (_with(1, [T0 + MINUTE, 100.0, 101.0, 99.0, 98.0, 1.0]),
                      "close is outside [low, high]"),
    "negative volume": (_with(1, [T0 + MINUTE, 100.0, 101.0, 99.0, 100.0, -1.0]),
                        "volume is negative"),
    "duplicate time": (_with(2, [T0 + MINUTE, 100.0, 101.0, 99.0, 100.0, 1.0]),
                       "candle 3 of 3 (2024-01-01 00:01 UTC): timestamp is not after"),
    "time going back": (_with(2, [T0 - MINUTE, 100.0, 101.0, 99.0, 100.0, 1.0]),
                        "timestamp is not after the previous row's"),
}


@pytest.mark.parametrize("rows, words", BAD.values(), ids=BAD.keys())
def test_each_bad_row_kind_is_named(rows, words):
    """
    Given a reply with one bad candle of a given kind
    When it is turned into a frame
    Then CandleDataError names the candle's position (and time when known) and the problem,
    on one line
    """
    with pytest.raises(CandleDataError) as caught:
        rows_to_frame(rows)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_raw_row_problem_accepts_extra_fields():
    """
    Given a raw row with the six fields plus extra ones (Binance sends 12)
    When its shape is checked
    Then no problem is found
    """
    assert raw_row_problem([T0, "1", "2", "0.5", "1.5", "3", T0 + MINUTE - 1, "0", 1]) is None


def test_open_candle_is_dropped_and_closed_ones_kept():
    """
    Given three one-minute candles and server time 30 s into the third
    When the closed candles of the reply are taken
    Then the first two remain, re-indexed, with the frame's dtypes; at the third's exact close
     all three remain
    """
    closed = closed_candles(good_rows(), MINUTE, T0 + 2 * MINUTE + 30_000)
    assert closed["timestamp"].tolist() == [T0, T0 + MINUTE]
    assert list(closed.index) == [0, 1]
    assert closed.dtypes.astype(str).tolist() == ["int64"] + ["float64"] * 5
    assert len(closed_candles(good_rows(), MINUTE, T0 + 3 * MINUTE)) == 3


def test_describe_time_formats_utc_and_tolerates_junk():
    """
    Given a valid epoch-ms time and a value that is not a time
    When they are described for a message
    Then the time reads as UTC minutes and the junk is shown as-is
    """
    assert describe_time(T0) == "2024-01-01 00:00 UTC"
    assert describe_time("junk") == "'junk'"


def test_parsing_checks_shape_but_not_price_rules():
    """
    Given a well-formed reply whose second candle has high below low
    When it is parsed into columns
    Then the columns are built (price rules are not its job), while a None row still fails
    """
    rows = _with(1, [T0 + MINUTE, 100.0, 98.0, 99.0, 98.5, 1.0])
    assert _parse_columns(rows)[1][1, 1] == 98.0  # row 2's high
    with pytest.raises(CandleDataError, match="missing"):
        _parse_columns(_with(1, None))


def test_closed_candles_ignore_price_oddities_of_the_open_candle():
    """
    Given a reply whose still-open last candle has its close below its low (a transient
    oddity in data about to be dropped)
    When the closed candles are taken 30 s into that candle
    Then the two closed candles come back and no error is raised
    """
    rows = _with(2, [T0 + 2 * MINUTE, 100.0, 101.0, 99.5, 99.49, 1.0])
    closed = closed_candles(rows, MINUTE, T0 + 2 * MINUTE + 30_000)
    assert closed["timestamp"].tolist() == [T0, T0 + MINUTE]


def test_closed_candles_reject_a_bad_closed_candle():
    """
    Given the same reply with the server time after the third candle closed
    When the closed candles are taken
    Then CandleDataError names candle 3 and its close outside the range
    """
    rows = _with(2, [T0 + 2 * MINUTE, 100.0, 101.0, 99.5, 99.49, 1.0])
    with pytest.raises(CandleDataError, match="candle 3 of 3 .*close is outside"):
        closed_candles(rows, MINUTE, T0 + 3 * MINUTE)


def test_closed_candles_reject_unordered_times_even_in_dropped_rows():
    """
    Given a reply whose middle row is a future candle, out of order
    When the closed candles are taken
    Then CandleDataError names the row after it as not later than the previous one
    """
    rows = good_rows()
    rows[1][0] = T0 + 10 * MINUTE
    with pytest.raises(CandleDataError, match="candle 3 of 3 .*timestamp is not after"):
        closed_candles(rows, MINUTE, T0 + 2 * MINUTE + 30_000)
