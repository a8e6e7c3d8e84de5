"""Downloading candle history page by page into a candle CSV that a rerun resumes.

``download_candles(client, out, since_ms, until_ms)`` asks the exchange for up to 1000 candles
at a time from a cursor, keeps the closed ones before the end, appends them to ``out`` with
``storage.candles.append_candles`` (never a duplicate timestamp, fsynced per page) and moves the
cursor past the last one. The end is fixed when the download starts: ``until_ms`` (exclusive),
or the open time after the last candle closed at that moment on the server's clock, so a fast
exchange clock can never make the loop chase its own tail.

Stretches without candles (an exchange outage, a pair not yet listed) are passed over: a page
that starts later than asked records a gap, and an empty page moves the cursor a whole page on.
The cursor grows on every page, so the loop always ends. When the exchange stays unavailable
after the client's retries, ``DownloadInterrupted`` carries the partial result; everything
written is whole rows, and a rerun starts after the file's last row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.candles import CANDLE_COLUMNS
from core.errors import ExchangeError, ExchangeUnavailable, InputError
from exchange.client import MAX_KLINES, ExchangeClient
from exchange.validation import CandleDataError, closed_candles, describe_time
from storage.candles import append_candles, last_stored_timestamp


class DownloadFileError(InputError, ValueError):
    """The output file cannot be resumed (not a candle CSV, another timeframe); one line."""


@dataclass(frozen=True)
class Gap:
    """A stretch ``[start_ms, end_ms)`` in which the exchange had no candle."""

    start_ms: int
    end_ms: int

    def candles(self, timeframe_ms: int) -> int:
        """How many candles of ``timeframe_ms`` fit in the gap."""
        return (self.end_ms - self.start_ms) // timeframe_ms

    def describe(self) -> str:
        """``2024-01-03 10:00 UTC -> 2024-01-03 14:00 UTC`` for messages."""
        return f"{describe_time(self.start_ms)} -> {describe_time(self.end_ms)}"


@dataclass(frozen=True)
class DownloadProgress:
    """Where a running download is, handed to the progress callback after every page."""

    pages: int
    rows_written: int
    cursor_ms: int  # open time of the next candle wanted
    start_ms: int
    end_ms: int

    @property
    def fraction(self) -> float:
        """Share of the time range covered so far (0..1)."""
        span = self.end_ms - self.start_ms
        if span <= 0:
            return 1.0
        return min(max((self.cursor_ms - self.start_ms) / span, 0.0), 1.0)


@dataclass(frozen=True)
class DownloadResult:
    """What a download did. ``first_ms``/``last_ms`` are the first/last candle it wrote."""

    path: Path
    timeframe_ms: int
    start_ms: int  # where this run started (after the file's last row when resuming)
    end_ms: int  # exclusive end this run aimed for
    rows_written: int = 0
    pages: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    resumed_after_ms: int | None = None  # the file's last row before this run, if any
    reached_last_closed: bool = False  # the end was the last closed candle, not --until
    gaps: tuple[Gap, ...] = field(default_factory=tuple)

    @property
    def missing_candles(self) -> int:
        """Candles that the gaps account for."""
        return sum(g.candles(self.timeframe_ms) for g in self.gaps)


class DownloadInterrupted(ExchangeError):
    """The exchange stayed unavailable, or sent bad candles; ``result`` is what got written.

    The file holds whole rows only; running the same download again resumes after its last row.
    """

    def __init__(self, result: DownloadResult, cause: ExchangeUnavailable | CandleDataError):
        super().__init__(str(cause))
        self.result = result
        self.cause = cause


ProgressCallback = Callable[[DownloadProgress], None]


def check_candle_file(path: Path) -> None:
    """DownloadFileError unless ``path`` is absent, empty, or starts with the candle header."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    if not path.is_file():
        raise DownloadFileError(f"{path} is not a file; choose another --out")
    with path.open("rb") as handle:
        first = handle.readline(4096).decode("utf-8", "replace").strip()
    if first.split(",")[: len(CANDLE_COLUMNS)] != CANDLE_COLUMNS:
        raise DownloadFileError(
            f"{path} is not a candle CSV (its first line is {first[:60]!r}, expected"
            f" {','.join(CANDLE_COLUMNS)}); choose another --out"
        )


def span(ms: int) -> str:
    """A duration as Binance writes intervals: ``1m``, ``4h``, ``1d`` (``90s`` otherwise)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def tail_timestamps(path: Path, count: int = 20) -> list[int]:
    """Open times of (up to) the last ``count`` complete rows, read from the file's end."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 64 * count))
        tail = handle.read()
    lines = tail.split(b"\n")[:-1]  # the last piece lacks its newline: partial or empty
    stamps = []
    for line in lines[-count:]:
        first = line.split(b",", 1)[0].strip()
        if first.isdigit():
            stamps.append(int(first))
    return stamps


