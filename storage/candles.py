"""The candle frame and its CSV file.

A candle frame is a pandas DataFrame with the columns ``timestamp`` (int64, candle open time in
epoch milliseconds, UTC, strictly increasing), ``open``, ``high``, ``low``, ``close`` and
``volume`` (float64), on a RangeIndex. Every part of the bot, the backtester and the signals
command passes candles around in this one shape.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.candles import (
    CANDLE_COLUMNS,
    CandleFileError,
    candle_problem,
)
from core.lognames import EVENTS_LOGGER
from storage.atomic import COMPLETED, CUT, append_whole, repair_tail

log = logging.getLogger(EVENTS_LOGGER)


def _parse_timestamps(raw: pd.Series, path: Path) -> np.ndarray:
    """Epoch milliseconds from a column of epoch-ms integers or ISO 8601 UTC strings."""
    if pd.api.types.is_integer_dtype(raw):
        return raw.to_numpy(dtype="int64")
    if pd.api.types.is_float_dtype(raw):
        bad = raw.isna() | (raw != np.floor(raw))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise CandleFileError(
                f"{path} line {row + 2}: timestamp {raw.iloc[row]!r} is not epoch milliseconds;"
                " use whole milliseconds or ISO 8601 UTC"
            )
        return raw.to_numpy(dtype="int64")
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise CandleFileError(
            f"{path} line {row + 2}: timestamp {raw.iloc[row]!r} is neither epoch milliseconds"
            " nor ISO 8601 UTC (e.g. 2024-01-01T00:00:00Z)"
        )
    return (parsed.astype("int64") // 1_000_000).to_numpy(dtype="int64")


def read_candles(path: str | Path) -> pd.DataFrame:
    """Read and validate a candle CSV (``timestamp,open,high,low,close,volume`` header).

    Extra columns are ignored. Raises CandleFileError naming the file line (the header is
    line 1) and what to fix, when the file is missing, lacks a column, holds a non-numeric
    value, or breaks the candle rules of ``candle_problem``.
    """
    path = Path(path)
    if not path.is_file():
        raise CandleFileError(f"{path}: no such candle file; check the path")
    try:
        raw = pd.read_csv(path, usecols=lambda c: c in CANDLE_COLUMNS, engine="c")
    except pd.errors.EmptyDataError:
        raise CandleFileError(f"{path}: the file is empty; it needs the header "
                              f"{','.join(CANDLE_COLUMNS)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CandleFileError(f"{path}: not a readable CSV ({first})") from None
    missing = [c for c in CANDLE_COLUMNS if c not in raw.columns]
    if missing:
        raise CandleFileError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must be "
            f"{','.join(CANDLE_COLUMNS)}"
        )
    frame = pd.DataFrame({"timestamp": _parse_timestamps(raw["timestamp"], path)})
    for col in CANDLE_COLUMNS[1:]:
        values = raw[col]
        if not pd.api.types.is_float_dtype(values) and not pd.api.types.is_integer_dtype(values):
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise CandleFileError(
                    f"{path} line {row + 2}: {col} {values.iloc[row]!r} is not a number;"
                    " fix or remove that row"
                )
            values = numeric
        frame[col] = values.to_numpy(dtype="float64")
    problem = candle_problem(frame)
    if problem is not None:
        row, reason = problem
        raise CandleFileError(f"{path} line {row + 2}: {reason}; fix or remove that row")
    return frame


def last_stored_timestamp(path: str | Path) -> int | None:
    """Timestamp of the last complete row of a candle CSV, read from the file's end.

    Reads only the tail, so the cost does not grow with the file. None when the file is
    absent or holds no data row.
    """
    path = Path(path)
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        block = min(size, 4096)
        while True:
            handle.seek(size - block)
            tail = handle.read(block)
            lines = tail.split(b"\n")
            # A last line without its newline is a partial write: it is not a stored row.
            complete = lines[:-1]
            rows = [ln for ln in complete if ln.strip()]
            if len(rows) >= 2 or block == size:
                break
            block = min(size, block * 2)
    for line in reversed(rows):
        first = line.split(b",", 1)[0].strip()
        if first.isdigit():
            return int(first)
        if first == b"timestamp":
            return None
    return None


_PLAIN_DTYPES = (np.dtype("int64"), np.dtype("float64"))


def candle_lines(frame: pd.DataFrame) -> str:
    """The candle rows of ``frame`` as CSV lines, byte for byte what
    ``frame[CANDLE_COLUMNS].to_csv(header=False, index=False, lineterminator="\\n")`` writes.

    pandas writes an int64 or float64 value as ``str`` of it (the shortest repr) and needs
    ~0.5 ms for the one new row of a bot cycle; this joins the same strings in a few µs.
    Any other dtype, or a NaN (pandas' empty field), goes through pandas itself.
    """
    columns = [frame[name].to_numpy() for name in CANDLE_COLUMNS]
    plain = all(column.dtype in _PLAIN_DTYPES for column in columns)
    if not plain or any(np.isnan(c).any() for c in columns if c.dtype.kind == "f"):
        return frame[CANDLE_COLUMNS].to_csv(header=False, index=False, lineterminator="\n")
    rows = zip(*(column.tolist() for column in columns), strict=True)
    return "".join(",".join(map(str, row)) + "\n" for row in rows)


def append_candles(path: str | Path, frame: pd.DataFrame) -> int:
    """Append the candles newer than the file's last row; return how many were written.

    Creates the file with its header when absent. The tail is repaired first
    (``repair_partial_tail``), then the rows are written as whole lines in one append
    (``append_whole``: all or nothing, fsynced), so a full disk leaves the file as it was and
    a killed process at most a partial last line.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    repair_partial_tail(path)
    last = last_stored_timestamp(path)
    new = frame if last is None else frame[frame["timestamp"] > last]
    if new.empty:
        return 0
    body = candle_lines(new)
    header = "" if path.is_file() and path.stat().st_size > 0 else ",".join(CANDLE_COLUMNS) + "\n"
    append_whole(path, (header + body).encode("utf-8"))
    return len(new)


def _last_line_span(path: Path) -> tuple[int, bytes] | None:
    """(offset, bytes) of the last complete line of ``path``, or None when there is none."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        block = min(size, 4096)
        while True:
            handle.seek(size - block)
            tail = handle.read(block)
            end = tail.rfind(b"\n")
            start = tail.rfind(b"\n", 0, end) if end > 0 else -1
            if start >= 0 or block == size:
                break
            block = min(size, block * 2)
    if end < 0:
        return None
    return size - block + start + 1, tail[start + 1:end]


def stored_last_row(path: str | Path) -> list[float] | None:
    """The last stored candle as ``[timestamp, open, high, low, close, volume]``, or None."""
    path = Path(path)
    if not path.is_file():
        return None
    span = _last_line_span(path)
    if span is None:
        return None
    fields = span[1].split(b",")
    try:
        return [float(f) for f in fields[: len(CANDLE_COLUMNS)]]
    except ValueError:
        return None  # the header


def replace_last_row(path: str | Path, row: pd.DataFrame) -> None:
    """Replace the file's last complete row by ``row`` (one candle): cut it, append the new.

    For a last row that differs from the exchange's candle at the same time (one cut inside
    its volume's digits looks whole): the exchange's values win.
    """
    path = Path(path)
    span = _last_line_span(path)
    if span is None:
        return
    body = candle_lines(row)
    with path.open("rb+") as handle:
        handle.truncate(span[0])
        handle.flush()
        os.fsync(handle.fileno())
    append_whole(path, body.encode("utf-8"))


def candle_line_is_whole(line: bytes) -> bool:
    """True when an unterminated last line is the header or a complete, sound candle row.

    A row is whole when it has the six fields, an epoch-ms timestamp, finite positive prices
    with open and close inside [low, high], and a volume >= 0. (A row cut inside its volume's
    digits cannot be told from a whole one; the bot's next cycle re-reads that candle from
    the exchange's window anyway.)
    """
    if line == ",".join(CANDLE_COLUMNS).encode("ascii"):
        return True
    fields = line.split(b",")
    if len(fields) != len(CANDLE_COLUMNS) or not fields[0].strip().isdigit():
        return False
    try:
        op, hi, lo, cl, vol = (float(f) for f in fields[1:])
    except ValueError:
        return False
    if not all(math.isfinite(v) for v in (op, hi, lo, cl, vol)):
        return False
    return 0 < lo <= min(op, cl) and max(op, cl) <= hi and vol >= 0


def repair_partial_tail(path: str | Path) -> bool:
    """Cut a partial last line (no trailing newline) left by a killed writer; True if cut.

    A complete row that only lacks its newline is kept (the newline is added), with a warning.
    """
    outcome, line = repair_tail(path, candle_line_is_whole)
    if outcome == COMPLETED:
        log.warning("%s: the last candle row lacked its line end; kept it and added one: %r",
                    path, line.decode("utf-8", "replace"))
    return outcome == CUT


def _aside_path(path: Path) -> Path:
    """A free ``<name>.corrupt-<UTC stamp>[-n]`` name next to ``path``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = path.with_name(f"{path.name}.corrupt-{stamp}")
    aside, counter = base, 1
    while aside.exists():
        aside = base.with_name(f"{base.name}-{counter}")
        counter += 1
    return aside


def quarantine_if_damaged(path: str | Path) -> Path | None:
    """Check a candle file at start; move it aside when damaged and return the new name.

    A partial last line (a killed append) is the one damage repaired in place, as
    ``append_candles`` would. Anything else ``read_candles`` refuses (a malformed or
    out-of-order row, a missing column, bytes that are not text) means the file can no longer
    be trusted as a whole: it is renamed to ``<name>.corrupt-<UTC stamp>`` (never overwritten
    or deleted), a one-line WARNING says why and where it went, and the caller starts a fresh
    file. Returns None when the file is absent, empty or sound. OSError (e.g. no read
    permission) propagates: that is not damage and moving the file would not fix it.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if repair_partial_tail(path):
        log.warning("%s: cut a partial last line left by an interrupted write", path)
    if path.stat().st_size == 0:
        return None
    try:
        read_candles(path)
    except CandleFileError as exc:
        aside = _aside_path(path)
        os.replace(path, aside)
        reason = str(exc).removeprefix(f"{path} ").removeprefix(f"{path}: ")
        log.warning("%s is damaged (%s); kept it as %s and starting a fresh candle file",
                    path, reason, aside.name)
        return aside
    return None
