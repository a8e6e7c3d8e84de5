"""Every candle file layout a user brings, read into the one candle frame (``core.candles``).

``read_any(path)`` is the single reader behind ``backtest``, ``signals``, ``compare``,
``optimize``, ``--replay``, ``emulator --replay`` and ``import``. It recognises:

* the project's CSV (``timestamp,open,high,low,close,volume``; epoch ms or ISO 8601), read by
  ``storage.candles.read_candles`` so its checks and messages stay the bot's own;
* a TradingView chart export (``time,open,high,low,close[,Volume][,indicator columns]``, Unix
  seconds or ISO dates with offsets);
* freqtrade's data files: ``.feather`` (and ``.parquet``) with a ``date`` column, and ``.json``
  / ``.json.gz`` lists of ``[ms, open, high, low, close, volume]``;
* Binance's public kline CSVs (headerless, 12 columns, or with an ``open_time`` header), open
  times in milliseconds or microseconds (Binance switched spot files to microseconds in 2025);
* ``Date,Open,High,Low,Close,Volume`` style headers in any letter case, ISO dates, ``,`` ``;``
  or tab delimited (a ``;`` file may use decimal commas).

Numeric times are read per value by magnitude (seconds, ms, µs, ns cannot be confused for any
date between 1973 and 2286), so a file that joins ms and µs months still reads right. After the
layout, the time line is checked: candles of mixed timeframes are refused in one line; gaps are
allowed (exchanges have outages) and reported as one note line.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS, CandleFileError, candle_problem

PROJECT_LAYOUT = "project CSV"
TRADINGVIEW_LAYOUT = "TradingView chart export"
BINANCE_LAYOUT = "Binance kline CSV"
FREQTRADE_JSON_LAYOUT = "freqtrade json"
FREQTRADE_FEATHER_LAYOUT = "freqtrade feather"
PARQUET_LAYOUT = "parquet"
HEADER_LAYOUT = "Date,Open,High,Low,Close,Volume CSV"

TIME_NAMES = ("timestamp", "time", "date", "datetime", "open_time", "open time", "opentime",
              "date/time", "date_time", "unix", "time (utc)", "date (utc)")
PRICE_NAMES = {"open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"),
               "close": ("close", "c")}
BINANCE_COLUMNS = 12
# A step other than the timeframe repeated this often in a row is a second timeframe.
MIXED_RUN = 20
HINT = ("expected the project's CSV (timestamp,open,high,low,close,volume), a TradingView chart"
        " export, a freqtrade .feather/.json, a Binance kline CSV or Date,Open,High,Low,Close,"
        "Volume")


@dataclass(frozen=True)
class CandleSource:
    """What a candle file turned out to be: its layout, timeframe and one-line notes."""

    path: Path
    layout: str
    rows: int
    timeframe_ms: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def timeframe(self) -> str | None:
        """The timeframe as Binance writes it (``1m``, ``5m``, ``1h``...), or None."""
        return None if self.timeframe_ms is None else timeframe_label(self.timeframe_ms)


def timeframe_label(ms: int) -> str:
    """``300000`` -> ``5m``; ``3600000`` -> ``1h``; odd steps in seconds (``90s``)."""
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000),
                       ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _utc(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


# --- time values ------------------------------------------------------------------------

def epoch_ms_from_numbers(values: np.ndarray) -> np.ndarray:
    """Epoch ms from epoch seconds, ms, µs or ns, decided per value by its magnitude."""
    values = np.asarray(values, dtype="float64")
    magnitude = np.abs(values)
    scale = np.select(
        [magnitude < 1e11, magnitude < 1e14, magnitude < 1e17],
        [1000.0, 1.0, 1e-3], default=1e-6)
    return np.round(values * scale).astype("int64")


def _times_ms(raw: pd.Series, where: Callable[[int], str], name: str) -> np.ndarray:
    """Epoch ms from a column of numbers (any unit), datetimes or date strings."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        series = raw if getattr(raw.dt, "tz", None) is not None else raw.dt.tz_localize("UTC")
        return series.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype="float64")
        bad = np.isnan(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CandleFileError(f"{where(row)}: {name} is empty; fix or remove that row")
        return epoch_ms_from_numbers(values)
    text = raw.astype(str)
    fixed = _fixed_offset_ms(text)
    if fixed is not None:
        return fixed
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        text = text.str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        numeric = pd.to_numeric(text, errors="coerce")
        if numeric.notna().all():
            return epoch_ms_from_numbers(numeric.to_numpy(dtype="float64"))
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise CandleFileError(
            f"{where(row)}: {name} {raw.iloc[row]!r} is not a date this reader knows; use ISO"
            " 8601 (2024-01-31 or 2024-01-31T12:00:00Z) or epoch seconds/milliseconds")
    return parsed.dt.as_unit("ms").astype("int64").to_numpy()


OFFSET_DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def _fixed_offset_ms(text: pd.Series) -> np.ndarray | None:
    """Epoch ms of ``2024-01-01T09:00:00-05:00`` strings, or None when they are not all so.

    TradingView writes every time with its offset, which changes with daylight saving; pandas
    parses mixed offsets one by one (10 s a million), this slices them instead.
    """
    if not len(text) or not OFFSET_DATE.fullmatch(text.iloc[0]) or not OFFSET_DATE.fullmatch(
            text.iloc[-1]):
        return None
    try:
        raw = np.asarray(text.to_numpy(dtype=str), dtype="S25")
        naive = raw.astype("S19").astype("datetime64[s]")
    except (ValueError, UnicodeEncodeError):
        return None
    digits = raw.view(np.uint8).reshape(-1, 25).astype(np.int64) - ord("0")
    if not ((raw.view(np.uint8).reshape(-1, 25)[:, 22] == ord(":")).all()):
        return None
    signs = raw.view(np.uint8).reshape(-1, 25)[:, 19]
    if not np.isin(signs, (ord("+"), ord("-"))).all():
        return None
    offset_min = (digits[:, 20] * 10 + digits[:, 21]) * 60 + digits[:, 23] * 10 + digits[:, 24]
    sign = np.where(signs == ord("-"), -1, 1)
    return naive.astype("int64") * 1000 - sign * offset_min * 60_000


def _numbers(raw: pd.Series, where: Callable[[int], str], name: str) -> np.ndarray:
    """A float column; a ``;`` file's decimal commas are accepted."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype="float64")
    text = raw.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.isna().any():
        numeric = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    bad = numeric.isna() & raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CandleFileError(
            f"{where(row)}: {name} {raw.iloc[row]!r} is not a number; fix or remove that row")
    return numeric.to_numpy(dtype="float64")


def _frame(times: np.ndarray, columns: dict[str, pd.Series], where: Callable[[int], str]
           ) -> pd.DataFrame:
    """The checked candle frame from epoch ms and the price/volume columns."""
    frame = pd.DataFrame({"timestamp": np.asarray(times, dtype="int64")})
    for col in CANDLE_COLUMNS[1:]:
        raw = columns.get(col)
        frame[col] = 0.0 if raw is None else _numbers(raw, where, col)
    problem = candle_problem(frame)
    if problem is not None:
        row, reason = problem
        raise CandleFileError(f"{where(row)}: {reason}; fix or remove that row")
    return frame


# --- layouts ----------------------------------------------------------------------------

def _sniff(path: Path) -> tuple[str, list[str], str]:
    """The delimiter, the first line's fields and the decimal mark of a text file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
            second = handle.readline()
    except UnicodeDecodeError:
        raise CandleFileError(f"{path}: not a text file; {HINT}") from None
    if not first.strip():
        raise CandleFileError(f"{path}: the file is empty or starts with a blank line; {HINT}")
    delimiter = max((",", ";", "\t"), key=first.count)
    fields = [f.strip().strip('"').strip() for f in first.rstrip("\r\n").split(delimiter)]
    # A ";" file from a spreadsheet in a comma-decimal locale writes 1234,56.
    decimal = "," if delimiter == ";" and re.search(r"\d,\d", second) else "."
    return delimiter, fields, decimal


def _is_number(text: str) -> bool:
    return re.fullmatch(r"[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?", text) is not None


def _pick(lower: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _header_columns(fields: list[str]) -> dict[str, str] | None:
    """Map candle fields to the file's column names, or None when a needed one is missing."""
    lower: dict[str, str] = {}
    for name in fields:
        lower.setdefault(name.lower(), name)
    found = {"timestamp": _pick(lower, TIME_NAMES)}
    for col, names in PRICE_NAMES.items():
        found[col] = _pick(lower, names)
    volume = _pick(lower, ("volume", "vol", "base_volume", "volume_base"))
    if volume is None:  # e.g. CryptoDataDownload's "Volume BTC" before "Volume USDT"
        volume = next((n for n in fields if n.lower().startswith("volume ")), None)
    if any(v is None for v in found.values()):
        return None
    columns = {k: v for k, v in found.items() if v is not None}
    if volume is not None:
        columns["volume"] = volume
    return columns


def _read_text(path: Path) -> tuple[pd.DataFrame, str]:
    delimiter, fields, decimal = _sniff(path)
    if set(CANDLE_COLUMNS) <= set(fields) and delimiter == ",":
        from storage.candles import read_candles

        frame = read_candles(path)
        stamps = frame["timestamp"].to_numpy()
        if len(stamps) and np.abs(stamps).max() < 1e11:  # epoch seconds, not milliseconds
            frame["timestamp"] = epoch_ms_from_numbers(stamps)
        return frame, PROJECT_LAYOUT
    if all(_is_number(f) for f in fields):
        return _read_headerless(path, delimiter, len(fields), decimal)
    columns = _header_columns(fields)
    if columns is None:
        lower = {f.lower() for f in fields}
        known = [c for c in ("open", "high", "low", "close") if c in lower]
        has_time = any(name in lower for name in TIME_NAMES)
        if has_time + len(known) >= 2:
            missing = [c for c in ("time", "open", "high", "low", "close")
                       if (c == "time" and not has_time) or (c != "time" and c not in known)]
            raise CandleFileError(
                f"{path}: missing column(s) {', '.join(missing)}; the header must name a time"
                " column and open,high,low,close (e.g. timestamp,open,high,low,close,volume)")
        shown = delimiter.join(fields)[:80]
        raise CandleFileError(
            f"{path}: unknown candle layout (header {shown!r} has no time/open/high/low/close"
            f" columns); {HINT}")
    try:
        raw = pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", decimal=decimal,
                          usecols=lambda c: c.strip().strip('"') in columns.values(),
                          skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CandleFileError(f"{path}: not a readable CSV ({first})") from None
    raw.columns = [c.strip().strip('"') for c in raw.columns]
    layout = HEADER_LAYOUT
    if columns["timestamp"] == "time":
        layout = TRADINGVIEW_LAYOUT
    elif columns["timestamp"].lower() in ("open_time", "open time"):
        layout = BINANCE_LAYOUT

    def where(row: int) -> str:
        return f"{path} line {row + 2}"

    times = _times_ms(raw[columns["timestamp"]], where, columns["timestamp"])
    return _frame(times, {k: raw[v] for k, v in columns.items() if k != "timestamp"},
                  where), layout


def _read_headerless(path: Path, delimiter: str, count: int, decimal: str = "."
                     ) -> tuple[pd.DataFrame, str]:
    if count not in (BINANCE_COLUMNS, 6):
        raise CandleFileError(
            f"{path}: unknown candle layout (no header and {count} columns; a Binance kline"
            f" file has {BINANCE_COLUMNS}); add the header timestamp,open,high,low,close,volume")
    try:
        raw = pd.read_csv(path, sep=delimiter, header=None, usecols=range(6), decimal=decimal)
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CandleFileError(f"{path}: not a readable CSV ({first})") from None

    def where(row: int) -> str:
        return f"{path} line {row + 1}"

    times = _times_ms(raw[0], where, "open time")
    names = dict(zip(CANDLE_COLUMNS[1:], range(1, 6), strict=True))
    layout = BINANCE_LAYOUT if count == BINANCE_COLUMNS else HEADER_LAYOUT
    return _frame(times, {k: raw[v] for k, v in names.items()}, where), layout


def _json_loads(blob: bytes):
    """JSON from bytes: orjson (a ccxt dependency, 7x faster on a million rows) or json."""
    try:
        import orjson
    except ImportError:
        return json.loads(blob)
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


def _read_json(path: Path) -> tuple[pd.DataFrame, str]:
    opener = gzip.open if path.name.endswith((".gz", ".jsongz")) else open
    try:
        with opener(path, "rb") as handle:
            data = _json_loads(handle.read())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CandleFileError(f"{path}: not a readable JSON candle file ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(r, list) and len(r) >= 6 for r in data):
        raise CandleFileError(
            f"{path}: unknown candle layout (freqtrade json is a list of [ms, open, high, low,"
            " close, volume] rows)")
    if not data:
        raise CandleFileError(f"{path}: the file holds no candle")
    try:
        raw = pd.DataFrame(np.array(data, dtype="float64")[:, :6])
    except (TypeError, ValueError):  # a value that is not a number: found per row below
        raw = pd.DataFrame([r[:6] for r in data])

    def where(row: int) -> str:
        return f"{path} row {row + 1}"

    times = _times_ms(raw[0], where, "date")
    names = dict(zip(CANDLE_COLUMNS[1:], range(1, 6), strict=True))
    return _frame(times, {k: raw[v] for k, v in names.items()}, where), FREQTRADE_JSON_LAYOUT


def _read_columnar(path: Path, parquet: bool) -> tuple[pd.DataFrame, str]:
    try:
        raw = pd.read_parquet(path) if parquet else pd.read_feather(path)
    except ImportError:
        raise CandleFileError(
            f"{path}: reading {path.suffix} files needs pyarrow; install the requirements"
            " (.venv/bin/pip install -r requirements.txt)") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CandleFileError(f"{path}: not a readable {path.suffix} file ({first})") from None
    if isinstance(raw.index, pd.DatetimeIndex) and "date" not in raw.columns:
        raw = raw.reset_index(names="date")
    columns = _header_columns([str(c) for c in raw.columns])
    if columns is None:
        raise CandleFileError(
            f"{path}: unknown candle layout (columns {', '.join(map(str, raw.columns))[:80]});"
            " freqtrade files have date,open,high,low,close,volume")

    def where(row: int) -> str:
        return f"{path} row {row + 1}"

    times = _times_ms(raw[columns["timestamp"]], where, columns["timestamp"])
    layout = PARQUET_LAYOUT if parquet else FREQTRADE_FEATHER_LAYOUT
    return _frame(times, {k: raw[v] for k, v in columns.items() if k != "timestamp"},
                  where), layout


# --- the time line ----------------------------------------------------------------------

def timeframe_of(stamps: np.ndarray) -> int | None:
    """The most common step between candle open times (ms), or None for fewer than 2."""
    stamps = np.asarray(stamps, dtype="int64")
    if len(stamps) < 2:
        return None
    steps, counts = np.unique(np.diff(stamps), return_counts=True)
    return int(steps[np.argmax(counts)])


def time_line_notes(stamps: np.ndarray, path: Path | str) -> tuple[int | None, tuple[str, ...]]:
    """The timeframe and the gap note of a candle time line; CandleFileError when mixed.

    Mixed: a step that is not a whole multiple of the timeframe (the most common step), or
    another step repeated ``MIXED_RUN`` times in a row (a second timeframe, not an outage or a
    weekend).
    """
    stamps = np.asarray(stamps, dtype="int64")
    step = timeframe_of(stamps)
    if step is None:
        return None, ()
    diffs = np.diff(stamps)
    odd = np.flatnonzero(diffs % step != 0)
    row = int(odd[0]) + 1 if odd.size else None
    if row is None:
        # Runs of one repeated step: outages and weekends never repeat MIXED_RUN times in a row.
        starts = np.flatnonzero(np.concatenate(([True], diffs[1:] != diffs[:-1])))
        lengths = np.diff(np.concatenate((starts, [len(diffs)])))
        long_other = np.flatnonzero((lengths >= MIXED_RUN) & (diffs[starts] != step))
        if long_other.size:
            row = int(starts[long_other[0]]) + 1
    if row is not None:
        other = int(diffs[row - 1])
        raise CandleFileError(
            f"{path}: mixed timeframes: most candles are {timeframe_label(step)} apart but the"
            f" one at {_utc(int(stamps[row]))} comes {timeframe_label(other)} after the previous;"
            " keep one timeframe per file (split it, or resample it to the larger timeframe)")
    gaps = np.flatnonzero(diffs > step)
    if not gaps.size:
        return step, ()
    missing = int((diffs[gaps] // step - 1).sum())
    worst = int(gaps[np.argmax(diffs[gaps])])
    note = (f"{path}: {gaps.size:,} gap(s) in the {timeframe_label(step)} candles,"
            f" {missing:,} candle(s) missing; the longest {timeframe_label(int(diffs[worst]))}"
            f" after {_utc(int(stamps[worst]))}")
    return step, (note,)


# --- entry points -----------------------------------------------------------------------

def read_candle_source(path: str | Path) -> tuple[pd.DataFrame, CandleSource]:
    """The candle frame of any known layout and what the file turned out to be.

    Raises CandleFileError with one line (file, line or row, what to fix) for a missing file,
    an unknown layout, a bad value, a broken candle rule or mixed timeframes.
    """
    path = Path(path)
    if not path.is_file():
        raise CandleFileError(f"{path}: no such candle file; check the path")
    name = path.name.lower()
    if name.endswith((".feather", ".arrow", ".ipc")):
        frame, layout = _read_columnar(path, parquet=False)
    elif name.endswith(".parquet"):
        frame, layout = _read_columnar(path, parquet=True)
    elif name.endswith((".json", ".json.gz", ".jsongz")):
        frame, layout = _read_json(path)
    else:
        frame, layout = _read_text(path)
    if frame.empty:
        raise CandleFileError(f"{path}: the file holds no candle")
    step, notes = time_line_notes(frame["timestamp"].to_numpy(), path)
    return frame, CandleSource(path, layout, len(frame), step, notes)


def read_any(path: str | Path, *, note: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The candle frame of any known layout (see the module doc); CandleFileError otherwise.

    ``note`` receives each one-line note (gaps) when given; commands print them to stderr.
    """
    frame, source = read_candle_source(path)
    for line in source.notes:
        if note is not None:
            note(line)
    return frame


def stderr_note(command: str) -> Callable[[str], None]:
    """A ``note`` callback printing ``<command>: note: <line>`` to stderr."""
    import sys

    def note(line: str) -> None:
        print(f"{command}: note: {line}", file=sys.stderr)

    return note
