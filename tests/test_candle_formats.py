"""The one candle reader: every layout, the time-line checks and the notes."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from core.candles import CANDLE_COLUMNS, CandleFileError
from storage.candle_formats import (
    BINANCE_LAYOUT,
    FREQTRADE_FEATHER_LAYOUT,
    FREQTRADE_JSON_LAYOUT,
    HEADER_LAYOUT,
    PROJECT_LAYOUT,
    TRADINGVIEW_LAYOUT,
    CandleSource,
    epoch_ms_from_numbers,
    read_any,
    read_candle_source,
    stderr_note,
    time_line_notes,
    timeframe_label,
    timeframe_of,
)
from tests.candle_layouts import LAYOUTS, candles, write_layout

EXPECTED_LAYOUT = {
    "the project's CSV": PROJECT_LAYOUT,
    "a TradingView chart export in Unix seconds": TRADINGVIEW_LAYOUT,
    "a TradingView chart export with New York times": TRADINGVIEW_LAYOUT,
    "a freqtrade json file": FREQTRADE_JSON_LAYOUT,
    "a freqtrade feather file": FREQTRADE_FEATHER_LAYOUT,
    "a Binance kline CSV in milliseconds": BINANCE_LAYOUT,
    "a Binance kline CSV in microseconds": BINANCE_LAYOUT,
    "a Date,Open,High,Low,Close,Volume CSV": HEADER_LAYOUT,
    "a semicolon CSV with decimal commas": HEADER_LAYOUT,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_reads_to_the_same_candles(tmp_path, layout):
    """
    Given 60 five-minute candles written in one of the layouts users bring
    When read_candle_source reads the file
    Then the candle frame equals the original and the layout and timeframe are named
    """
    frame = candles()
    path = write_layout(layout, frame, tmp_path)
    got, source = read_candle_source(path)
    assert list(got.columns) == CANDLE_COLUMNS
    assert np.array_equal(got["timestamp"], frame["timestamp"])
    for col in CANDLE_COLUMNS[1:]:
        assert np.allclose(got[col], frame[col], rtol=0, atol=1e-9), col
    assert source.layout == EXPECTED_LAYOUT[layout]
    assert (source.timeframe, source.rows, source.notes) == ("5m", 60, ())


def test_epoch_numbers_of_any_unit_become_milliseconds():
    """
    Given the same instant in epoch seconds, milliseconds, microseconds and nanoseconds
    When epoch_ms_from_numbers converts them
    Then every one is the same epoch millisecond
    """
    got = epoch_ms_from_numbers(np.array([1_704_067_200, 1_704_067_200_000,
                                          1_704_067_200_000_000, 1_704_067_200_000_000_000]))
    assert got.tolist() == [1_704_067_200_000] * 4


def test_a_binance_file_joining_ms_and_us_months_reads_in_order(tmp_path):
    """
    Given a headerless Binance kline file whose first rows are in ms and the rest in µs
    When it is read
    Then the open times are one timeline in epoch ms
    """
    rows = [[1_735_689_300_000, 1, 2, 0.5, 1.5, 3, 0, 0, 0, 0, 0, 0],
            [1_735_689_600_000_000, 1.5, 2, 1, 1.8, 4, 0, 0, 0, 0, 0, 0]]
    path = tmp_path / "joined.csv"
    pd.DataFrame(rows).to_csv(path, header=False, index=False)
    assert read_any(path)["timestamp"].tolist() == [1_735_689_300_000, 1_735_689_600_000]


def test_timeframe_label_names_steps_as_binance_does():
    """
    Given steps of 1 minute, 5 minutes, 1 hour, 1 day, 90 seconds and 1.5 s
    When timeframe_label names them
    Then they read 1m, 5m, 1h, 1d, 90s and 1500ms
    """
    assert [timeframe_label(ms) for ms in (60_000, 300_000, 3_600_000, 86_400_000, 90_000,
                                           1500)] == ["1m", "5m", "1h", "1d", "90s", "1500ms"]


def test_timeframe_of_is_the_most_common_step():
    """
    Given open times with a 5-minute step and one gap, and a single candle
    When timeframe_of reads them
    Then the timeframe is 5 minutes, and None for the single candle
    """
    assert timeframe_of(np.array([0, 300_000, 600_000, 1_500_000, 1_800_000])) == 300_000
    assert timeframe_of(np.array([0])) is None


def test_gaps_give_one_note_naming_the_longest():
    """
    Given one-minute candles with a 10-minute and a 3-minute hole
    When time_line_notes checks them
    Then the timeframe is 1m and one note counts both gaps and names the longest
    """
    stamps = np.array([0, 1, 2, 12, 13, 16, 17]) * 60_000 + 1_704_067_200_000
    step, notes = time_line_notes(stamps, "f.csv")
    assert step == 60_000 and len(notes) == 1
    assert "2 gap(s) in the 1m candles, 11 candle(s) missing; the longest 10m after" \
        " 2024-01-01 00:02 UTC" in notes[0]


def test_an_off_step_is_mixed_timeframes():
    """
    Given five-minute candles with one candle 2 minutes after the previous
    When time_line_notes checks them
    Then CandleFileError says mixed timeframes and names the candle
    """
    stamps = np.array([0, 5, 10, 15, 17, 22]) * 60_000 + 1_704_067_200_000
    with pytest.raises(CandleFileError, match="mixed timeframes: most candles are 5m apart but"
                       " the one at 2024-01-01 00:17 UTC comes 2m after"):
        time_line_notes(stamps, "f.csv")


def test_a_second_timeframe_joined_on_is_mixed():
    """
    Given 60 one-minute candles followed by 25 five-minute candles
    When time_line_notes checks them
    Then CandleFileError says mixed timeframes at the first five-minute step
    """
    stamps = np.concatenate([np.arange(60), 59 + 5 * np.arange(1, 26)]) * 60_000
    with pytest.raises(CandleFileError, match="comes 5m after the previous"):
        time_line_notes(stamps, "f.csv")


def test_weekends_of_daily_candles_are_gaps_not_mixed():
    """
    Given 30 weekday-only daily candles (a stock's)
    When time_line_notes checks them
    Then the timeframe is 1d with a gap note, not a mixed-timeframe error
    """
    days = pd.bdate_range("2024-01-01", periods=30, tz="UTC")
    stamps = days.as_unit("ms").asi8
    step, notes = time_line_notes(stamps, "f.csv")
    assert step == 86_400_000 and "gap(s) in the 1d candles" in notes[0]


def test_unknown_header_is_one_line(tmp_path):
    """
    Given a CSV whose header has no time or price columns
    When it is read
    Then CandleFileError says the layout is unknown and lists the known ones
    """
    path = tmp_path / "x.csv"
    path.write_text("name,value\na,1\n")
    with pytest.raises(CandleFileError, match="unknown candle layout .* expected the project's"):
        read_any(path)


def test_headerless_file_of_other_width_is_one_line(tmp_path):
    """
    Given a headerless CSV of 4 numeric columns
    When it is read
    Then CandleFileError says a Binance kline file has 12 columns
    """
    path = tmp_path / "x.csv"
    path.write_text("1,2,3,4\n5,6,7,8\n")
    with pytest.raises(CandleFileError, match="no header and 4 columns; a Binance kline file"
                       " has 12"):
        read_any(path)


def test_bad_values_name_their_line(tmp_path):
    """
    Given a Date,Open,... CSV with a non-date on line 3 and another with a word as a price
    When they are read
    Then each CandleFileError names the line and the value
    """
    path = tmp_path / "x.csv"
    path.write_text("Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n31/01/2024,1,2,0.5,1\n")
    with pytest.raises(CandleFileError, match="line 3: Date '31/01/2024' is not a date"):
        read_any(path)
    path.write_text("Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,two,0.5,1\n")
    with pytest.raises(CandleFileError, match="line 3: high 'two' is not a number"):
        read_any(path)


def test_broken_candle_rules_name_the_line_in_any_layout(tmp_path):
    """
    Given a headerless Binance file whose second row has high below low
    When it is read
    Then CandleFileError names line 2 (no header line)
    """
    path = tmp_path / "k.csv"
    path.write_text("1704067200000,1,2,0.5,1.5,3,0,0,0,0,0,0\n"
                    "1704067260000,1,0.5,2,1.5,3,0,0,0,0,0,0\n")
    with pytest.raises(CandleFileError, match="line 2: high is below low"):
        read_any(path)


def test_json_and_gzip_json(tmp_path):
    """
    Given freqtrade candles as .json, as .json.gz, and a JSON object that is not candles
    When they are read
    Then both candle files read alike and the object is an unknown layout
    """
    rows = [[1_704_067_200_000, 1, 2, 0.5, 1.5, 3], [1_704_067_260_000, 1.5, 2, 1, 1.8, 4]]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    with gzip.open(tmp_path / "a.json.gz", "wt") as handle:
        json.dump(rows, handle)
    assert read_any(tmp_path / "a.json").equals(read_any(tmp_path / "a.json.gz"))
    (tmp_path / "b.json").write_text('{"a": 1}')
    with pytest.raises(CandleFileError, match="unknown candle layout .freqtrade json"):
        read_any(tmp_path / "b.json")


def test_broken_feather_is_one_line(tmp_path):
    """
    Given a .feather file that holds text
    When it is read
    Then CandleFileError says it is not a readable .feather file
    """
    path = tmp_path / "x.feather"
    path.write_text("hello")
    with pytest.raises(CandleFileError, match="not a readable .feather file"):
        read_any(path)


def test_project_csv_in_seconds_is_read_as_seconds(tmp_path):
    """
    Given a file with the project's header whose timestamps are epoch seconds
    When it is read
    Then the timestamps become epoch milliseconds
    """
    path = tmp_path / "c.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1704067200,1,2,0.5,1,1\n")
    assert read_any(path)["timestamp"].tolist() == [1_704_067_200_000]


def test_missing_empty_and_binary_files(tmp_path):
    """
    Given a missing path, an empty file and a binary file
    When they are read
    Then each is one CandleFileError line
    """
    with pytest.raises(CandleFileError, match="no such candle file"):
        read_any(tmp_path / "none.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(CandleFileError, match="empty"):
        read_any(tmp_path / "e.csv")
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(CandleFileError, match="not a text file"):
        read_any(tmp_path / "b.csv")


def test_notes_go_to_the_callback_and_stderr(tmp_path, capsys):
    """
    Given a candle file with a gap
    When read_any reads it with the stderr_note of "signals"
    Then stderr holds one line starting "signals: note:" and naming the gap
    """
    frame = candles(10)
    frame = frame.drop(index=4).reset_index(drop=True)
    path = tmp_path / "g.csv"
    frame.to_csv(path, index=False)
    read_any(path, note=stderr_note("signals"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("signals: note: ") and "1 gap(s)" in err[0]


def test_candle_source_names_its_timeframe():
    """
    Given a CandleSource with a one-hour step and one without a step
    When its timeframe is asked
    Then it is 1h and None
    """
    assert CandleSource("f", "x", 2, 3_600_000).timeframe == "1h"
    assert CandleSource("f", "x", 1, None).timeframe is None


def test_a_header_missing_one_price_names_it(tmp_path):
    """
    Given a CSV header with timestamp, open, high, low and volume but no close
    When it is read
    Then CandleFileError says the close column is missing
    """
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,volume\n1,1,1,1,1\n")
    with pytest.raises(CandleFileError, match=r"missing column\(s\) close; the header must"):
        read_any(path)


def test_offset_dates_across_daylight_saving_are_utc(tmp_path):
    """
    Given a TradingView export whose times carry -05:00 in winter and -04:00 in summer
    When it is read
    Then each time is converted with its own offset
    """
    path = tmp_path / "chart.csv"
    path.write_text("time,open,high,low,close\n"
                    "2024-03-09T19:00:00-05:00,1,2,0.5,1\n"
                    "2024-03-10T20:00:00-04:00,1,2,0.5,1\n")
    got = read_any(path)["timestamp"].tolist()
    assert got == [int(pd.Timestamp("2024-03-10T00:00Z").value // 10**6)] * 1 + [
        int(pd.Timestamp("2024-03-11T00:00Z").value // 10**6)]
