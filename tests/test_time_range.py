"""``--from`` / ``--to``: parsing, the warm-up slice, and the commands that take them."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

import main
from backtest.compare import Comparison, restrict
from backtest.engine import FillRules
from backtest.run import ranged_signals, run_backtest, strategy_signals
from backtest.synthetic import synthetic_candles
from backtest.time_range import (
    TimeRange,
    TimeRangeError,
    add_range_arguments,
    in_range,
    parse_utc,
    with_warmup,
)

DAY0 = 1_704_067_200_000  # 2024-01-01 UTC
HOUR = 3_600_000


@pytest.fixture(autouse=True)
def default_settings(monkeypatch, tmp_path):
    """Settings at their defaults whatever the developer's .env says."""
    monkeypatch.setenv("STRATEGY", "sma_rsi")
    monkeypatch.setenv("EXCHANGE", "local")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_parse_utc_takes_dates_and_datetimes_as_utc():
    """
    Given a date, a datetime with T, one with a space, one with Z and one with +02:00
    When parse_utc reads them
    Then naive ones are UTC and the offset one is converted
    """
    assert parse_utc("2024-01-01", "--from") == DAY0
    assert parse_utc("2024-01-01T01:00", "--from") == DAY0 + HOUR
    assert parse_utc("2024-01-01 01:00:00", "--from") == DAY0 + HOUR
    assert parse_utc("2024-01-01T01:00Z", "--from") == DAY0 + HOUR
    assert parse_utc("2024-01-01T03:00+02:00", "--from") == DAY0 + HOUR


def test_bad_and_reversed_ranges_are_one_line():
    """
    Given a non-date --from and a --from after --to
    When TimeRange.from_flags reads them
    Then TimeRangeError names the flag and what to do
    """
    with pytest.raises(TimeRangeError, match="--from '2024-13-01' is not a date; use"):
        TimeRange.from_flags("2024-13-01", None)
    with pytest.raises(TimeRangeError, match="--from 2024-02-01 is not before --to 2024-01-01"):
        TimeRange.from_flags("2024-02-01", "2024-01-01")


def test_range_describes_itself_and_knows_whole():
    """
    Given an open range and a half-open one
    When they are described
    Then the open one is whole and the half-open one names its dates
    """
    assert TimeRange().is_whole
    half = TimeRange.from_flags("2024-01-01", None)
    assert not half.is_whole
    assert half.describe() == "2024-01-01 00:00 UTC to the file's end"


def test_with_warmup_keeps_everything_before_the_range_end():
    """
    Given 100 hourly candles and the range hours 40 to 60
    When with_warmup slices them
    Then the candles run from the first to hour 59 and the range starts at index 40
    """
    candles = synthetic_candles(100, step_ms=HOUR)
    window = with_warmup(candles, TimeRange(DAY0 + 40 * HOUR, DAY0 + 60 * HOUR))
    assert len(window.candles) == 60 and window.first == 40
    assert window.in_range["timestamp"].iloc[0] == DAY0 + 40 * HOUR
    assert len(window.in_range) == 20


def test_an_empty_range_names_the_files_span():
    """
    Given 10 hourly candles from 2024-01-01 and a range in 2025
    When with_warmup slices them
    Then TimeRangeError says no candle opens there and names the file's first and last candle
    """
    candles = synthetic_candles(10, step_ms=HOUR)
    with pytest.raises(TimeRangeError, match="no candle opens from 2025-01-01 00:00 UTC to the"
                       " file's end; the file holds candles from 2024-01-01 00:00 UTC to"
                       " 2024-01-01 09:00 UTC"):
        with_warmup(candles, TimeRange.from_flags("2025-01-01", None))


def test_in_range_is_inclusive_from_and_exclusive_to():
    """
    Given the stamps 0, 1, 2, 3 and the range [1, 3)
    When in_range masks them
    Then 1 and 2 are in
    """
    assert in_range(np.array([0, 1, 2, 3]), TimeRange(1, 3)).tolist() == [False, True, True,
                                                                          False]


def test_signals_in_range_equal_the_whole_files_at_every_cut():
    """
    Given 600 candles and macd (recursive EMAs)
    When ranged_signals cuts at several --from values
    Then every indicator value in range equals the whole-file run's, bit for bit
    """
    candles = synthetic_candles(600, step_ms=HOUR)
    whole, _ = strategy_signals(candles, "macd", {})
    for start in (1, 50, 333, 599):
        frame, _, cut = ranged_signals(candles, "macd", {}, TimeRange(DAY0 + start * HOUR))
        assert len(frame) == len(cut) == 600 - start
        expected = whole.iloc[start:].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, expected)


