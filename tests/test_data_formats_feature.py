"""Runs features/data_formats.feature: the one candle reader behind every command.

Commands run in-process through ``main.main``; candle files are written by
``tests.candle_layouts`` in each tool's own layout from seeded synthetic candles. The files
written, each command's outcome and the emulator set up pass between steps with
``target_fixture``.
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from backtest.synthetic import synthetic_candles
from core.candles import CANDLE_COLUMNS
from emulator.server import EmulatorServer
from main import build_parser, main
from storage.candles import read_candles
from tests.candle_layouts import LAYOUTS, candles, write_layout

scenarios("data_formats.feature")


@dataclass(frozen=True)
class CandleFiles:
    """The scenario's candles and the files they were written to, in the order written."""

    frame: pd.DataFrame
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class CommandResult:
    """One command's exit status and what it printed to stdout and stderr."""

    status: int
    out: str
    err: str


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scenario's folder, also the working directory and the project folder (so a
    command's default output, e.g. ``reports/signals.csv``, lands here, not in the checkout)."""
    import config.settings as settings_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings_module, "PROJECT_DIR", tmp_path)
    return tmp_path


def _argv(folder: Path, line: str) -> list[str]:
    argv = shlex.split(line)
    known = {p.name for p in folder.iterdir()}
    return [str(folder / a) if a in known or a.endswith(".csv") else a for a in argv]


@given(parsers.parse("{count:d} five-minute candles written as {layout}"),
       target_fixture="candle_files")
def written_as(folder, count, layout) -> CandleFiles:
    frame = candles(count)
    return CandleFiles(frame, (write_layout(layout, frame, folder),))


@given(parsers.parse("the same candles written as {layout}"), target_fixture="candle_files")
def same_written_as(folder, candle_files, layout) -> CandleFiles:
    assert layout in LAYOUTS
    path = write_layout(layout, candle_files.frame, folder)
    return CandleFiles(candle_files.frame, (*candle_files.paths, path))


@given(parsers.parse('a file {name} holding "{first}" and "{second}"'))
def file_holding(folder, name, first, second):
    (folder / name).write_text(f"{first}\n{second}\n")


@given(parsers.parse("{ones:d} one-minute candles followed by {fives:d} five-minute candles"
                     " in {name}"))
def mixed_file(folder, ones, fives, name):
    frame = synthetic_candles(ones + fives)
    minutes = np.concatenate([np.arange(ones), ones - 1 + 5 * np.arange(1, fives + 1)])
    frame["timestamp"] = frame["timestamp"].iloc[0] + minutes * 60_000
    frame.to_csv(folder / name, index=False)


@given(parsers.parse("candles {first:d} to {last:d} are cut out of {name}"))
def cut_out(folder, first, last, name):
    path = folder / name
    frame = read_candles(path)
    frame.drop(index=range(first, last + 1)).to_csv(path, index=False)


@when(parsers.parse('I run "{line}"'), target_fixture="result")
def run_command(folder, line, capsys) -> CommandResult:
    status = main(_argv(folder, line))
    printed = capsys.readouterr()
    return CommandResult(status, printed.out, printed.err)


@when(parsers.parse('I run "{line}" on each of the two files'), target_fixture="runs")
def run_on_each(folder, candle_files, line, capsys) -> list[tuple[int, str]]:
    runs = []
    for k, path in enumerate(candle_files.paths):
        out = folder / f"out{k}"
        target = ["--out", str(out / "signals.csv")] if line.startswith("signals") else [
            "--out", str(out)]
        status = main([*shlex.split(line), "--data", str(path), *target])
        printed = capsys.readouterr().out.replace(str(path), "DATA").replace(str(out), "OUT")
        runs.append((status, printed))
    return runs


@when(parsers.parse('the emulator is set up with "{line}"'), target_fixture="server")
def emulator_set_up(folder, line) -> EmulatorServer:
    module = importlib.import_module("commands.emulator")
    args = build_parser("emulator", module).parse_args(_argv(folder, line))
    return module.build_server(args, env={})


@then(parsers.parse("the command exits with status {status:d}"))
def exit_status(result, status):
    assert result.status == status, result.err


@then("both runs exit with status 0 and print the same figures")
def same_figures(runs):
    (first_status, first), (second_status, second) = runs
    assert first_status == second_status == 0
    assert first == second and first.strip()


@then(parsers.parse("{name} holds the same {count:d} candles in the project's CSV"))
def holds_same(folder, candle_files, name, count):
    path = folder / name
    assert path.read_text().splitlines()[0] == ",".join(CANDLE_COLUMNS)
    got = read_candles(path)
    frame = candle_files.frame
    assert len(got) == count
    assert np.array_equal(got["timestamp"], frame["timestamp"])
    assert np.allclose(got[CANDLE_COLUMNS[1:]], frame[CANDLE_COLUMNS[1:]], rtol=0, atol=1e-9)


@then(parsers.parse('the summary says "{text}"'))
def summary_says(result, text):
    assert text in result.out


@then(parsers.parse('it says "{text}" in one line'))
def says_one_line(result, text):
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.err


@then(parsers.parse('it says "{text}" in one note line'))
def says_one_note_line(result, text):
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and ": note: " in lines[0] and text in lines[0], result.err


@then(parsers.parse('{name} still holds "{text}"'))
def still_holds(folder, name, text):
    assert (folder / name).read_text().startswith(text)


@then(parsers.parse("its market serves those candles on the 5-minute grid from candle"
                    " {history:d} on"))
def market_serves(server, candle_files, history):
    frame = candle_files.frame
    market = server.market
    assert market.timeframe_ms == 300_000
    assert market.start_ms == int(frame["timestamp"].iloc[0])
    start = int(frame["timestamp"].iloc[history])
    assert start <= server.clock.now_ms() < start + 60_000  # the clock runs from there
    rows = market.rows(market.first_index(), len(frame))
    assert np.allclose(rows[:, 3], frame["close"])


@then(parsers.parse("{name} holds the {count:d} candles from {first} to {last} with the whole"
                    " file's MACD values"))
def holds_range(folder, candle_files, name, count, first, last):
    from backtest.run import strategy_signals

    written = pd.read_csv(folder / name)
    day = pd.Timestamp("2024-01-01", tz="UTC")
    expected_first = int((day + pd.Timedelta(first + ":00")).value // 1_000_000)
    expected_last = int((day + pd.Timedelta(last + ":00")).value // 1_000_000)
    assert len(written) == count
    assert (written["timestamp"].iloc[0], written["timestamp"].iloc[-1]) == (
        expected_first, expected_last)
    frame = candle_files.frame
    whole, _ = strategy_signals(frame, "macd", {})
    start = int(np.searchsorted(frame["timestamp"], expected_first))
    assert np.allclose(written["macd"], whole["macd"].iloc[start:start + count], rtol=1e-11,
                       atol=0)
