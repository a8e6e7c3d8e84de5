"""Runs features/replay.feature: the bot's --replay, in-process through ``main.main``.

The project's ``.env`` is not read (``config.settings.PROJECT_DIR`` points at the scenario's
folder), so a developer's settings cannot change the outcome.
"""

from __future__ import annotations

import shlex
import time

import numpy as np
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import config.settings as settings_module
from backtest.synthetic import synthetic_candles
from main import main
from storage.candles import read_candles

scenarios("replay.feature")
FIVE_MINUTES = 300_000


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """A fresh folder for data and logs, HISTORY_CANDLES=60, no .env."""
    monkeypatch.setattr(settings_module, "PROJECT_DIR", tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in ("TIMEFRAME", "STRATEGY", "EXCHANGE", "SYMBOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HISTORY_CANDLES", "60")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOGS_DIR", str(tmp_path / "logs"))
    return {"dir": tmp_path, "monkeypatch": monkeypatch}


@given(parsers.parse("a replay file {name} of {count:d} five-minute candles"))
def replay_file(world, name, count):
    frame = synthetic_candles(count, seed=5, step_ms=FIVE_MINUTES)
    frame.to_csv(world["dir"] / name, index=False)
    world["frame"] = frame


@given("TIMEFRAME is not set")
def timeframe_unset(world):
    world["monkeypatch"].delenv("TIMEFRAME", raising=False)


@given(parsers.parse("TIMEFRAME={value} is set"))
def timeframe_set(world, value):
    world["monkeypatch"].setenv("TIMEFRAME", value)


@given(parsers.parse("the data folder already holds a candle of {day}"))
def newer_candle(world, day):
    data = world["dir"] / "data"
    data.mkdir()
    stamp = int(np.datetime64(day, "ms").astype("int64"))
    (data / "historical_data.csv").write_text(
        f"timestamp,open,high,low,close,volume\n{stamp},1,1,1,1,1\n")


@when(parsers.parse('I run "{line}"'))
def run_bot(world, line, capsys):
    started = time.monotonic()
    world["status"] = main([*shlex.split(line), "--quiet"])
    world["seconds"] = time.monotonic() - started
    printed = capsys.readouterr()
    world["err"] = printed.err
    log = world["dir"] / "logs" / "trading.log"
    world["log"] = log.read_text() if log.is_file() else ""


@then(parsers.parse("the bot exits with status {status:d}"))
def exit_status(world, status):
    assert world["status"] == status, world["err"]


@then(parsers.parse("the bot exits with status {status:d} at once"))
def exit_at_once(world, status):
    assert world["status"] == status, world["err"]
    assert world["seconds"] < 5 and world["log"] == ""


@then(parsers.parse('the log says "{text}"'))
def log_says(world, text):
    assert text in world["log"]


@then(parsers.re(r'it says "(?P<first>[^"]+)" and "(?P<second>[^"]+)" in one line'))
def says_both(world, first, second):
    lines = world["err"].strip().splitlines()
    assert len(lines) == 1 and first in lines[0] and second in lines[0], world["err"]


@then(parsers.re(r'it says "(?P<text>[^"]+)" in one line'))
def says_one_line(world, text):
    lines = world["err"].strip().splitlines()
    assert len(lines) == 1 and text in lines[0], world["err"]


def _stored(world):
    return read_candles(world["dir"] / "data" / "historical_data.csv")


@then("the stored candles are 5 minutes apart and end with the file's last candle")
def stored_to_end(world):
    stored = _stored(world)
    assert set(np.diff(stored["timestamp"])) == {FIVE_MINUTES}
    assert stored["timestamp"].iloc[-1] == world["frame"]["timestamp"].iloc[-1]


@then("no stored candle is flat with zero volume")
def none_flat(world):
    stored = _stored(world)
    assert ((stored["volume"] > 0) & (stored["high"] > stored["low"])).all()


@then(parsers.parse("{count:d} candles after the file's last one are stored, each with volume"))
def after_end(world, count):
    stored = _stored(world)
    after = stored[stored["timestamp"] > world["frame"]["timestamp"].iloc[-1]]
    assert len(after) == count and (after["volume"] > 0).all()
    assert (after["high"] > after["low"]).all()