def resume_point(path: str | Path, since_ms: int, timeframe_ms: int) -> tuple[int, int | None]:
    """``(start_ms, last_stored_ms)``: after the file's last row when it has one, else since.

    Raises DownloadFileError when the file is not a candle CSV, or its last rows are off the
    ``timeframe_ms`` grid or closer together or farther apart than one timeframe at best
    (the file holds another timeframe).
    """
    path = Path(path)
    check_candle_file(path)
    last = last_stored_timestamp(path)
    if last is None:
        return since_ms, None
    stamps = tail_timestamps(path)
    steps = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True) if b > a]
    step = min(steps) if steps else None
    if last % timeframe_ms or (step is not None and step != timeframe_ms):
        held = f"candles {span(step)} apart" if step else f"a candle at {describe_time(last)}"
        raise DownloadFileError(
            f"{path} holds {held}, which does not fit the {span(timeframe_ms)} timeframe;"
            " use another --out, or the --timeframe it was downloaded with"
        )
    return last + timeframe_ms, last


def last_closed_end(now_ms: int, timeframe_ms: int) -> int:
    """Exclusive end just after the last candle closed at ``now_ms``: every candle opening
    before it has ``open + timeframe <= now``."""
    return (now_ms // timeframe_ms) * timeframe_ms


def _merge(gaps: list[Gap], gap: Gap) -> None:
    """Append ``gap``, joining it to the previous one when they touch."""
    if gaps and gaps[-1].end_ms == gap.start_ms:
        gaps[-1] = Gap(gaps[-1].start_ms, gap.end_ms)
    else:
        gaps.append(gap)


def _gaps_inside(frame: pd.DataFrame, cursor: int, timeframe_ms: int) -> list[Gap]:
    """Gaps before the page's first candle and between its candles."""
    stamps = frame["timestamp"].to_numpy()
    found = []
    if stamps[0] > cursor:
        found.append(Gap(cursor, int(stamps[0])))
    for before, after in zip(stamps[:-1], stamps[1:], strict=True):
        if after - before > timeframe_ms:
            found.append(Gap(int(before) + timeframe_ms, int(after)))
    return found


@dataclass
class _Tally:
    """Pages asked and rows written so far."""

    pages: int = 0
    rows: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, stamps: pd.Series, written: int) -> None:
        """Count the last ``written`` of ``stamps`` (``append_candles`` skips older rows)."""
        if written <= 0:
            return
        kept = stamps.iloc[-written:]
        self.rows += written
        if self.first is None:
            self.first = int(kept.iloc[0])
        self.last = int(kept.iloc[-1])


def download_candles(
    client: ExchangeClient,
    out_path: str | Path,
    since_ms: int,
    until_ms: int | None,
    *,
    progress: ProgressCallback | None = None,
    page_limit: int = MAX_KLINES,
) -> DownloadResult:
    """Download ``client``'s symbol and timeframe from ``since_ms`` to ``until_ms`` into a CSV.

    Resumes after the file's last row when the file already holds candles. Writes closed
    candles only, each page appended and fsynced before the next is asked for. ``until_ms``
    is exclusive; None (or a time still in the future) means "up to the last closed candle".
    ``progress`` is called after every page. Raises DownloadFileError for an output file
    that cannot be resumed, ValueError for a bad range, and DownloadInterrupted (with the
    partial result) when the exchange stays unavailable after the client's retries or sends
    bad candles; ExchangeRefused (bad symbol, keys) passes through unchanged.
    """
    path = Path(out_path)
    tf = client.timeframe_ms
    if until_ms is not None and until_ms <= since_ms:
        raise ValueError(
            f"the end {describe_time(until_ms)} must be after the start {describe_time(since_ms)}"
        )
    # Binance answers from the first candle opening at or after startTime: align likewise, so
    # a start inside a candle is no "gap".
    start, resumed_after = resume_point(path, -(-since_ms // tf) * tf, tf)
    try:
        now = client.server_time_ms()
    except ExchangeUnavailable as exc:
        empty = DownloadResult(path, tf, start, until_ms or start, resumed_after_ms=resumed_after)
        raise DownloadInterrupted(empty, exc) from exc
    closed_end = last_closed_end(now, tf)
    end = closed_end if until_ms is None else min(until_ms, closed_end)
    run = _Tally()
    gaps: list[Gap] = []

    def result() -> DownloadResult:
        return DownloadResult(
            path=path, timeframe_ms=tf, start_ms=start, end_ms=end, rows_written=run.rows,
            pages=run.pages, first_ms=run.first, last_ms=run.last, resumed_after_ms=resumed_after,
            reached_last_closed=end == closed_end, gaps=tuple(gaps),
        )

    cursor = start
    while cursor < end:
        try:
            rows = client.fetch_ohlcv_page(cursor, page_limit)
            # Every candle before ``end`` was closed at ``now``: one request per page, and the
            # still-open candle (if the page reaches it) is dropped by the same rule.
            page = closed_candles(rows, tf, now)
        except (ExchangeUnavailable, CandleDataError) as exc:
            raise DownloadInterrupted(result(), exc) from exc
        stamps = page["timestamp"]
        page = page[(stamps >= cursor) & (stamps < end)].reset_index(drop=True)
        run.pages += 1
        if page.empty:
            # Nothing from the cursor on within a page: an outage longer than a page, or
            # before the pair existed. Move on a whole page rather than ask again.
            nxt = min(cursor + page_limit * tf, end)
            _merge(gaps, Gap(cursor, nxt))
            cursor = nxt
        else:
            for gap in _gaps_inside(page, cursor, tf):
                _merge(gaps, gap)
            run.add(page["timestamp"], append_candles(path, page))
            cursor = int(page["timestamp"].iat[-1]) + tf
        if progress is not None:
            progress(DownloadProgress(run.pages, run.rows, min(cursor, end), start, end))
    return result()
