"""Units of strategy research: grid specs, sampling, objective, progress, shared series."""

from __future__ import annotations

import io

import numpy as np
import pytest

from research.grid import GridError, combo_at, grid_size, parse_grid, plan, sample_indices
from research.objective import Objective, ObjectiveError, metric_names
from research.progress import SweepProgress, clock_text
from strategies import indicators
from strategies.shared import SharedSeries

KNOWN = ["SMA_SHORT", "SMA_LONG", "sl", "tp"]


def test_grid_ranges_are_inclusive_exact_decimals_and_lists_keep_order():
    """
    Given a whole-number range, a decimal range, a list and a lower-case key
    When the grid is parsed
    Then ranges include their stop, decimals are exact, lists keep their order
    """
    grid = parse_grid(["sma_short=5:50:5", "sl=0.01:0.05:0.01", "SMA_LONG=200,100"], KNOWN)
    assert grid["SMA_SHORT"] == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert grid["sl"] == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert grid["SMA_LONG"] == [200, 100]
    assert grid_size(grid) == 100


@pytest.mark.parametrize("spec,fragment", [
    ("SMA_SHORT=5:x:5", "'x' is not a number"),
    ("SMA_SHORT=5:50:0", "step 0 must be above 0"),
    ("SMA_SHORT=5:50:-5", "step -5 must be above 0"),
    ("SMA_SHORT=50:5:5", "stop 5 is before start 50"),
    ("RSI=1:2:1", "unknown key 'RSI'"),
    ("SMA_SHORT", "is not KEY=start:stop:step"),
    ("sl=0.5,1.5", "not a fraction in (0, 1)"),
])
def test_bad_grid_specs_are_refused_with_one_line(spec, fragment):
    """
    Given a malformed --grid item
    When it is parsed
    Then GridError names the problem in one line
    """
    with pytest.raises(GridError) as caught:
        parse_grid([spec], KNOWN)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_combos_decode_in_product_order_and_rejects_are_counted():
    """
    Given a 3 x 3 grid where short must stay below long
    When it is planned
    Then combo_at follows the product order and the 3 refused pairs are counted
    """
    grid = {"SMA_SHORT": [5, 10, 20], "SMA_LONG": [10, 20, 30]}
    assert combo_at(grid, 0) == {"SMA_SHORT": 5, "SMA_LONG": 10}
    assert combo_at(grid, 5) == {"SMA_SHORT": 10, "SMA_LONG": 30}
    planned = plan(grid, lambda c: c["SMA_SHORT"] < c["SMA_LONG"])
    assert (planned.total, planned.rejected, len(planned.combos)) == (9, 3, 6)


def test_a_grid_over_100000_needs_random_trials():
    """
    Given a 400 x 400 grid
    When it is planned as a full grid, then as 50 random trials
    Then the grid is refused naming --method random, and the sample is 50 distinct combos
    """
    grid = {"SMA_SHORT": list(range(1, 401)), "SMA_LONG": list(range(1, 401))}
    with pytest.raises(GridError, match="160,000 combinations, more than 100,000.*--method"):
        plan(grid, lambda c: True)
    with pytest.raises(GridError, match="needs --trials"):
        plan(grid, lambda c: True, "random")
    sampled = plan(grid, lambda c: True, "random", trials=50, seed=1)
    assert len({tuple(c.values()) for c in sampled.combos}) == 50


def test_sampled_indices_are_seeded_distinct_and_sorted_even_for_huge_grids():
    """
    Given a 10**12-combination space
    When 20 indices are drawn twice with one seed and once with another
    Then the same seed gives the same sorted distinct indices, another seed others
    """
    a, b = sample_indices(10**12, 20, 7), sample_indices(10**12, 20, 7)
    assert a == b == sorted(set(a)) and len(a) == 20
    assert sample_indices(10**12, 20, 8) != a
    assert sample_indices(5, 20, 1) == [0, 1, 2, 3, 4]


def test_objective_names_directions_and_ranking():
    """
    Given rows with and without enough trades and a missing value
    When they are ranked by Net Profit (max) and by Max Drawdown (min) with min_trades 10
    Then qualifying rows come first in the metric's direction, missing values last of them
    """
    assert "Net Profit" in metric_names() and "Sortino Ratio" in metric_names()
    rows = [{"Net Profit": 5.0, "Max Drawdown": 3.0, "Total Closed Trades": 20},
            {"Net Profit": 9.0, "Max Drawdown": 1.0, "Total Closed Trades": 2},
            {"Net Profit": None, "Max Drawdown": None, "Total Closed Trades": 30},
            {"Net Profit": 7.0, "Max Drawdown": 4.0, "Total Closed Trades": 10}]
    by_profit = Objective.named("net profit", min_trades=10)
    assert [r["Net Profit"] for r in by_profit.rank(rows)] == [7.0, 5.0, None, 9.0]
    assert by_profit.best_index(rows) == 3
    by_dd = Objective.named("Max Drawdown", min_trades=10)
    assert by_dd.direction == "min"
    assert [r["Max Drawdown"] for r in by_dd.rank(rows)] == [3.0, 4.0, None, 1.0]
    with pytest.raises(ObjectiveError, match="not a Performance Summary metric"):
        Objective.named("Profit")


