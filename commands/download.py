"""``python main.py download``: candle history from the exchange into a candle CSV, resumable.

Pages through ``fetch_ohlcv`` 1000 candles at a time (``exchange.download``), writes closed
candles only, starts after the file's last row when the file exists, draws a progress line
on a terminal (a line every N pages otherwise) and ends with a summary. Exit status: 0 done,
1 the exchange stayed unavailable (what was written stays valid; rerun to resume), 2 bad
arguments or configuration, 130 interrupted by Ctrl+C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from core.errors import InputError
from core.lognames import EVENTS_LOGGER

if TYPE_CHECKING:  # keep ``main.py --help`` light: ccxt and pandas load only when run
    from config.settings import Settings
    from core.types import ExchangeKind
    from exchange.client import ExchangeClient
    from exchange.download import DownloadProgress, DownloadResult

HELP = "download candle history (closed candles, resumable) into a candle CSV"

DEFAULT_PROGRESS_EVERY = 10  # pages between progress lines when stderr is not a terminal
MIN_EPOCH_MS = 100_000_000_000  # fewer digits than this is epoch seconds typed by mistake


class ArgumentProblem(InputError, ValueError):
    """A bad command-line value; the message is one line saying what to type instead."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The download command's flags."""
    parser.add_argument("--symbol", default=None, help="spot pair, e.g. BTC/USDT (SYMBOL)")
    parser.add_argument("--timeframe", default=None,
                        help="candle interval, e.g. 1m, 1h (TIMEFRAME)")
    parser.add_argument("--since", required=True,
                        help="first candle: YYYY-MM-DD, ISO 8601 UTC or epoch ms")
    parser.add_argument("--until", default=None,
                        help="end, exclusive (default: up to the last closed candle)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.csv",
                        help="candle CSV to write; an existing one is resumed after its last row")
    parser.add_argument("--exchange", choices=("testnet", "local"), default=None,
                        help="testnet, or local (the emulator; synthetic candles). Default: "
                             "testnet when API keys are set, else local")
    parser.add_argument("--exchange-url", default=None, metavar="URL",
                        help="a running emulator, e.g. http://127.0.0.1:8765 (implies local)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the in-process emulator's synthetic market (default 1)")
    parser.add_argument("--progress-every", type=int, default=DEFAULT_PROGRESS_EVERY,
                        metavar="N", help="pages between progress lines when not on a terminal")


