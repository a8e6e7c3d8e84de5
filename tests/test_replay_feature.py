"""Runs features/replay.feature: the bot's --replay, in-process through ``main.main``.

The project's ``.env`` is not read (``config.settings.PROJECT_DIR`` points at the scenario's
folder), so a developer's settings cannot change the outcome. The replay file's candles and
the bot's run pass between steps with ``target_fixture``.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import config.settings as settings_module
from backtest.synthetic import synthetic_candles
from main import main
from storage.candles import read_candles

scenarios("replay.feature")
FIVE_MINUTES = 300_000


@dataclass(frozen=True)
class BotRun:
    """One run of the bot: its exit status, how long it took, its stderr and trading.log."""

    status: int
    seconds: float
    err: str
    log: str


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder for data and logs (the working directory), HISTORY_CANDLES=60, no .env."""
    monkeypatch.setattr(settings_module, "PROJECT_DIR", tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in ("TIMEFRAME", "STRATEGY", "EXCHANGE", "SYMBOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HISTORY_CANDLES", "60")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOGS_DIR", str(tmp_path / "logs"))
    return tmp_path


@given(parsers.parse("a replay file {name} of {count:d} five-minute candles"),
       target_fixture="replay_candles")
def replay_file(folder, name, count) -> pd.DataFrame:
    frame = synthetic_candles(count, seed=5, step_ms=FIVE_MINUTES)
    frame.to_csv(folder / name, index=False)
    return frame


@given("TIMEFRAME is not set")
def timeframe_unset(monkeypatch):
    monkeypatch.delenv("TIMEFRAME", raising=False)


@given(parsers.parse("TIMEFRAME={value} is set"))
def timeframe_set(monkeypatch, value):
    monkeypatch.setenv("TIMEFRAME", value)


@given(parsers.parse("the data folder already holds a candle of {day}"))
def newer_candle(folder, day):
    data = folder / "data"
    data.mkdir()
    stamp = int(np.datetime64(day, "ms").astype("int64"))
    (data / "historical_data.csv").write_text(
        f"timestamp,open,high,low,close,volume\n{stamp},1,1,1,1,1\n")


@when(parsers.parse('I run "{line}"'), target_fixture="run")
def run_bot(folder, line, capsys) -> BotRun:
    started = time.monotonic()
    status = main([*shlex.split(line), "--quiet"])
    seconds = time.monotonic() - started
    printed = capsys.readouterr()
    log = folder / "logs" / "trading.log"
    return BotRun(status, seconds, printed.err, log.read_text() if log.is_file() else "")


@then(parsers.parse("the bot exits with status {status:d}"))
def exit_status(run, status):
    assert run.status == status, run.err


@then(parsers.parse("the bot exits with status {status:d} at once"))
def exit_at_once(run, status):
    assert run.status == status, run.err
    assert run.seconds < 5 and run.log == ""


@then(parsers.parse('the log says "{text}"'))
def log_says(run, text):
    assert text in run.log


@then(parsers.re(r'it says "(?P<first>[^"]+)" and "(?P<second>[^"]+)" in one line'))
def says_both(run, first, second):
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and first in lines[0] and second in lines[0], run.err


@then(parsers.re(r'it says "(?P<text>[^"]+)" in one line'))
def says_one_line(run, text):
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], run.err


def _stored(folder: Path) -> pd.DataFrame:
    return read_candles(folder / "data" / "historical_data.csv")


@then("the stored candles are 5 minutes apart and end with the file's last candle")
def stored_to_end(folder, replay_candles):
    stored = _stored(folder)
    assert set(np.diff(stored["timestamp"])) == {FIVE_MINUTES}
    assert stored["timestamp"].iloc[-1] == replay_candles["timestamp"].iloc[-1]


@then("no stored candle is flat with zero volume")
def none_flat(folder):
    stored = _stored(folder)
    assert ((stored["volume"] > 0) & (stored["high"] > stored["low"])).all()


@then(parsers.parse("{count:d} candles after the file's last one are stored, each with volume"))
def after_end(folder, replay_candles, count):
    stored = _stored(folder)
    after = stored[stored["timestamp"] > replay_candles["timestamp"].iloc[-1]]
    assert len(after) == count and (after["volume"] > 0).all()
    assert (after["high"] > after["low"]).all()
