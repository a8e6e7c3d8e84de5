"""Runs features/data_formats.feature: the one candle reader behind every command.

Commands run in-process through ``main.main``; candle files are written by
``tests.candle_layouts`` in each tool's own layout from seeded synthetic candles.
"""

from __future__ import annotations

import importlib
import shlex

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.synthetic import synthetic_candles
from core.candles import CANDLE_COLUMNS
from main import build_parser, main
from storage.candles import read_candles
from tests.candle_layouts import LAYOUTS, candles, write_layout

scenarios("data_formats.feature")


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """The scenario's folder (also the working directory) and what the commands printed."""
    monkeypatch.chdir(tmp_path)
    return {"dir": tmp_path, "files": []}


def _argv(world, line: str) -> list[str]:
    argv = shlex.split(line)
    known = {p.name for p in world["dir"].iterdir()}
    return [str(world["dir"] / a) if a in known or a.endswith(".csv") else a for a in argv]


@given(parsers.parse("{count:d} five-minute candles written as {layout}"))
def written_as(world, count, layout):
    frame = candles(count)
    world["frame"] = frame
    world["files"].append(write_layout(layout, frame, world["dir"]))


@given(parsers.parse("the same candles written as {layout}"))
def same_written_as(world, layout):
    assert layout in LAYOUTS
    world["files"].append(write_layout(layout, world["frame"], world["dir"]))


@given(parsers.parse('a file {name} holding "{first}" and "{second}"'))
def file_holding(world, name, first, second):
    (world["dir"] / name).write_text(f"{first}\n{second}\n")


@given(parsers.parse("{ones:d} one-minute candles followed by {fives:d} five-minute candles"
                     " in {name}"))
def mixed_file(world, ones, fives, name):
    frame = synthetic_candles(ones + fives)
    minutes = np.concatenate([np.arange(ones), ones - 1 + 5 * np.arange(1, fives + 1)])
    frame["timestamp"] = frame["timestamp"].iloc[0] + minutes * 60_000
    frame.to_csv(world["dir"] / name, index=False)


@given(parsers.parse("candles {first:d} to {last:d} are cut out of {name}"))
def cut_out(world, first, last, name):
    path = world["dir"] / name
    frame = read_candles(path)
    frame.drop(index=range(first, last + 1)).to_csv(path, index=False)


@when(parsers.parse('I run "{line}"'))
def run_command(world, line, capsys):
    world["status"] = main(_argv(world, line))
    printed = capsys.readouterr()
    world["out"], world["err"] = printed.out, printed.err


@when(parsers.parse('I run "{line}" on each of the two files'))
def run_on_each(world, line, capsys):
    world["runs"] = []
    for k, path in enumerate(world["files"]):
        out = world["dir"] / f"out{k}"
        target = ["--out", str(out / "signals.csv")] if line.startswith("signals") else [
            "--out", str(out)]
        status = main([*shlex.split(line), "--data", str(path), *target])
        printed = capsys.readouterr().out.replace(str(path), "DATA").replace(str(out), "OUT")
        world["runs"].append((status, printed))


@when(parsers.parse('the emulator is set up with "{line}"'))
def emulator_set_up(world, line):
    module = importlib.import_module("commands.emulator")
    args = build_parser("emulator", module).parse_args(_argv(world, line))
    world["server"] = module.build_server(args, env={})


@then(parsers.parse("the command exits with status {status:d}"))
def exit_status(world, status):
    assert world["status"] == status, world["err"]


@then("both runs exit with status 0 and print the same figures")
def same_figures(world):
    (first_status, first), (second_status, second) = world["runs"]
    assert first_status == second_status == 0
    assert first == second and first.strip()


@then(parsers.parse("{name} holds the same {count:d} candles in the project's CSV"))
def holds_same(world, name, count):
    path = world["dir"] / name
    assert path.read_text().splitlines()[0] == ",".join(CANDLE_COLUMNS)
    got = read_candles(path)
    assert len(got) == count
    assert np.array_equal(got["timestamp"], world["frame"]["timestamp"])
    assert np.allclose(got[CANDLE_COLUMNS[1:]], world["frame"][CANDLE_COLUMNS[1:]],
                       rtol=0, atol=1e-9)


@then(parsers.parse('the summary says "{text}"'))
def summary_says(world, text):
    assert text in world["out"]


@then(parsers.parse('it says "{text}" in one line'))
def says_one_line(world, text):
    lines = world["err"].strip().splitlines()
    assert len(lines) == 1 and text in lines[0], world["err"]


@then(parsers.parse('it says "{text}" in one note line'))
def says_one_note_line(world, text):
    lines = world["err"].strip().splitlines()
    assert len(lines) == 1 and ": note: " in lines[0] and text in lines[0], world["err"]


@then(parsers.parse('{name} still holds "{text}"'))
def still_holds(world, name, text):
    assert (world["dir"] / name).read_text().startswith(text)


@then(parsers.parse("its market serves those candles on the 5-minute grid from candle"
                    " {history:d} on"))
def market_serves(world, history):
    server, frame = world["server"], world["frame"]
    market = server.market
    assert market.timeframe_ms == 300_000
    assert market.start_ms == int(frame["timestamp"].iloc[0])
    start = int(frame["timestamp"].iloc[history])
    assert start <= server.clock.now_ms() < start + 60_000  # the clock runs from there
    rows = market.rows(market.first_index(), len(frame))
    assert np.allclose(rows[:, 3], frame["close"])


@then(parsers.parse("{name} holds the {count:d} candles from {first} to {last} with the whole"
                    " file's MACD values"))
def holds_range(world, name, count, first, last):
    from backtest.run import strategy_signals

    written = pd.read_csv(world["dir"] / name)
    day = pd.Timestamp("2024-01-01", tz="UTC")
    expected_first = int((day + pd.Timedelta(first + ":00")).value // 1_000_000)
    expected_last = int((day + pd.Timedelta(last + ":00")).value // 1_000_000)
    assert len(written) == count
    assert (written["timestamp"].iloc[0], written["timestamp"].iloc[-1]) == (
        expected_first, expected_last)
    whole, _ = strategy_signals(world["frame"], "macd", {})
    start = int(np.searchsorted(world["frame"]["timestamp"], expected_first))
    assert np.allclose(written["macd"], whole["macd"].iloc[start:start + count], rtol=1e-11,
                       atol=0)
