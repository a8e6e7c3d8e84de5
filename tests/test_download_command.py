"""``python main.py download`` end to end: argument errors, exit statuses, messages, progress.

The command runs in-process through ``main.main`` against an emulator on 127.0.0.1 (the real
ccxt client, over loopback) on a ManualClock at T0; RETRY_BASE_DELAY=0 keeps its retry waits
(on the wall clock, as for a real exchange) instantly short.
"""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

import pytest

import commands.download as command
from config.settings import load_settings
from core.clock import ManualClock
from emulator.market import GeneratedMarket
from exchange.download import DownloadResult, Gap
from main import main
from storage.candles import read_candles
from tests.download_support import DAY0, MINUTE, T0

HOUR = 60 * MINUTE


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setenv("RETRY_BASE_DELAY", "0")
    monkeypatch.setenv("RETRY_ATTEMPTS", "3")


@pytest.fixture
def server(start_emulator):
    return start_emulator(GeneratedMarket(3), ManualClock(T0))


def download(server, out, *extra: str) -> int:
    return main(["download", "--exchange-url", server.base_url, "--out", str(out), *extra])


def test_fresh_download_prints_a_summary(server, tmp_path, capsys):
    """
    Given the emulator with 5,000 closed minutes since 2024-01-01
    When the command downloads 2024-01-01 to 2024-01-02 into a new file
    Then it exits 0, the file holds 1,440 candles, and the summary names rows, times and file
    """
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01", "--until", "2024-01-02") == 0
    assert len(read_candles(out)) == 1_440
    printed = capsys.readouterr().out
    assert f"wrote 1,440 closed BTC/USDT 1m candles to {out}" in printed
    assert "first 2024-01-01 00:00 UTC, last 2024-01-01 23:59 UTC (2 pages" in printed
    assert f"source: local emulator at {server.base_url}" in printed


def test_rerun_resumes_and_says_so(server, tmp_path, capsys):
    """
    Given a file downloaded until 2024-01-01 12:00
    When the same command runs without --until
    Then it resumes after the file's last row up to the last closed candle, no duplicate
    """
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01", "--until", "2024-01-01T12:00:00Z") == 0
    capsys.readouterr()
    assert download(server, out, "--since", "2024-01-01") == 0
    printed = capsys.readouterr().out
    assert "resumed after the file's last row (2024-01-01 11:59 UTC)" in printed
    assert "stopped at the last closed candle" in printed
    stamps = read_candles(out)["timestamp"]
    assert len(stamps) == 5_000 and stamps.is_unique


def test_up_to_date_file_is_reported(server, tmp_path, capsys):
    """
    Given a file that already holds every closed candle
    When the command runs again
    Then it exits 0 and says the file is already up to date
    """
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", str(T0 - HOUR)) == 0
    capsys.readouterr()
    assert download(server, out, "--since", str(T0 - HOUR)) == 0
    assert f"{out} is already up to date" in capsys.readouterr().out


def test_range_inside_one_candle_downloads_nothing(server, tmp_path, capsys):
    """
    Given a range from 00:10 to 00:50 of one hour
    When hourly candles are asked for
    Then the command exits 0 saying no whole candle opens in it, and writes no file
    """
    out = tmp_path / "btc.csv"
    assert download(server, out, "--timeframe", "1h", "--since", "2024-01-01T00:10Z",
                    "--until", "2024-01-01T00:50Z") == 0
    assert "no whole 1h candle opens from 2024-01-01 01:00 UTC" in capsys.readouterr().out
    assert not out.exists()


class OutageAfterPage2(command.ProgressPrinter):
    """The real printer, arming an hour-long emulator outage once page 2 is written."""

    server = None

    def __call__(self, done):
        super().__call__(done)
        if done.pages == 2:
            self.server.faults.outage(3600)


