"""``python main.py optimize``: rows equal backtests, ranking, outputs, resume, interruption."""

from __future__ import annotations

import json

import pytest

from research import sweep
from tests.optimize_support import (
    backtest_report,
    folder_state,
    optimize,
    read_results,
    write_candles,
)

GRID = ["--grid", "MA_FAST=4:12:4", "--grid", "MA_SLOW=8:24:8", "--grid", "sl=0.005,0.01"]


@pytest.fixture(scope="module")
def candles(tmp_path_factory):
    """3,000 synthetic 1-minute candles."""
    return write_candles(tmp_path_factory.mktemp("optimize") / "candles.csv")


@pytest.fixture(scope="module")
def swept(candles, tmp_path_factory):
    """One ma2line sweep on one worker: (folder, console text), run once for several tests."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("sweep") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = optimize("--data", candles, "--strategy", "ma2line", *GRID, "--tp", "0.008",
                          "--workers", "1", "--out", out)
    assert status == 0
    return out, printed.getvalue()


def test_every_row_equals_the_backtest_of_its_parameters(swept, candles, tmp_path):
    """
    Given a finished ma2line sweep over MA_FAST, MA_SLOW and sl
    When rows from the top, the middle and the bottom are backtested with `main.py backtest`
    Then every Performance Summary value equals the row's, bit for bit
    """
    out, _ = swept
    rows = read_results(out)
    for k, row in enumerate([rows[0], rows[len(rows) // 2], rows[-1]]):
        report = backtest_report(
            "--data", candles, "--strategy", "ma2line", "--param", f"MA_FAST={row['MA_FAST']}",
            "--param", f"MA_SLOW={row['MA_SLOW']}", "--sl", row["sl"], "--tp", "0.008",
            "--out", tmp_path / f"bt{k}")
        for name, value in report["performance"].items():
            assert row[name] == value, (name, row[name], value)


def test_results_are_sorted_best_first_with_every_metric_and_best_json(swept):
    """
    Given the finished sweep
    When results.csv and best.json are read
    Then rows are sorted by Net Profit descending, carry every metric, and best.json is row 1
    """
    out, _ = swept
    rows = read_results(out)
    profits = [r["Net Profit"] for r in rows]
    assert profits == sorted(profits, reverse=True)
    assert {"Sharpe Ratio", "Max Drawdown %", "Max Consecutive Losses"} <= set(rows[0])
    best = json.loads((out / "best.json").read_text())
    assert best["params"]["MA_FAST"] == rows[0]["MA_FAST"]
    assert best["objective"] == {"name": "Net Profit", "direction": "max",
                                 "value": rows[0]["Net Profit"]}
    assert f"MA_SLOW={rows[0]['MA_SLOW']}" in best["env"]


def test_console_shows_the_top_ten_and_the_env_lines(swept):
    """
    Given the finished sweep
    When its console output is read
    Then it lists 10 ranked rows and the .env lines that set the winner
    """
    out, printed = swept
    best = read_results(out)[0]
    assert "Top 10 by Net Profit (maximised)" in printed
    assert "\n 10  " in printed and "\n 11  " not in printed
    assert "STRATEGY=ma2line" in printed
    assert f"MA_FAST={best['MA_FAST']}" in printed
    assert f"STOP_LOSS_PERCENT={best['sl']}" in printed


def test_three_varying_keys_draw_one_scatter_per_key(swept):
    """
    Given the sweep over three keys (two keys draw a heat map: features/optimize.feature)
    When its chart is looked for
    Then params.png is a PNG and no heat map was drawn
    """
    out, _ = swept
    assert (out / "params.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "heatmap.png").exists()


def test_a_minimised_objective_and_min_trades_rank_as_asked(candles, tmp_path, capsys):
    """
    Given the objective Max Drawdown and --min-trades 100
    When the sweep runs
    Then rows with 100+ closed trades come first, smallest drawdown first, the rest after them
    """
    out = tmp_path / "out"
    assert optimize("--data", candles, "--strategy", "ma2line", *GRID[:4], "--objective",
                    "max drawdown", "--min-trades", "100", "--workers", "1", "--out", out) == 0
    rows = read_results(out)
    enough = [r["Total Closed Trades"] >= 100 for r in rows]
    assert enough == sorted(enough, reverse=True) and any(enough) and not all(enough)
    head = [r["Max Drawdown"] for r in rows if r["Total Closed Trades"] >= 100]
    assert head == sorted(head)
    assert "by Max Drawdown (minimised, at least 100 closed trades)" in capsys.readouterr().out


def test_random_search_runs_the_seeded_number_of_trials(candles, tmp_path, capsys):
    """
    Given a 4 x 6 grid sampled with --method random --trials 8 --seed 3
    When the run finishes
    Then it ran the 8 seeded combinations (the same plan.sample gives) minus rejected ones
    """
    from research.grid import parse_grid, plan
    from research.sweep import SweepSpec, accepts

    grid = ["--grid", "MA_FAST=2:8:2", "--grid", "MA_SLOW=5:30:5"]
    out = tmp_path / "r"
    assert optimize("--data", candles, "--strategy", "ma2line", *grid, "--method", "random",
                    "--trials", "8", "--seed", "3", "--workers", "1", "--out", out) == 0
    ran = sorted((r["MA_FAST"], r["MA_SLOW"]) for r in read_results(out))
    spec = SweepSpec("ma2line", {"MA_FAST": 9, "MA_SLOW": 18}, None, 1.0)
    planned = plan(parse_grid(grid[1::2], ["MA_FAST", "MA_SLOW"]), accepts(spec), "random",
                   8, 3)
    assert ran == sorted((c["MA_FAST"], c["MA_SLOW"]) for c in planned.combos)
    assert f"({planned.rejected} rejected" in capsys.readouterr().out
    assert len(ran) + planned.rejected == 8


def test_two_local_workers_give_the_same_rows(swept, candles, tmp_path):
    """
    Given the one-worker sweep
    When the same sweep runs on two worker processes
    Then results.csv is identical byte for byte
    """
    out, _ = swept
    two = tmp_path / "two"
    assert optimize("--data", candles, "--strategy", "ma2line", *GRID, "--tp", "0.008",
                    "--workers", "2", "--out", two) == 0
    assert (two / "results.csv").read_bytes() == (out / "results.csv").read_bytes()


def test_ctrl_c_keeps_the_finished_rows_and_a_rerun_resumes(swept, candles, tmp_path,
                                                           monkeypatch, capsys):
    """
    Given a sweep interrupted by Ctrl+C after 5 combinations
    When it is run again with the same --out
    Then the first run exits 130 keeping 5 sorted rows, the second runs only the other 9,
      and the final file equals an uninterrupted run's
    """
    out = tmp_path / "out"
    real = sweep.Evaluator.evaluate
    calls = {"n": 0}

    def interrupted(self, combo):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(self, combo)

    monkeypatch.setattr(sweep.Evaluator, "evaluate", interrupted)
    args = ["--data", candles, "--strategy", "ma2line", *GRID, "--tp", "0.008", "--workers",
            "1", "--out", out]
    assert optimize(*args) == 130
    kept = read_results(out)
    assert len(kept) == 5
    assert [r["Net Profit"] for r in kept] == sorted((r["Net Profit"] for r in kept),
                                                     reverse=True)
    assert "5 finished rows kept" in capsys.readouterr().err
    monkeypatch.setattr(sweep.Evaluator, "evaluate", real)
    assert optimize(*args) == 0
    printed = capsys.readouterr().out
    assert "9 to run (4 rejected by the strategy, 5 done before)" in printed
    assert (out / "results.csv").read_bytes() == (swept[0] / "results.csv").read_bytes()


def test_a_folder_of_other_fill_rules_is_refused(swept, candles, tmp_path,
                                                             capsys):
    """
    Given a copy of a folder holding a finished sweep
    When the same sweep runs with another commission
    Then it is refused with one line, exit 2, the folder untouched
    """
    import shutil

    out = tmp_path / "out"
    shutil.copytree(swept[0], out)
    args = ["--data", candles, "--strategy", "ma2line", *GRID, "--tp", "0.008", "--workers",
            "1", "--out", out]
    capsys.readouterr()
    before = folder_state(out)
    assert optimize(*args, "--commission", "0.002") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other fill rules" in err[0]
    assert folder_state(out) == before


@pytest.mark.parametrize("strategy,grid,extra", [
    ("bollinger", ["--grid", "BB_LENGTH=10,20", "--grid", "BB_MULT=1.5,2"],
     ["--mode", "long-short", "--qty-percent", "10"]),
    ("macd", ["--grid", "MACD_FAST=6,12", "--grid", "MACD_SLOW=26"],
     ["--from", "2024-01-01T10:00", "--to", "2024-01-02T12:00"]),
])
def test_order_broker_strategies_and_time_ranges_equal_their_backtests(
        candles, tmp_path, strategy, grid, extra):
    """
    Given a stop-entry strategy with percent sizing, and a MACD sweep cut by --from/--to
    When each sweep runs and its rows are backtested with the same options
    Then every Performance Summary value matches, bit for bit
    """
    out = tmp_path / "out"
    assert optimize("--data", candles, "--strategy", strategy, *grid, *extra, "--workers", "1",
                    "--out", out) == 0
    keys = [g.split("=")[0] for g in grid[1::2]]
    rows = read_results(out)
    for k, row in enumerate([rows[0], rows[-1]]):
        params = [a for key in keys for a in ("--param", f"{key}={row[key]}")]
        report = backtest_report("--data", candles, "--strategy", strategy, *params, *extra,
                                 "--out", tmp_path / f"bt{k}")
        for name, value in report["performance"].items():
            assert row[name] == value, (name, row[name], value)


def test_warming_the_charts_imports_pyplot_on_the_agg_backend():
    """
    Given the chart warm-up the sweep starts in a background thread
    When it runs
    Then pyplot is imported, drawing to files (Agg), with no window
    """
    import sys

    import matplotlib

    from commands.optimize import _warm_charts

    _warm_charts()
    assert "matplotlib.pyplot" in sys.modules
    assert matplotlib.get_backend().lower() == "agg"
