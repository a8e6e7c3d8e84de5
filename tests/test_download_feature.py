"""Runs features/download.feature: the download command against the emulator on 127.0.0.1.

The command runs in-process through ``main.main`` (the real ccxt client over loopback); the
emulator's clock is a ManualClock 5,000 minutes after 2024-01-01, and RETRY_BASE_DELAY=0 keeps
the command's retry waits short. The outage is armed by the command's own progress printer
once page 2 is written, so it always strikes mid-download. Steps hand the emulator and each
run's outcome to the next through ``target_fixture`` (``server``, ``run``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import commands.download as command
from emulator.server import EmulatorServer
from main import main
from storage.candles import read_candles
from tests.download_support import MINUTE, kline_requests, start_server

scenarios("download.feature")


def epoch_ms(text: str) -> int:
    """``2024-01-02 09:19 UTC`` or ``2024-01-02`` as epoch ms."""
    text = text.removesuffix(" UTC")
    fmt = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
    return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass
class DownloadRun:
    """One run of the command: its exit status, what it printed, where its requests began."""

    status: int
    out: str
    err: str
    first_request: int


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry waits of zero seconds and three attempts, so an outage ends a run quickly."""
    monkeypatch.setenv("RETRY_BASE_DELAY", "0")
    monkeypatch.setenv("RETRY_ATTEMPTS", "3")


@pytest.fixture()
def plain_printer() -> type[command.ProgressPrinter]:
    """The command's own progress printer, taken before any step patches it."""
    return command.ProgressPrinter


@given(parsers.parse("the local exchange emulator with {count:d} closed one-minute BTC/USDT"
                     " candles since {day}"), target_fixture="server")
def emulator(request, count, day) -> EmulatorServer:
    server = start_server()

    def stop() -> None:
        server.stop()
        assert server.unknown_requests == [] and server.internal_errors == []

    request.addfinalizer(stop)
    assert server.clock.now_ms() // MINUTE - epoch_ms(day) // MINUTE == count
    return server


@given(parsers.parse("{name} was downloaded until {day}"))
def downloaded_until(server, tmp_path, name, day):
    out = tmp_path / name
    assert main(["download", "--exchange-url", server.base_url, "--since", "2024-01-01",
                 "--until", day, "--out", str(out)]) == 0


@given(parsers.parse("the exchange goes down for an hour once {pages:d} pages are written"))
def outage_after_pages(server, plain_printer, monkeypatch, pages):
    class OutageAfterPages(plain_printer):
        def __call__(self, done):
            super().__call__(done)
            if done.pages == pages:
                server.faults.outage(3600)

    monkeypatch.setattr(command, "ProgressPrinter", OutageAfterPages)


@when("the outage is over")
def outage_over(server, plain_printer, monkeypatch):
    monkeypatch.setattr(command, "ProgressPrinter", plain_printer)
    server.clock.advance(3600)


@when(parsers.parse('I run "{line}"'), target_fixture="run")
def run_command(server, tmp_path, line, capsys) -> DownloadRun:
    argv = shlex.split(line)
    argv = [str(tmp_path / a) if a.endswith(".csv") else a for a in argv]
    argv += ["--exchange-url", server.base_url]
    mark = len(kline_requests(server))
    status = main(argv)
    printed = capsys.readouterr()
    return DownloadRun(status, printed.out, printed.err, mark)


@then(parsers.parse("the command exits with status {status:d}"))
def exit_status(run, status):
    assert run.status == status, run.err


@then(parsers.parse("{name} holds {count:d} candles from {first} to {last}, one minute apart"))
def file_holds(tmp_path, name, count, first, last):
    stamps = read_candles(tmp_path / name)["timestamp"]
    assert len(stamps) == count
    assert (stamps.iat[0], stamps.iat[-1]) == (epoch_ms(first), epoch_ms(last))
    assert (stamps.diff().dropna() == MINUTE).all()


@then(parsers.parse('the summary says "{text}"'))
def summary_says(run, text):
    assert text in run.out


@then(parsers.parse('it says "{text}"'))
def it_says(run, text):
    assert text in run.err


@then(parsers.parse("the first candle asked for opens at {moment}"))
def first_asked(server, run, moment):
    first = kline_requests(server)[run.first_request]
    assert int(first.params["startTime"]) == epoch_ms(moment)


@then(parsers.parse("{name} does not exist"))
def does_not_exist(tmp_path, name):
    assert not (tmp_path / name).exists()


@then(parsers.parse('the first line it prints says "{text}"'))
def first_line_says(run, text):
    assert text in run.err.splitlines()[0]