def test_outage_mid_way_exits_1_and_a_rerun_resumes(server, tmp_path, capsys, monkeypatch):
    """
    Given the exchange going down for an hour after the second page of a 5,000 candle download
    When the command runs, and again after the outage
    Then the first run exits 1 saying how far it got and that rerunning resumes
    And the file then holds 2,000 valid candles, and the rerun completes it to 5,000
    """
    OutageAfterPage2.server = server
    original = command.ProgressPrinter
    monkeypatch.setattr(command, "ProgressPrinter", OutageAfterPage2)
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01") == 1
    err = capsys.readouterr().err
    assert "the exchange stayed unavailable after retries" in err
    assert "wrote 2,000 candles up to 2024-01-02 09:19 UTC" in err
    assert "Run the same command again to resume" in err
    # the source's label, two retry warnings and the message, no traceback
    assert err.count("\n") <= 4
    assert len(read_candles(out)) == 2_000
    monkeypatch.setattr(command, "ProgressPrinter", original)
    server.clock.advance(3600)
    end = str(DAY0 + 5_000 * MINUTE)
    assert download(server, out, "--since", "2024-01-01", "--until", end) == 0
    assert len(read_candles(out)) == 5_000


def test_retries_are_shown_as_one_line_warnings(server, tmp_path, capsys):
    """
    Given the exchange answering the next klines request with HTTP 500
    When the command downloads an hour
    Then it exits 0 and stderr shows one retry warning line and no traceback
    """
    server.faults.server_errors(1, 500, path="/api/v3/klines")
    assert download(server, tmp_path / "btc.csv", "--since", "2024-01-01",
                    "--until", "2024-01-01T01:00") == 0
    err = capsys.readouterr().err
    assert "download: fetch OHLCV failed (attempt 1 of 3)" in err
    assert "Traceback" not in err


