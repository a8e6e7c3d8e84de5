"""Candles for a backtest: the candle CSV, a TradingView chart export, synthetic candles."""

import numpy as np
import pytest

from backtest.data import load_candles
from backtest.synthetic import synthetic_candles
from core.candles import CANDLE_COLUMNS, CandleFileError, candle_problem


def test_candle_csv_is_read_by_read_candles(tmp_path):
    """
    Given a candle CSV in the bot's format
    When it is loaded
    Then the candle frame comes back unchanged
    """
    frame = synthetic_candles(50)
    path = tmp_path / "candles.csv"
    frame.to_csv(path, index=False)
    got = load_candles(path)
    assert list(got.columns) == CANDLE_COLUMNS
    assert np.array_equal(got["timestamp"], frame["timestamp"])
    assert np.allclose(got["close"], frame["close"])


def test_tradingview_chart_export_with_unix_seconds(tmp_path):
    """
    Given a TradingView chart export with time in Unix seconds and no volume column
    When it is loaded
    Then timestamps are epoch ms and volume is 0
    """
    path = tmp_path / "chart.csv"
    path.write_text("time,open,high,low,close\n1704067200,1,2,0.5,1.5\n1704070800,1.5,2,1,1.8\n")
    got = load_candles(path)
    assert list(got["timestamp"]) == [1_704_067_200_000, 1_704_070_800_000]
    assert list(got["volume"]) == [0.0, 0.0]


def test_tradingview_chart_export_with_iso_offsets(tmp_path):
    """
    Given a TradingView chart export with ISO dates carrying -05:00 and a Volume column
    When it is loaded
    Then the times are converted to UTC and the volume kept
    """
    path = tmp_path / "chart.csv"
    path.write_text("time,open,high,low,close,Volume\n"
                    "2023-12-31T19:00:00-05:00,1,2,0.5,1.5,10\n"
                    "2023-12-31T20:00:00-05:00,1.5,2,1,1.8,12\n")
    got = load_candles(path)
    assert list(got["timestamp"]) == [1_704_067_200_000, 1_704_070_800_000]
    assert list(got["volume"]) == [10.0, 12.0]


def test_bad_chart_export_rows_are_one_line_errors(tmp_path):
    """
    Given a chart export whose second candle has high below low
    When it is loaded
    Then CandleFileError names the line
    """
    path = tmp_path / "chart.csv"
    path.write_text("time,open,high,low,close\n1704067200,1,2,0.5,1.5\n1704070800,1.5,1,2,1.8\n")
    with pytest.raises(CandleFileError, match="line 3: high is below low"):
        load_candles(path)


def test_chart_export_with_a_bad_date_is_an_error(tmp_path):
    """
    Given a chart export whose time is not a date
    When it is loaded
    Then CandleFileError says so
    """
    path = tmp_path / "chart.csv"
    path.write_text("time,open,high,low,close\nyesterday,1,2,0.5,1.5\n")
    with pytest.raises(CandleFileError, match="is not a date"):
        load_candles(path)


def test_other_files_keep_the_candle_reader_error(tmp_path):
    """
    Given a CSV that is neither format, and a missing path
    When they are loaded
    Then the candle reader's one-line error is raised
    """
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CandleFileError, match="unknown candle layout"):
        load_candles(path)
    with pytest.raises(CandleFileError, match="no such candle file"):
        load_candles(tmp_path / "absent.csv")


def test_synthetic_candles_are_valid_seeded_and_minute_spaced():
    """
    Given a seed
    When 5,000 synthetic candles are generated twice
    Then they pass the candle rules, are one minute apart and identical between runs
    """
    a, b = synthetic_candles(5000, seed=3), synthetic_candles(5000, seed=3)
    assert candle_problem(a) is None
    assert set(np.diff(a["timestamp"])) == {60_000}
    assert a.equals(b)
    assert not a.equals(synthetic_candles(5000, seed=4))
    with pytest.raises(ValueError):
        synthetic_candles(0)
