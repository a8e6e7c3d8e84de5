"""Walk-forward analysis: windows, warm-up from earlier candles, test parts as backtests."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from research.walkforward import WalkForwardError, make_windows, parse_duration
from tests.optimize_support import backtest_report, optimize, write_candles

HOUR = 3_600_000


def test_rolling_windows_slide_by_the_test_part_and_anchored_ones_grow():
    """
    Given 100 hourly bars, a 10-bar warm-up, train 24h and test 12h
    When rolling and anchored windows are made
    Then each test part starts where its train part ends, rolling train parts slide by 12h,
      anchored ones all start after the warm-up, and no window passes the data's end
    """
    stamps = np.arange(100, dtype=np.int64) * HOUR
    rolling = make_windows(stamps, 24 * HOUR, 12 * HOUR, False, 10)
    anchored = make_windows(stamps, 24 * HOUR, 12 * HOUR, True, 10)
    assert [(w.train, w.test) for w in rolling] == [
        ((10, 34), (34, 46)), ((22, 46), (46, 58)), ((34, 58), (58, 70)),
        ((46, 70), (70, 82)), ((58, 82), (82, 94))]
    assert [w.train for w in anchored] == [(10, 34), (10, 46), (10, 58), (10, 70), (10, 82)]
    assert [w.test for w in anchored] == [w.test for w in rolling]
    with pytest.raises(WalkForwardError, match="longer than the"):
        make_windows(stamps, 90 * HOUR, 12 * HOUR, False, 10)
    with pytest.raises(WalkForwardError, match="too few for the warm-up"):
        make_windows(stamps, HOUR, HOUR, False, 99)
    assert parse_duration("30d", "--train") == 30 * 24 * HOUR
    assert parse_duration("90m", "--test") == 90 * 60_000


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """A rolling walk-forward of an ma2line grid over 3,000 one-minute candles."""
    folder = tmp_path_factory.mktemp("wf")
    candles = write_candles(folder / "candles.csv", n=3000, seed=12)
    out = folder / "out"
    assert optimize("--data", candles, "--strategy", "ma2line", "--grid", "MA_FAST=3:9:3",
                    "--grid", "MA_SLOW=12:36:12", "--workers", "1", "--walk-forward",
                    "--train", "8h", "--test", "4h", "--out", out) == 0
    with (out / "walk_forward.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return candles, out, rows


def _after(stamp: str) -> str:
    """The minute after an ISO time (the exclusive --to of a part whose last bar it is)."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=1)
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_each_part_equals_a_backtest_of_that_time_range(walked, tmp_path):
    """
    Given the walk-forward's windows and chosen parameters
    When the chosen parameters are backtested with --from/--to on a train and a test part
    Then net profit and closed trades equal the window's in- and out-of-sample figures:
      indicators warm up on the earlier candles and only trades entered in the part count
    """
    candles, _, rows = walked
    assert len(rows) >= 5
    for k, row in enumerate([rows[0], rows[-1]]):
        params = ["--param", f"MA_FAST={row['MA_FAST']}", "--param", f"MA_SLOW={row['MA_SLOW']}"]
        for part, prefix in (("test", "oos"), ("train", "is")):
            report = backtest_report(
                "--data", candles, "--strategy", "ma2line", *params, "--from",
                row[f"{part}_start"][:16], "--to", _after(row[f"{part}_end"]), "--out",
                tmp_path / f"{k}{part}")
            perf = report["performance"]
            assert float(row[f"{prefix}_net_profit"]) == perf["Net Profit"]
            assert int(row[f"{prefix}_trades"]) == perf["Total Closed Trades"]


def test_the_chosen_parameters_are_the_train_parts_best(walked, tmp_path):
    """
    Given the first window
    When its train part is swept on its own with --from/--to
    Then the best row's parameters are the window's choice
    """
    candles, _, rows = walked
    row = rows[0]
    out = tmp_path / "train"
    assert optimize("--data", candles, "--strategy", "ma2line", "--grid", "MA_FAST=3:9:3",
                    "--grid", "MA_SLOW=12:36:12", "--workers", "1", "--from",
                    row["train_start"][:16], "--to", _after(row["train_end"]),
                    "--out", out) == 0
    best = json.loads((out / "best.json").read_text())["params"]
    assert (best["MA_FAST"], best["MA_SLOW"]) == (int(row["MA_FAST"]), int(row["MA_SLOW"]))


def test_the_stitched_report_efficiency_and_chart_are_written(walked):
    """
    Given the finished walk-forward
    When walk_forward.json and walk_forward.png are read
    Then the stitched out-of-sample trades are the test parts' trades, with every metric,
      the efficiency is a number or null, and the chart is a PNG
    """
    _, out, rows = walked
    report = json.loads((out / "walk_forward.json").read_text())
    perf = report["out_of_sample_performance"]
    assert report["windows"] == len(rows)
    parts = sum(int(r["oos_trades"]) for r in rows)
    assert parts <= perf["Total Closed Trades"] <= parts + len(rows)  # + parts' open ends
    assert "Sharpe Ratio" in perf and "walk_forward_efficiency" in report
    assert (out / "walk_forward.png").read_bytes()[:4] == b"\x89PNG"
