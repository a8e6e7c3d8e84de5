"""Runs features/optimize.feature against the real command, in-process.

The candle file and each run pass between steps with ``target_fixture``; a later run replaces
the earlier one, and every ``Then`` looks at the last.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.optimize_support import (
    backtest_report,
    cycle_candles,
    optimize,
    read_results,
    write_candles,
)

scenarios("optimize.feature")


@dataclass(frozen=True)
class CandleFile:
    """The scenario's candle file and the options a --pbo run adds for it."""

    path: Path
    pbo_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptimizeRun:
    """One ``main.py optimize`` run: its strategy, exit status and what it printed."""

    strategy: str
    status: int
    printed: str
    errors: str


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    """The --out folder every run of the scenario writes to (not made in advance)."""
    return tmp_path / "out"


def _run(candles: CandleFile, out: Path, strategy: str, *args: str) -> OptimizeRun:
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        status = optimize("--data", candles.path, "--strategy", strategy, *args, "--workers",
                          "1", "--out", out)
    return OptimizeRun(strategy, status, printed.getvalue(), errors.getvalue())


@given(parsers.parse("{count:d} one-minute candles"), target_fixture="candles")
def one_minute_candles(tmp_path, count) -> CandleFile:
    return CandleFile(write_candles(tmp_path / "candles.csv", n=count, seed=5))


@given("candles following a steady price cycle", target_fixture="candles")
def cycle(tmp_path) -> CandleFile:
    path = tmp_path / "cycle.csv"
    cycle_candles(2000, seed=1).to_csv(path, index=False)
    return CandleFile(path, ("--no-sl-tp", "--commission", "0", "--mode", "long-short",
                             "--partitions", "10"))


@when(parsers.parse("I optimize {strategy} over {first} and {second}"), target_fixture="run")
def sweep(candles, out, strategy, first, second) -> OptimizeRun:
    return _run(candles, out, strategy, "--grid", first, "--grid", second)


@when(parsers.parse("I optimize {strategy} over {first} and {second} with --pbo"),
      target_fixture="run")
def sweep_pbo(candles, out, strategy, first, second) -> OptimizeRun:
    return _run(candles, out, strategy, "--grid", first, "--grid", second, "--pbo",
                *candles.pbo_options)


@when(parsers.parse("I walk forward {strategy} over {first} and {second} with train {train}"
                    " and test {test}"), target_fixture="run")
def walk(candles, out, strategy, first, second, train, test) -> OptimizeRun:
    return _run(candles, out, strategy, "--grid", first, "--grid", second, "--walk-forward",
                "--train", train, "--test", test)


@then("the command succeeds")
def succeeds(run):
    assert run.status == 0, run.errors


@then(parsers.parse('the command fails with exit 2 and one line saying "{text}"'))
def fails(run, out, text):
    lines = run.errors.strip().splitlines()
    assert run.status == 2 and len(lines) == 1 and text in lines[0]
    assert not out.exists()


@then(parsers.parse("results.csv holds {count:d} rows sorted by Net Profit, best first"))
def sorted_rows(out, count):
    rows = read_results(out)
    assert len(rows) == count
    assert [r["Net Profit"] for r in rows] == sorted((r["Net Profit"] for r in rows),
                                                     reverse=True)


@then(parsers.parse("{count:d} combinations were rejected by the strategy"))
def rejected(run, count):
    assert f"({count} rejected by the strategy)" in run.printed


@then("best.json and the .env lines name the first row's parameters")
def best(run, out):
    row = read_results(out)[0]
    document = json.loads((out / "best.json").read_text())
    assert document["params"]["MA_FAST"] == row["MA_FAST"]
    assert f"  MA_FAST={row['MA_FAST']}\n" in run.printed


@then("a heat map is drawn")
def heat_map(out):
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


@then("the first and the last row equal `main.py backtest` of their parameters bit for bit")
def rows_equal_backtests(candles, run, out, tmp_path):
    rows = read_results(out)
    for k, row in enumerate([rows[0], rows[-1]]):
        report = backtest_report("--data", candles.path, "--strategy", run.strategy,
                                 "--param", f"MA_FAST={row['MA_FAST']}", "--param",
                                 f"MA_SLOW={row['MA_SLOW']}", "--out", tmp_path / f"b{k}")
        assert all(row[name] == value for name, value in report["performance"].items())


@then(parsers.parse("the second run reports {count:d} combinations done before"))
def resumed(run, count):
    assert f"{count} done before" in run.printed


@then("walk_forward.csv has one row per window with the chosen parameters")
def windows(run, out):
    with (out / "walk_forward.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 5 and all(int(r["MA_FAST"]) < int(r["MA_SLOW"]) for r in rows)
    assert f"Walk-forward: {len(rows)} rolling windows" in run.printed


@then("the stitched out-of-sample report and the equity chart are written")
def stitched(out):
    report = json.loads((out / "walk_forward.json").read_text())
    assert "Net Profit" in report["out_of_sample_performance"]
    assert (out / "walk_forward.png").read_bytes()[:4] == b"\x89PNG"


@then(parsers.parse("the PBO is at most {limit:g}"))
def pbo_at_most(run, out, limit):
    assert run.status == 0
    assert json.loads((out / "pbo.json").read_text())["pbo"] <= limit


@then("the logit histogram is printed and drawn")
def histogram(run, out):
    assert "logit of the in-sample winner" in run.printed
    assert (out / "pbo.png").read_bytes()[:4] == b"\x89PNG"