def test_run_backtest_trades_only_in_range():
    """
    Given 2,000 five-minute candles and the range from candle 1,000 on
    When run_backtest runs with that range
    Then its first candle is candle 1,000 and every trade enters inside the range
    """
    candles = synthetic_candles(2000, seed=9, step_ms=300_000, volatility=0.002)
    start = int(candles["timestamp"].iloc[1000])
    result = run_backtest(candles, "macd", {}, FillRules(qty=1.0), 10_000.0,
                          time_range=TimeRange(start))
    assert result.timestamps[0] == start and len(result.timestamps) == 1000
    assert len(result.trades) > 0
    assert (result.timestamps[result.trades.entry_bar] >= start).all()


def test_add_range_arguments_reads_from_and_to():
    """
    Given a parser with the range arguments
    When --from and --to are given
    Then they land in args.start and args.end
    """
    parser = argparse.ArgumentParser()
    add_range_arguments(parser)
    args = parser.parse_args(["--from", "2024-01-01", "--to", "2024-02-01"])
    assert (args.start, args.end) == ("2024-01-01", "2024-02-01")


def test_signals_command_writes_only_the_range(tmp_path, capsys):
    """
    Given 300 hourly candles
    When `signals --strategy rsi --from <hour 100> --to <hour 200>` runs
    Then the CSV holds hours 100 to 199 with the whole file's RSI values
    """
    candles = synthetic_candles(300, step_ms=HOUR)
    candles.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "s.csv"
    assert main.main(["signals", "--data", str(tmp_path / "c.csv"), "--strategy", "rsi",
                      "--from", "2024-01-05T04:00", "--to", "2024-01-09T08:00",
                      "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert written["timestamp"].iloc[0] == DAY0 + 100 * HOUR and len(written) == 100
    whole, _ = strategy_signals(candles, "rsi", {})
    assert np.allclose(written["rsi"], whole["rsi"].iloc[100:200], rtol=1e-11, atol=0)
    assert "on 100 bars" in capsys.readouterr().out


def test_backtest_command_range_and_its_errors(tmp_path, capsys):
    """
    Given 2,000 five-minute candles
    When backtest runs with --from inside the file, then with a range after it
    Then the first exits 0 with a report from --from, the second exits 2 in one line
    """
    path = tmp_path / "c.csv"
    synthetic_candles(2000, seed=9, step_ms=300_000, volatility=0.002).to_csv(path, index=False)
    assert main.main(["backtest", "--data", str(path), "--strategy", "macd", "--from",
                      "2024-01-04", "--out", str(tmp_path / "bt")]) == 0
    capsys.readouterr()
    assert main.main(["backtest", "--data", str(path), "--from", "2030-01-01",
                      "--out", str(tmp_path / "bt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backtest: no candle opens from 2030-01-01" in err[0]


def test_compare_range_reports_only_trades_entered_in_it(tmp_path, capsys):
    """
    Given an export of our own macd backtest over 2,000 candles
    When compare runs with --from at the file's middle
    Then only the trades entered from there on are compared, all matching, numbered as in
        the export
    """
    path = tmp_path / "c.csv"
    candles = synthetic_candles(2000, seed=9, step_ms=300_000, volatility=0.002)
    candles.to_csv(path, index=False)
    out = tmp_path / "bt"
    assert main.main(["backtest", "--data", str(path), "--strategy", "macd", "--qty", "1",
                      "--commission", "0", "--no-sl-tp", "--out", str(out)]) == 0
    total = len((out / "trades.csv").read_text().splitlines()) // 2
    capsys.readouterr()
    middle = pd.Timestamp(int(candles["timestamp"].iloc[1000]), unit="ms").isoformat()
    assert main.main(["compare", "--tv-trades", str(out / "trades.csv"), "--data", str(path),
                      "--strategy", "macd", "--from", middle]) == 0
    text = capsys.readouterr().out
    matched = int(text.split("matched ")[1].split(" of")[0])
    assert 0 < matched < total and "mismatched 0" in text


def test_restrict_keeps_only_the_given_numbers():
    """
    Given a comparison with trades 1 and 2 matched and 3 different
    When it is restricted to 2 and 3
    Then 2 stays matched and 3 different
    """
    outcome = Comparison(matched=[1, 2], differences={3: ["side"]})
    kept = restrict(outcome, {2, 3})
    assert kept.matched == [2] and kept.differences == {3: ["side"]}