def test_progress_draws_a_bar_with_eta_on_a_terminal_and_lines_elsewhere():
    """
    Given a simulated clock advancing 1 s per combination of 30
    When progress advances on a terminal and on a pipe (a line every 10 s)
    Then the terminal shows a bar with rate and ETA, the pipe gets 3 lines plus the last
    """
    now = [0.0]
    tty = io.StringIO()
    bar = SweepProgress(30, tty, tty=True, clock=lambda: now[0])
    pipe = io.StringIO()
    lines = SweepProgress(30, pipe, tty=False, clock=lambda: now[0])
    for _ in range(30):
        now[0] += 1.0
        bar.advance()
        lines.advance()
    bar.close()
    assert "\r[" in tty.getvalue() and "ETA 0:00:00" in tty.getvalue()
    assert "15/30 combos  50.0 %  1.0/s  elapsed 0:00:15  ETA 0:00:15" in tty.getvalue()
    assert pipe.getvalue().count("\n") == 3 and "30/30" in pipe.getvalue()
    assert clock_text(3725) == "1:02:05"


def test_shared_series_compute_each_series_once_and_equal_fresh_ones():
    """
    Given close prices and a SharedSeries block over them
    When SMAs of overlapping length sets, an RSI twice and a MACD twice are asked for
    Then each distinct series is computed once, read-only, equal to a computation without sharing
    """
    close = 100 + np.cumsum(np.random.default_rng(1).normal(0, 1, 3000))
    with SharedSeries(close) as shared:
        a5, a20 = indicators.smas(close, 5, 20)
        b20, b50 = indicators.smas(close, 20, 50)
        r1, r2 = indicators.rsi(close, 14), indicators.rsi(close, 14)
        m1, m2 = indicators.macd(close, 12, 26, 9), indicators.macd(close, 12, 26, 9)
        other = indicators.rsi(close.copy(), 14)  # not the shared array: computed afresh
    assert shared.computed == 7  # SMA 5, 20, 50, RSI 14, MACD and its EMA 12 and 26
    assert a20 is b20 and r1 is r2 and m1 is m2 and other is not r1
    assert not a5.flags.writeable
    assert np.array_equal(b50, indicators.sma(close, 50), equal_nan=True)
    assert np.array_equal(r1, indicators.rsi(close, 14), equal_nan=True)
    assert shared.source_index(close[:]) == 0 and shared.source_index(close[1:]) is None


@pytest.mark.parametrize("kind", ["cents", "wide", "dyadic", "tiny"])
def test_smas_from_one_shared_split_equal_smas_computed_alone(kind):
    """
    Given price series of several shapes (2 decimals, a 10**6 range, exact binary fractions
      whose limb count depends on the window bound, and a series shorter than 5000)
    When SMAs of many lengths come from the shared split of a SharedSeries block
    Then each equals the SMA computed on its own, bit for bit
    """
    rng = np.random.default_rng(4)
    n = 300 if kind == "tiny" else 6000
    close = {
        "cents": np.round(30_000 + np.cumsum(rng.normal(0, 20, n)), 2),
        "wide": np.exp(rng.uniform(0, 14, n)),
        "dyadic": rng.integers(1, 2**41, n) * 2.0 ** -20,
        "tiny": np.round(100 + np.cumsum(rng.normal(0, 1, n)), 4),
    }[kind]
    lengths = [1, 2, 9, 50, 200, 299]
    with SharedSeries(close):
        shared = indicators.smas(close, *lengths)
        again = indicators.smas(close, 3000 if n > 3000 else 150)
    for n_, series in zip(lengths, shared, strict=True):
        assert np.array_equal(series, indicators.sma(close, n_), equal_nan=True), n_
    assert np.array_equal(again[0], indicators.sma(close, 3000 if n > 3000 else 150),
                          equal_nan=True)


def test_data_fingerprint_changes_with_any_value():
    """
    Given a candle frame, an equal copy and a copy with one close changed by a cent
    When they are fingerprinted
    Then the equal copy matches and the changed one does not
    """
    from backtest.synthetic import synthetic_candles
    from research.results import data_fingerprint

    frame = synthetic_candles(500, seed=2)
    changed = frame.copy()
    changed.loc[250, "close"] += 0.01
    assert data_fingerprint(frame) == data_fingerprint(frame.copy())
    assert data_fingerprint(changed)["hash"] != data_fingerprint(frame)["hash"]
    assert data_fingerprint(frame)["candles"] == 500


def test_the_heat_map_colours_best_green_and_leaves_rejected_cells_blank(tmp_path):
    """
    Given a 3 x 2 matrix with one rejected (NaN) cell, maximised and minimised
    When it is drawn
    Then the PNG has the grid's size, the best cell is green, the worst red, the NaN white
    """
    from PIL import Image

    from research.heatmap import CELL_H, CELL_W, LEFT, TOP, colour, draw_heat_map, label

    assert (label(-1234.56, 5000), label(12.345, 50), label(0.1234, 1)) == (
        "-1,235", "12.3", "0.12")

    matrix = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])
    path = draw_heat_map([1, 2, 3], [10, 20], matrix, "A", "B", "Net Profit",
                         tmp_path / "h.png")
    image = Image.open(path).convert("RGB")

    def cell(i, j):
        return image.getpixel((LEFT + CELL_W * j + 3, TOP + CELL_H * (1 - i) + 3))

    assert cell(1, 2) == colour(1.0) and cell(0, 0) == colour(0.0)
    assert cell(0, 2) == (255, 255, 255)
    flipped = Image.open(draw_heat_map([1, 2, 3], [10, 20], matrix, "A", "B", "Max Drawdown",
                                       tmp_path / "m.png", maximise=False)).convert("RGB")
    assert flipped.getpixel((LEFT + 3, TOP + CELL_H + 3)) == colour(1.0)
    assert colour(0.0) == (165, 0, 38) and colour(1.0) == (0, 104, 55)
