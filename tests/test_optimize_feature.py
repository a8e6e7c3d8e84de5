"""Runs features/optimize.feature against the real command, in-process."""

from __future__ import annotations

import contextlib
import csv
import io
import json

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


@pytest.fixture()
def world(tmp_path):
    """The scenario's candle file, --out folder and runs."""
    return {"tmp": tmp_path, "out": tmp_path / "out", "runs": []}


def _run(world, *args) -> None:
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        status = optimize("--data", world["candles"], *args, "--workers", "1",
                          "--out", world["out"])
    world["runs"].append((status, printed.getvalue(), errors.getvalue()))


@given(parsers.parse("{count:d} one-minute candles"))
def candles(world, count):
    world["candles"] = write_candles(world["tmp"] / "candles.csv", n=count, seed=5)


@given("candles following a steady price cycle")
def cycle(world):
    world["candles"] = world["tmp"] / "cycle.csv"
    cycle_candles(2000, seed=1).to_csv(world["candles"], index=False)
    world["extra"] = ["--no-sl-tp", "--commission", "0", "--mode", "long-short",
                      "--partitions", "10"]


@when(parsers.parse("I optimize {strategy} over {first} and {second}"))
def sweep(world, strategy, first, second):
    world["strategy"] = strategy
    _run(world, "--strategy", strategy, "--grid", first, "--grid", second)


@when(parsers.parse("I optimize {strategy} over {first} and {second} with --pbo"))
def sweep_pbo(world, strategy, first, second):
    _run(world, "--strategy", strategy, "--grid", first, "--grid", second, "--pbo",
         *world.get("extra", []))


@when(parsers.parse("I walk forward {strategy} over {first} and {second} with train {train}"
                    " and test {test}"))
def walk(world, strategy, first, second, train, test):
    _run(world, "--strategy", strategy, "--grid", first, "--grid", second, "--walk-forward",
         "--train", train, "--test", test)


@then("the command succeeds")
def succeeds(world):
    assert world["runs"][-1][0] == 0, world["runs"][-1][2]


@then(parsers.parse('the command fails with exit 2 and one line saying "{text}"'))
def fails(world, text):
    status, _, errors = world["runs"][-1]
    lines = errors.strip().splitlines()
    assert status == 2 and len(lines) == 1 and text in lines[0]
    assert not world["out"].exists()


@then(parsers.parse("results.csv holds {count:d} rows sorted by Net Profit, best first"))
def sorted_rows(world, count):
    rows = read_results(world["out"])
    assert len(rows) == count
    assert [r["Net Profit"] for r in rows] == sorted((r["Net Profit"] for r in rows),
                                                     reverse=True)


@then(parsers.parse("{count:d} combinations were rejected by the strategy"))
def rejected(world, count):
    assert f"({count} rejected by the strategy)" in world["runs"][-1][1]


@then("best.json and the .env lines name the first row's parameters")
def best(world):
    row = read_results(world["out"])[0]
    document = json.loads((world["out"] / "best.json").read_text())
    assert document["params"]["MA_FAST"] == row["MA_FAST"]
    assert f"  MA_FAST={row['MA_FAST']}\n" in world["runs"][-1][1]


@then("a heat map is drawn")
def heat_map(world):
    assert (world["out"] / "heatmap.png").read_bytes()[:4] == b"\x89PNG"


@then("the first and the last row equal `main.py backtest` of their parameters bit for bit")
def rows_equal_backtests(world):
    rows = read_results(world["out"])
    for k, row in enumerate([rows[0], rows[-1]]):
        report = backtest_report("--data", world["candles"], "--strategy", world["strategy"],
                                 "--param", f"MA_FAST={row['MA_FAST']}", "--param",
                                 f"MA_SLOW={row['MA_SLOW']}", "--out", world["tmp"] / f"b{k}")
        assert all(row[name] == value for name, value in report["performance"].items())


@then(parsers.parse("the second run reports {count:d} combinations done before"))
def resumed(world, count):
    assert f"{count} done before" in world["runs"][-1][1]


@then("walk_forward.csv has one row per window with the chosen parameters")
def windows(world):
    with (world["out"] / "walk_forward.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 5 and all(int(r["MA_FAST"]) < int(r["MA_SLOW"]) for r in rows)
    assert f"Walk-forward: {len(rows)} rolling windows" in world["runs"][-1][1]


@then("the stitched out-of-sample report and the equity chart are written")
def stitched(world):
    report = json.loads((world["out"] / "walk_forward.json").read_text())
    assert "Net Profit" in report["out_of_sample_performance"]
    assert (world["out"] / "walk_forward.png").read_bytes()[:4] == b"\x89PNG"


@then(parsers.parse("the PBO is at most {limit:g}"))
def pbo_at_most(world, limit):
    assert world["runs"][-1][0] == 0
    assert json.loads((world["out"] / "pbo.json").read_text())["pbo"] <= limit


@then("the logit histogram is printed and drawn")
def histogram(world):
    assert "logit of the in-sample winner" in world["runs"][-1][1]
    assert (world["out"] / "pbo.png").read_bytes()[:4] == b"\x89PNG"