# -- argument parsing ---------------------------------------------------------------------------
def parse_time(text: str, flag: str) -> int:
    """Epoch ms from ``YYYY-MM-DD``, ISO 8601 (UTC unless it says otherwise) or epoch ms."""
    raw = (text or "").strip()
    if re.fullmatch(r"\d+", raw):
        value = int(raw)
        if value < MIN_EPOCH_MS:
            raise ArgumentProblem(
                f"{flag} {text!r} looks like epoch seconds; give epoch milliseconds"
                f" ({value}000) or a date such as 2024-01-01"
            )
        return value
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ArgumentProblem(
            f"{flag} {text!r} is not a date; use YYYY-MM-DD, ISO 8601 UTC such as"
            " 2024-01-01T12:00:00Z, or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def check_timeframe(timeframe: str) -> int:
    """The timeframe's length in ms; ArgumentProblem naming the accepted ones otherwise."""
    from config.settings import TIMEFRAMES

    if timeframe not in TIMEFRAMES:
        raise ArgumentProblem(
            f"--timeframe {timeframe!r} is unknown; use one of {', '.join(TIMEFRAMES)}"
        )
    return TIMEFRAMES[timeframe] * 1000


def check_range(since_ms: int, until_ms: int | None) -> None:
    """ArgumentProblem when ``until`` is not after ``since``."""
    from exchange.validation import describe_time

    if until_ms is not None and until_ms <= since_ms:
        raise ArgumentProblem(
            f"--until ({describe_time(until_ms)}) must be after --since"
            f" ({describe_time(since_ms)})"
        )


# -- progress -----------------------------------------------------------------------------------
class ProgressPrinter:
    """A one-line bar redrawn in place on a terminal, else a plain line every ``every`` pages."""

    def __init__(self, stream: TextIO, label: str, every: int = DEFAULT_PROGRESS_EVERY,
                 terminal: bool | None = None, width: int = 24) -> None:
        self.stream = stream
        self.label = label
        self.every = max(1, int(every))
        isatty = getattr(stream, "isatty", lambda: False)
        self.terminal = bool(isatty()) if terminal is None else terminal
        self.width = width
        self._drawn = 0  # length of the bar line on screen, 0 when none

    def __call__(self, done: DownloadProgress) -> None:
        """Show one page's progress."""
        from exchange.validation import describe_time

        text = (f"page {done.pages}: {done.rows_written:,} rows, up to"
                f" {describe_time(done.cursor_ms)} ({done.fraction * 100:.1f} %)")
        if self.terminal:
            filled = int(done.fraction * self.width)
            line = f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {text}"
            pad = max(0, self._drawn - len(line))
            self.stream.write(line + " " * pad)
            self._drawn = len(line)
        elif done.pages % self.every == 0:
            self.stream.write(f"{self.label} {text}\n")
        else:
            return
        self.stream.flush()

    def clear(self) -> None:
        """Remove the bar line so that a message or the summary starts on a clean line."""
        if self.terminal and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0


class _ConsoleHandler(logging.Handler):
    """Retry warnings of the exchange layer as one line each, without stack traces."""

    def __init__(self, stream: TextIO, printer: ProgressPrinter, secrets: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream
        self.printer = printer
        self.secrets = [s for s in secrets if s and len(s) >= 4]
        # The errors logger repeats the final failure with its traceback: the exit message says it.
        self.addFilter(lambda record: not record.name.endswith(".errors"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record's message on its own line."""
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "***")
        self.printer.clear()
        self.stream.write(f"download: {text}\n")
        self.stream.flush()


@contextlib.contextmanager
def console_warnings(stream: TextIO, printer: ProgressPrinter,
                     secrets: list[str]) -> Iterator[None]:
    """Show the exchange layer's warnings on ``stream`` for the duration of the block."""

    logger = logging.getLogger(EVENTS_LOGGER)
    handler = _ConsoleHandler(stream, printer, secrets)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


# -- wiring -------------------------------------------------------------------------------------
def _summary(result: DownloadResult, symbol: str, timeframe: str, source: str,
             seconds: float) -> list[str]:
    """The closing lines: rows written, first/last time, file, gaps, where candles came from."""
    from exchange.validation import describe_time

    lines = []
    if result.rows_written:
        lines.append(f"wrote {result.rows_written:,} closed {symbol} {timeframe} candles to"
                     f" {result.path}")
        lines.append(f"  first {describe_time(result.first_ms)}, last"
                     f" {describe_time(result.last_ms)} ({result.pages} pages in {seconds:.1f} s)")
    elif result.start_ms >= result.end_ms and result.resumed_after_ms is None:
        lines.append(f"no whole {timeframe} candle opens from {describe_time(result.start_ms)}"
                     f" to {describe_time(result.end_ms)}; nothing to download")
    elif result.start_ms >= result.end_ms:
        lines.append(f"{result.path} is already up to date: nothing closed after its last row"
                     f" ({describe_time(result.resumed_after_ms)}) before the end"
                     f" ({describe_time(result.end_ms)})")
    else:
        lines.append(f"no {symbol} {timeframe} candle on the exchange from"
                     f" {describe_time(result.start_ms)} to {describe_time(result.end_ms)};"
                     f" {result.path} is unchanged")
    up_to_date = result.start_ms >= result.end_ms
    if result.resumed_after_ms is not None and not up_to_date:
        lines.append("  resumed after the file's last row"
                     f" ({describe_time(result.resumed_after_ms)})")
    if result.reached_last_closed and not up_to_date:
        lines.append("  stopped at the last closed candle; rerun later to add newer ones")
    if result.gaps:
        shown = "; ".join(g.describe() for g in result.gaps[:3])
        more = f" and {len(result.gaps) - 3} more" if len(result.gaps) > 3 else ""
        lines.append(f"  {len(result.gaps)} stretch(es) without candles on the exchange"
                     f" ({result.missing_candles:,} candles): {shown}{more}")
    lines.append(f"  source: {source}")
    return lines


def generated_note(source: str) -> str | None:
    """The first line of a download from the built-in exchange: its candles are not Binance's."""
    if source.startswith("in-process local emulator"):
        return ("download: these candles are GENERATED by the built-in exchange (a seeded"
                " synthetic market), not Binance's; for real candles use --exchange testnet or"
                " import Binance's public kline files with 'main.py import'")
    if source.startswith("local emulator at"):
        return ("download: these candles come from a local emulator (generated or replayed),"
                " not from Binance")
    return None


@contextlib.contextmanager
def open_client(args: argparse.Namespace, symbol: str, timeframe: str,
                settings: Settings) -> Iterator[tuple[ExchangeClient, str]]:
    """An ExchangeClient for the chosen exchange and a one-line description of the source.

    ``--exchange local`` without ``--exchange-url`` starts an in-process emulator on the real
    clock over a seeded synthetic market, stopped when the block ends.
    """
    from core.clock import RealClock
    from exchange.client import ExchangeClient
    from exchange.factory import make_exchange
    from exchange.retry import RetryPolicy

    kind: ExchangeKind = args.exchange or ("local" if args.exchange_url else settings.exchange)
    clock = RealClock()
    server = None
    try:
        if kind == "local" and not args.exchange_url:
            from emulator.server import (
                DEFAULT_API_KEY,
                DEFAULT_API_SECRET,
                EmulatorServer,
            )
            from emulator.symbols import generated_market

            server = EmulatorServer(generated_market(symbol, args.seed), clock,
                                    symbol=symbol).start()
            url, key, secret = server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET
            source = (f"in-process local emulator: SYNTHETIC candles (GeneratedMarket seed"
                      f" {args.seed}), not market data")
        elif kind == "local":
            url, key, secret = args.exchange_url, "emulator", "emulator"  # klines are public
            source = (f"local emulator at {args.exchange_url} (its candles are synthetic or"
                      " replayed)")
        else:
            url, key, secret = args.exchange_url, settings.api_key, settings.api_secret
            source = "Binance Spot Testnet"
        exchange = make_exchange(kind, api_key=key, api_secret=secret, base_url=url,
                                 timeout_ms=settings.request_timeout_ms)
        policy = RetryPolicy(settings.retry_attempts, settings.retry_base_delay,
                             settings.retry_factor)
        yield ExchangeClient(exchange, symbol, timeframe, clock=clock, policy=policy), source
    finally:
        if server is not None:
            server.stop()


def run(args: argparse.Namespace) -> int:
    """Download; 0 done, 1 exchange unavailable (rerun resumes), 2 bad arguments, 130 Ctrl+C."""
    err = sys.stderr
    try:
        from config.settings import SettingsError, load_settings

        settings = load_settings()
        symbol = (args.symbol or settings.symbol).strip().upper()
        timeframe = (args.timeframe or settings.timeframe).strip()
        check_timeframe(timeframe)
        since_ms = parse_time(args.since, "--since")
        until_ms = parse_time(args.until, "--until") if args.until is not None else None
        check_range(since_ms, until_ms)
        if args.progress_every < 1:
            raise ArgumentProblem(f"--progress-every must be 1 or more, got {args.progress_every}")
    except (ArgumentProblem, SettingsError) as exc:
        print(f"download: {exc}", file=err)
        return 2
    return _download(args, settings, symbol, timeframe, since_ms, until_ms, err)


def _download(args: argparse.Namespace, settings: Settings, symbol: str, timeframe: str,
              since_ms: int, until_ms: int | None, err: TextIO) -> int:
    """The download itself, errors mapped to exit statuses and one-line messages."""
    from storage.lock import DataDirLocked, DataDirLockError

    out: Path = args.out
    try:
        lock = lock_for_output(out, settings.data_dir)
    except (DataDirLocked, DataDirLockError) as exc:
        print(f"download: {exc}", file=err)
        return 2
    try:
        return _download_unlocked(args, settings, symbol, timeframe, since_ms, until_ms, err)
    finally:
        if lock is not None:
            lock.release()


def lock_for_output(out: Path, data_dir: Path):
    """The data-folder lock when ``out`` is in a bot's data folder (taken), else None."""
    from storage.lock import lock_if_bot_folder

    return lock_if_bot_folder(out, data_dir)


def _download_unlocked(args: argparse.Namespace, settings, symbol: str, timeframe: str,
                       since_ms: int, until_ms: int | None, err: TextIO) -> int:
    """The download once the output's folder is ours (or belongs to no bot)."""
    from core.errors import EndpointRefused, ExchangeUnavailable
    from exchange.client import ExchangeRefused
    from exchange.download import DownloadFileError, DownloadInterrupted, download_candles
    from exchange.validation import CandleDataError, describe_time
    from storage.candles import last_stored_timestamp

    out: Path = args.out
    printer = ProgressPrinter(err, f"{symbol} {timeframe}", args.progress_every)
    started = time.monotonic()
    try:
        with open_client(args, symbol, timeframe, settings) as (client, source), \
                console_warnings(err, printer, settings.secrets):
            note = generated_note(source)
            if note:
                print(note, file=err, flush=True)
            client.load_markets()
            result = download_candles(client, out, since_ms, until_ms, progress=printer)
    except (ValueError, DownloadFileError, ExchangeRefused, EndpointRefused) as exc:
        printer.clear()
        print(f"download: {exc}", file=err)
        return 2
    except ExchangeUnavailable as exc:
        printer.clear()
        print(f"download: the exchange is unavailable ({exc}); nothing was written."
              " Try again later", file=err)
        return 1
    except DownloadInterrupted as exc:
        printer.clear()
        done = exc.result
        where = (f"wrote {done.rows_written:,} candles up to {describe_time(done.last_ms)}"
                 if done.rows_written else "wrote no candle this time")
        why = ("the exchange sent bad candles" if isinstance(exc.cause, CandleDataError)
               else "the exchange stayed unavailable after retries")
        print(f"download: stopped: {why} ({exc.cause}); {where} to {out}, every row of it"
              f" valid. Run the same command again to resume", file=err)
        return 1
    except KeyboardInterrupt:
        printer.clear()
        last = last_stored_timestamp(out)
        upto = f"up to {describe_time(last)}" if last is not None else "no candle yet"
        print(f"download: interrupted; {out} holds whole rows {upto}. Run the same command"
              " again to resume", file=err)
        return 130
    printer.clear()
    for line in _summary(result, symbol, timeframe, source, time.monotonic() - started):
        print(line)
    return 0
