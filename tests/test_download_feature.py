"""Runs features/download.feature: the download command against the emulator on 127.0.0.1.

The command runs in-process through ``main.main`` (the real ccxt client over loopback); the
emulator's clock is a ManualClock 5,000 minutes after 2024-01-01, and RETRY_BASE_DELAY=0 keeps
the command's retry waits short. The outage is armed by the command's own progress printer
once page 2 is written, so it always strikes mid-download.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import commands.download as command
from main import main
from storage.candles import read_candles
from tests.download_support import MINUTE, kline_requests, start_server

scenarios("download.feature")


def epoch_ms(text: str) -> int:
    """``2024-01-02 09:19 UTC`` or ``2024-01-02`` as epoch ms."""
    text = text.removesuffix(" UTC")
    fmt = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
    return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """The emulator, the scenario's folder and what the command printed."""
    monkeypatch.setenv("RETRY_BASE_DELAY", "0")
    monkeypatch.setenv("RETRY_ATTEMPTS", "3")
    state = {"dir": tmp_path, "monkeypatch": monkeypatch, "printer": command.ProgressPrinter}
    yield state
    if "server" in state:
        state["server"].stop()
        assert state["server"].unknown_requests == [] and state["server"].internal_errors == []


@given(parsers.parse("the local exchange emulator with {count:d} closed one-minute BTC/USDT"
                     " candles since {day}"))
def emulator(world, count, day):
    server = start_server()
    assert server.clock.now_ms() // MINUTE - epoch_ms(day) // MINUTE == count
    world["server"] = server


@given(parsers.parse("{name} was downloaded until {day}"))
def downloaded_until(world, name, day):
    out = world["dir"] / name
    assert main(["download", "--exchange-url", world["server"].base_url, "--since", "2024-01-01",
                 "--until", day, "--out", str(out)]) == 0


@given(parsers.parse("the exchange goes down for an hour once {pages:d} pages are written"))
def outage_after_pages(world, pages):
    server = world["server"]

    class OutageAfterPages(world["printer"]):
        def __call__(self, done):
            super().__call__(done)
            if done.pages == pages:
                server.faults.outage(3600)

    world["monkeypatch"].setattr(command, "ProgressPrinter", OutageAfterPages)


@when("the outage is over")
def outage_over(world):
    world["monkeypatch"].setattr(command, "ProgressPrinter", world["printer"])
    world["server"].clock.advance(3600)


@when(parsers.parse('I run "{line}"'))
def run_command(world, line, capsys):
    argv = shlex.split(line)
    argv = [str(world["dir"] / a) if a.endswith(".csv") else a for a in argv]
    argv += ["--exchange-url", world["server"].base_url]
    world["mark"] = len(kline_requests(world["server"]))
    world["status"] = main(argv)
    printed = capsys.readouterr()
    world["out"], world["err"] = printed.out, printed.err


@then(parsers.parse("the command exits with status {status:d}"))
def exit_status(world, status):
    assert world["status"] == status, world["err"]


@then(parsers.parse("{name} holds {count:d} candles from {first} to {last}, one minute apart"))
def file_holds(world, name, count, first, last):
    stamps = read_candles(world["dir"] / name)["timestamp"]
    assert len(stamps) == count
    assert (stamps.iat[0], stamps.iat[-1]) == (epoch_ms(first), epoch_ms(last))
    assert (stamps.diff().dropna() == MINUTE).all()


@then(parsers.parse('the summary says "{text}"'))
def summary_says(world, text):
    assert text in world["out"]


@then(parsers.parse('it says "{text}"'))
def it_says(world, text):
    assert text in world["err"]


@then(parsers.parse("the first candle asked for opens at {moment}"))
def first_asked(world, moment):
    first = kline_requests(world["server"])[world["mark"]]
    assert int(first.params["startTime"]) == epoch_ms(moment)


@then(parsers.parse("{name} does not exist"))
def does_not_exist(world, name):
    assert not (world["dir"] / name).exists()


@then(parsers.parse('the first line it prints says "{text}"'))
def first_line_says(world, text):
    assert text in world["err"].splitlines()[0]