def test_exchange_down_from_the_start_exits_1(server, tmp_path, capsys):
    """
    Given the exchange down for an hour
    When the command starts
    Then it exits 1 saying the exchange is unavailable and nothing was written
    """
    server.faults.outage(3600)
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01") == 1
    assert "nothing was written" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--since", "2024-02-01", "--until", "2024-01-01"], "--until (2024-01-01 00:00 UTC) must"
                                                         " be after --since"),
    (["--since", "2024-01-01", "--timeframe", "7m"], "--timeframe '7m' is unknown; use one of"),
    (["--since", "yesterday"], "--since 'yesterday' is not a date; use YYYY-MM-DD"),
    (["--since", "1704067200"], "looks like epoch seconds; give epoch milliseconds"),
    (["--since", "2024-01-01", "--progress-every", "0"], "--progress-every must be 1 or more"),
])
def test_bad_arguments_exit_2_with_one_line(server, tmp_path, capsys, flags, message):
    """
    Given a bad --since/--until/--timeframe/--progress-every value
    When the command runs
    Then it exits 2 with one line on stderr saying what is wrong, and makes no request
    """
    assert download(server, tmp_path / "btc.csv", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert server.request_count == 0


def test_unknown_symbol_exits_2(server, tmp_path, capsys):
    """
    Given the emulator listing BTC/USDT, ETH/USDT and BNB/USDT
    When DOGE/USDT is asked for
    Then the command exits 2 saying the symbol is not listed
    """
    assert download(server, tmp_path / "doge.csv", "--symbol", "DOGE/USDT", "--since",
                    "2024-01-01") == 2
    assert "symbol DOGE/USDT is not listed" in capsys.readouterr().err


def test_file_of_another_timeframe_exits_2(server, tmp_path, capsys):
    """
    Given a file of one-minute candles
    When the command is asked to resume it as hourly candles
    Then it exits 2 naming the mismatch, and the file is unchanged
    """
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01", "--until", "2024-01-01T02:00") == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert download(server, out, "--since", "2024-01-01", "--timeframe", "1h") == 2
    assert "holds candles 1m apart" in capsys.readouterr().err
    assert out.read_bytes() == before


class InterruptAfterPage1(command.ProgressPrinter):
    """The real printer, standing for a user pressing Ctrl+C after page 1."""

    def __call__(self, done):
        super().__call__(done)
        raise KeyboardInterrupt


def test_ctrl_c_exits_130_and_says_rerun_resumes(server, tmp_path, capsys, monkeypatch):
    """
    Given a user pressing Ctrl+C once the first page is written
    When the command runs
    Then it exits 130 saying the file holds whole rows up to the last one and rerun resumes
    """
    monkeypatch.setattr(command, "ProgressPrinter", InterruptAfterPage1)
    out = tmp_path / "btc.csv"
    assert download(server, out, "--since", "2024-01-01") == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "up to 2024-01-01 16:39 UTC" in err
    assert len(read_candles(out)) == 1_000


def test_local_without_url_runs_an_in_process_emulator(tmp_path, capsys):
    """
    Given no emulator running and --exchange local without --exchange-url
    When the last two hours are downloaded
    Then an in-process emulator on the real clock serves them, and the summary says the
    candles are synthetic
    """
    since = int(time.time() * 1000) - 2 * HOUR
    out = tmp_path / "btc.csv"
    assert main(["download", "--exchange", "local", "--since", str(since), "--out", str(out),
                 "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC candles (GeneratedMarket seed 4)" in printed
    assert 118 <= len(read_candles(out)) <= 120


def test_testnet_without_keys_exits_2(tmp_path, capsys, monkeypatch):
    """
    Given no Spot Testnet keys in the environment
    When --exchange testnet is asked for
    Then the command exits 2 saying which keys to set, before any request
    """
    monkeypatch.delenv("BINANCE_TESTNET_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_TESTNET_API_SECRET", raising=False)
    if load_settings().api_key:
        pytest.skip("a .env with testnet keys is present; this test must not reach testnet")
    assert main(["download", "--exchange", "testnet", "--since", "2024-01-01", "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "BINANCE_TESTNET_API_KEY" in capsys.readouterr().err


# -- pieces -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("2024-01-01", DAY0),
    ("2024-01-01T01:00:00Z", DAY0 + HOUR),
    ("2024-01-01T01:00", DAY0 + HOUR),
    ("2024-01-01T03:00:00+02:00", DAY0 + HOUR),
    ("1704067200000", DAY0),
])
def test_parse_time_accepts_dates_iso_and_epoch_ms(text, expected):
    """
    Given a date, ISO 8601 with Z, without zone (UTC), with an offset, or epoch ms
    When it is parsed
    Then the epoch milliseconds are right
    """
    assert command.parse_time(text, "--since") == expected


def test_check_timeframe_and_range():
    """
    Given the timeframe 1h, and a range ending where it starts
    When they are checked
    Then 1h is 3,600,000 ms and the empty range is refused
    """
    assert command.check_timeframe("1h") == HOUR
    command.check_range(DAY0, None)
    with pytest.raises(command.ArgumentProblem, match="must be after --since"):
        command.check_range(DAY0, DAY0)


def progress(pages, cursor_ms):
    from exchange.download import DownloadProgress

    return DownloadProgress(pages, pages * 1000, cursor_ms, DAY0, DAY0 + 100 * HOUR)


def test_progress_bar_on_a_terminal_redraws_one_line():
    """
    Given a terminal
    When two pages of progress are shown and then cleared
    Then each is drawn over the same line with a bar and a percentage, and the line is wiped
    """
    stream = io.StringIO()
    printer = command.ProgressPrinter(stream, "BTC/USDT 1m", terminal=True)
    printer(progress(1, DAY0 + 25 * HOUR))
    printer(progress(2, DAY0 + 50 * HOUR))
    printer.clear()
    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") == 4
    assert "[######..................] page 1: 1,000 rows" in text
    assert "(50.0 %)" in text and text.endswith("\r")


def test_progress_lines_when_not_a_terminal():
    """
    Given stderr redirected to a file, and progress lines every 2 pages
    When 5 pages of progress are shown
    Then pages 2 and 4 each print one plain line, and clearing prints nothing
    """
    stream = io.StringIO()
    printer = command.ProgressPrinter(stream, "BTC/USDT 1m", every=2, terminal=False)
    for page in range(1, 6):
        printer(progress(page, DAY0 + page * HOUR))
    printer.clear()
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["BTC/USDT 1m page 2", "BTC/USDT 1m page 4"]


def test_console_warnings_mask_secrets_and_skip_the_errors_logger():
    """
    Given the console handler installed with a secret
    When the exchange layer logs a warning holding the secret and an error with a traceback
    Then one masked warning line is printed, the error logger's line is not, and the handler
    is gone afterwards
    """
    import logging

    stream = io.StringIO()
    printer = command.ProgressPrinter(stream, "x", terminal=False)
    with command.console_warnings(stream, printer, ["s3cr3t-value"]):
        logging.getLogger("paperbot").warning("failed with key s3cr3t-value; retrying")
        logging.getLogger("paperbot.errors").error("final failure", exc_info=True)
    logging.getLogger("paperbot").warning("after the block")
    assert stream.getvalue() == "download: failed with key ***; retrying\n"


def test_summary_lists_gaps_and_source(tmp_path):
    """
    Given a result with 4 gaps
    When the summary is built
    Then it counts the missing candles, shows 3 gaps and says how many more, and the source
    """
    gaps = tuple(Gap(DAY0 + i * HOUR, DAY0 + i * HOUR + 10 * MINUTE) for i in range(4))
    result = DownloadResult(tmp_path / "x.csv", MINUTE, DAY0, DAY0 + 5 * HOUR, rows_written=260,
                            pages=1, first_ms=DAY0, last_ms=DAY0 + 5 * HOUR - MINUTE, gaps=gaps)
    lines = command._summary(result, "BTC/USDT", "1m", "somewhere", 0.5)
    assert lines[0] == f"wrote 260 closed BTC/USDT 1m candles to {tmp_path / 'x.csv'}"
    assert "4 stretch(es) without candles on the exchange (40 candles)" in lines[2]
    assert lines[2].endswith("and 1 more") and lines[-1] == "  source: somewhere"


def test_open_client_picks_local_for_a_url(server):
    """
    Given an --exchange-url and no --exchange
    When the client is opened
    Then it is a local client pointed at that URL, described as a local emulator
    """
    args = SimpleNamespace(exchange=None, exchange_url=server.base_url, seed=1)
    with command.open_client(args, "BTC/USDT", "1m", load_settings()) as (client, source):
        assert client.exchange.urls["api"]["public"].startswith(server.base_url)
        assert source.startswith("local emulator at")


def test_generated_note_names_the_source():
    """
    Given the in-process emulator, a standalone emulator and the testnet as sources
    When generated_note describes them
    Then the first two say the candles are not Binance's and the testnet gets no note
    """
    assert "GENERATED by the built-in exchange" in command.generated_note(
        "in-process local emulator: SYNTHETIC candles (GeneratedMarket seed 1), not market data")
    assert "not from Binance" in command.generated_note("local emulator at http://127.0.0.1:1")
    assert command.generated_note("Binance Spot Testnet") is None


def test_a_download_from_the_built_in_exchange_says_so_first(tmp_path, capsys):
    """
    Given no exchange URL and --exchange local (the in-process emulator on the real clock)
    When one day of two days ago is downloaded
    Then the first line printed says the candles are generated, not Binance's
    """
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86_400))
    next_day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))
    out = tmp_path / "gen.csv"
    assert main(["download", "--exchange", "local", "--since", day, "--until", next_day,
                 "--out", str(out)]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("download: these candles are GENERATED by the built-in exchange")
    assert "not Binance's" in first
