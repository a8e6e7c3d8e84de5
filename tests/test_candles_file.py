"""The candle frame and its CSV file: reading, validating, appending without duplicates."""

import numpy as np
import pandas as pd
import pytest

from core.candles import (
    CANDLE_COLUMNS,
    CandleFileError,
    candle_problem,
    candles_from_columns,
    columns_problem,
    empty_candles,
)
from storage.candles import (
    append_candles,
    candle_lines,
    last_stored_timestamp,
    read_candles,
    repair_partial_tail,
)

HEADER = "timestamp,open,high,low,close,volume\n"


def frame(rows):
    return pd.DataFrame(rows, columns=CANDLE_COLUMNS).astype({"timestamp": "int64"})


def good_rows(n=3, start=1_700_000_000_000):
    return [[start + i * 60_000, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 5.0] for i in range(n)]


def test_read_epoch_ms_file(tmp_path):
    """
    Given a candle CSV with epoch-millisecond timestamps and an extra column
    When it is read
    Then the frame has the six columns with int64 timestamps and float prices
    """
    path = tmp_path / "c.csv"
    path.write_text("timestamp,open,high,low,close,volume,strategy_signal\n"
                    "60000,1,2,0.5,1.5,10,0\n120000,1.5,2.5,1,2,11,1\n")
    got = read_candles(path)
    assert list(got.columns) == CANDLE_COLUMNS
    assert got["timestamp"].dtype == np.int64 and got["close"].dtype == np.float64
    assert got["timestamp"].tolist() == [60_000, 120_000]


def test_read_iso_timestamps(tmp_path):
    """
    Given a candle CSV with ISO 8601 UTC timestamps
    When it is read
    Then the timestamps become epoch milliseconds
    """
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01 00:01:00,1,2,1,1,1\n")
    assert read_candles(path)["timestamp"].tolist() == [1_704_067_200_000, 1_704_067_260_000]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("timestamp,open,high,low,close\n1,1,1,1,1\n", "missing column(s) volume"),
        (HEADER + "60000,1,2,0.5,abc,1\n", "line 2: close 'abc' is not a number"),
        (HEADER + "60000,1,2,0.5,1,1\n60000,1,2,0.5,1,1\n", "line 3: timestamp is not after"),
        (HEADER + "120000,1,2,0.5,1,1\n60000,1,2,0.5,1,1\n", "line 3: timestamp is not after"),
        (HEADER + "60000,1,0.5,2,1,1\n", "line 2: high is below low"),
        (HEADER + "60000,0,2,0.5,1,1\n", "line 2: a price is zero or negative"),
        (HEADER + "60000,1,2,0.5,1,\n", "line 2: a price or the volume is missing"),
        (HEADER + "yesterday,1,2,0.5,1,1\n", "line 2: timestamp 'yesterday'"),
        ("", "the file is empty"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, body, fragment):
    """
    Given a candle CSV with one defect
    When it is read
    Then a one-line CandleFileError names the line and the defect
    """
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(CandleFileError) as caught:
        read_candles(path)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_is_reported(tmp_path):
    """
    Given a path with no file
    When it is read as candles
    Then the error says there is no such candle file
    """
    with pytest.raises(CandleFileError, match="no such candle file"):
        read_candles(tmp_path / "nope.csv")


def test_candle_problem_finds_first_bad_row():
    """
    Given a frame whose second row has its close above the high and third row a NaN
    When it is checked
    Then the problem reported is the second row's
    """
    rows = good_rows(3)
    rows[1][4] = 500.0
    rows[2][1] = float("nan")
    assert candle_problem(frame(rows)) == (1, "close is outside [low, high]")
    assert candle_problem(frame(good_rows(3))) is None
    assert candle_problem(empty_candles()) is None


@pytest.mark.parametrize("row, column, value, reason", [
    (0, 2, 0.0, "a price is zero or negative"),
    (1, 3, 200.0, "high is below low"),
    (1, 1, 1.0, "open is outside [low, high]"),
    (2, 5, -1.0, "volume is negative"),
    (2, 0, 0, "timestamp is not after the previous row's (unsorted or duplicate)"),
])
def test_columns_problem_gives_what_candle_problem_gives(row, column, value, reason):
    """
    Given three good candles with one field made bad (a zero price, high under low, open
     outside the range, negative volume, or a timestamp that goes back)
    When the plain arrays are checked, and the same rows as a frame
    Then both name the same row and reason
    """
    rows = good_rows(3)
    rows[row][column] = value
    table = np.array(rows, dtype="float64")
    found = columns_problem(table[:, 0].astype("int64"), table[:, 1:5], table[:, 5])
    assert found == (row, reason)
    assert candle_problem(frame(rows)) == found


def test_candles_from_columns_builds_the_frame_contract():
    """
    Given open times and an (n, 5) array of open, high, low, close, volume
    When a candle frame is built from them, and from no rows
    Then it has the six columns, int64 times, float64 values and a RangeIndex, equal to the
     frame of the same rows; with no rows it is the empty candle frame
    """
    rows = good_rows(3)
    table = np.array(rows, dtype="float64")
    built = candles_from_columns(table[:, 0].astype("int64"), table[:, 1:])
    pd.testing.assert_frame_equal(built, frame(rows))
    assert isinstance(built.index, pd.RangeIndex)
    empty = candles_from_columns(np.empty(0, dtype="int64"), np.empty((0, 5)))
    pd.testing.assert_frame_equal(empty, empty_candles())


def test_append_writes_header_once_and_skips_stored_timestamps(tmp_path):
    """
    Given an empty data folder
    When three candles are appended, then an overlapping batch of four
    Then the file holds four rows with no duplicate timestamp and the header once
    """
    path = tmp_path / "data" / "historical_data.csv"
    assert append_candles(path, frame(good_rows(3))) == 3
    assert append_candles(path, frame(good_rows(4))) == 1
    assert append_candles(path, frame(good_rows(4))) == 0
    text = path.read_text()
    assert text.count("timestamp") == 1
    stored = read_candles(path)
    assert stored["timestamp"].is_unique and len(stored) == 4


def test_last_stored_timestamp_reads_the_tail(tmp_path):
    """
    Given a candle file of 5,000 rows and a missing file
    When the last stored timestamp is read
    Then it is the last row's, and None for the missing file
    """
    path = tmp_path / "c.csv"
    append_candles(path, frame(good_rows(5000)))
    assert last_stored_timestamp(path) == 1_700_000_000_000 + 4999 * 60_000
    assert last_stored_timestamp(tmp_path / "none.csv") is None
    header_only = tmp_path / "h.csv"
    header_only.write_text(HEADER)
    assert last_stored_timestamp(header_only) is None


def test_partial_last_line_is_ignored_then_repaired(tmp_path):
    """
    Given a candle file whose last line was cut by a killed writer
    When the last timestamp is read and the file is repaired and appended to
    Then the partial row is not counted, is removed, and the file reads cleanly
    """
    path = tmp_path / "c.csv"
    append_candles(path, frame(good_rows(2)))
    with path.open("a") as handle:
        handle.write("1700000120000,102.0,10")
    assert last_stored_timestamp(path) == 1_700_000_060_000
    assert repair_partial_tail(path) is True
    assert repair_partial_tail(path) is False
    assert append_candles(path, frame(good_rows(3))) == 1
    assert len(read_candles(path)) == 3


def test_a_complete_last_candle_row_lacking_its_newline_is_kept(tmp_path, caplog):
    """
    Given a candle file whose last row is complete but lacks its newline
    When newer candles are appended
    Then that row is kept (not cut as if torn), a warning says so, and the new rows follow it
    """
    import logging

    path = tmp_path / "c.csv"
    append_candles(path, frame(good_rows(2)))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert append_candles(path, frame(good_rows(4))) == 2
    assert "lacked its line end" in caplog.text
    assert len(read_candles(path)) == 4


@pytest.mark.parametrize("tail", ["1700000120000,102.0,104.0,101.0,103.0",
                                  "1700000120000,102.0,104.0,101.0,105.0,5",
                                  "1700000120000,102.0,104.0,101.0,10x,5", "17000"])
def test_a_torn_or_unsound_last_candle_row_is_still_cut(tmp_path, tail):
    """
    Given a candle file ending in an unterminated row that is short, breaks the candle rules or
    is not numeric
    When the tail is repaired
    Then it is cut
    """
    path = tmp_path / "c.csv"
    append_candles(path, frame(good_rows(2)))
    with path.open("a") as handle:
        handle.write(tail)
    assert repair_partial_tail(path) is True
    assert len(read_candles(path)) == 2


def test_a_failed_candle_append_leaves_no_partial_row(tmp_path, monkeypatch):
    """
    Given a candle file and a disk that fills up part-way through the next append
    When append_candles fails with ENOSPC
    Then the file holds exactly the rows it had, ending on a whole line
    """
    import errno
    import os

    import storage.atomic as atomic

    path = tmp_path / "c.csv"
    append_candles(path, frame(good_rows(2)))
    before = path.read_bytes()
    real_write = os.write

    def half(fd, data):
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", half)
    with pytest.raises(OSError):
        append_candles(path, frame(good_rows(4)))
    monkeypatch.undo()
    assert path.read_bytes() == before


def _pandas_lines(candles: pd.DataFrame) -> str:
    return candles[CANDLE_COLUMNS].to_csv(header=False, index=False, lineterminator="\n")


def test_candle_lines_are_what_pandas_writes_for_any_float_and_int():
    """
    Given 20,000 candle rows whose prices and volumes are random floats of every magnitude
     (1e-12 to 1e19, subnormal, huge, 0.1 + 0.2, -0.0, infinities) and int64 timestamps,
     with an extra column in front
    When they are turned into CSV lines
    Then the text is byte for byte what pandas' to_csv writes for the six candle columns
    """
    rng = np.random.default_rng(7)
    n = 20_000
    special = [0.0, -0.0, 1e-5, 1e-4, 0.1 + 0.2, 1e15, 1e16, 9999999999999998.0, 5e-324,
               1.7976931348623157e308, float("inf"), -float("inf"), 100.0, 3e-7]
    values = rng.random((n, 5)) * 10.0 ** rng.integers(-12, 20, (n, 5))
    values.flat[:len(special)] = special
    candles = pd.DataFrame(values, columns=CANDLE_COLUMNS[1:])
    candles.insert(0, "timestamp", rng.integers(0, 2**62, n, dtype=np.int64))
    candles.insert(0, "extra", "x")
    assert candle_lines(candles) == _pandas_lines(candles)


def test_candle_lines_leave_other_dtypes_and_nan_to_pandas():
    """
    Given candle frames with a float32 volume, with an object price column, and with a NaN
    When they are turned into CSV lines
    Then each text is what pandas writes (its own float32 digits, its empty field for NaN)
    """
    base = frame(good_rows(3))
    as_float32 = base.astype({"volume": "float32"})
    as_float32.loc[0, "volume"] = np.float32(0.1)
    as_object = base.astype({"open": object})
    with_nan = base.copy()
    with_nan.loc[1, "high"] = np.nan
    for candles in (as_float32, as_object, with_nan):
        assert candle_lines(candles) == _pandas_lines(candles)
    assert candle_lines(as_float32).splitlines()[0].endswith(",0.1")
    assert "101.0,,100.0" in candle_lines(with_nan)
