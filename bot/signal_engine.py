"""The bot's signal on each closed candle, equal to ``signals`` over the stored candle file.

``python main.py signals --data data/historical_data.csv`` computes a strategy over the whole
file. The bot must give, for every candle it acts on, exactly (bit for bit) that candle's
signal, so the engine follows the candle file, not the exchange's window: after each append it
reads the rows added since it last looked (from a byte offset) with the same CSV parser as
``read_candles`` and feeds them, one bar at a time, to the strategy's incremental form
(``strategies.incremental``). The per-candle cost does not grow with the file.

Its state (the file offset, the last row it consumed, every indicator's recursive state) is a
JSON checkpoint the runner saves in the state file with each candle. On start the checkpoint
is used only if it still fits the file (same strategy and parameters, same first row, the
checkpoint's last row at its offset); otherwise, or after anything unexpected in the file,
the engine rebuilds from the whole file with the vectorised indicators (about a second per
million candles). A strategy without an incremental form is recomputed over the whole stored
file every candle: exact, at a cost growing with the file.

``RunRecord`` keeps, in the same state file, which candles the bot acted on and with which
rules, so ``audit`` can tell a missed signal from one that closed while the bot was down.
See docs/decisions/0110-live-signals-equal-stored-history.md.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS, candle_problem
from storage.candles import read_candles
from storage.trades import format_utc
from strategies.incremental import IncrementalStrategy, incremental_for

log = logging.getLogger("paperbot")

CHECKPOINT_KEY = "signal_engine"
RUN_RECORD_KEY = "run_record"
CHECKPOINT_VERSION = 1
# Signals of the last rows kept in memory, for a cycle acting on a candle just behind the end.
RECENT_ROWS = 1000
# Intervals of acted-on candles kept in the state file (one per start or outage).
MAX_INTERVALS = 500


class SignalEngineError(Exception):
    """The engine cannot give the signal asked for; the message is one line."""


def _first_line(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.readline()


def _first_data_line(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.readline()
        return handle.readline()


def _complete_size(path: Path) -> int:
    """Bytes up to and including the last newline (a partial last line is not a row)."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        block = min(size, 4096)
        while block:
            handle.seek(size - block)
            tail = handle.read(block)
            cut = tail.rfind(b"\n")
            if cut >= 0:
                return size - block + cut + 1
            if block == size:
                return 0
            block = min(size, block * 2)
    return 0


def _line_before(path: Path, offset: int, length: int) -> bytes:
    if offset < length:
        return b""
    with path.open("rb") as handle:
        handle.seek(offset - length)
        return handle.read(length)


def _last_line(path: Path, offset: int) -> bytes:
    """The complete line ending at byte ``offset`` (which follows a newline)."""
    block = min(offset, 512)
    while True:
        tail = _line_before(path, offset, block)
        start = tail.rfind(b"\n", 0, len(tail) - 1)
        if start >= 0 or block == offset:
            return tail[start + 1:]
        block = min(offset, block * 2)


# A plain decimal of at most 15 digits: pandas' C parser (precise_xstrtod) reads them into an
# exact integer and divides once by an exact power of ten, which is correctly rounded, i.e.
# exactly Python's float(). Longer tokens are not always read as float() reads them (17-digit
# reprs differ in about one case in five), so they go through pandas itself.
_PLAIN = re.compile(rb"\d{1,15}(?:\.\d{1,15})?")


def _plain_float(token: bytes) -> float | None:
    if not _PLAIN.fullmatch(token) or len(token) - (b"." in token) > 15:
        return None
    return float(token)


Row = tuple[int, float, float, float, float, float]


def _fast_rows(header: bytes, body: bytes) -> list[Row] | None:
    """``parse_rows`` for the bot's own plain rows without pandas (None: not plain)."""
    if header.rstrip(b"\r\n") != b",".join(c.encode() for c in CANDLE_COLUMNS):
        return None
    rows: list[Row] = []
    previous = None
    for line in body.split(b"\n"):
        if not line:
            continue
        fields = line.split(b",")
        if len(fields) != len(CANDLE_COLUMNS) or not fields[0].isdigit():
            return None
        parsed = [_plain_float(f) for f in fields[1:]]
        values = [v for v in parsed if v is not None]
        if len(values) != len(parsed):
            return None
        op, hi, lo, cl, vol = values
        ts = int(fields[0])
        if not (0 < lo <= hi and lo <= op <= hi and lo <= cl <= hi and vol >= 0):
            return None
        if previous is not None and ts <= previous:
            return None
        previous = ts
        rows.append((ts, op, hi, lo, cl, vol))
    return rows or None


def _frame_of(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=CANDLE_COLUMNS)
    frame["timestamp"] = frame["timestamp"].astype("int64")
    return frame


def _rows_of(frame: pd.DataFrame) -> list[Row]:
    return list(frame[CANDLE_COLUMNS].itertuples(index=False, name=None))


def parse_rows(header: bytes, body: bytes) -> pd.DataFrame | None:
    """Candle rows of a CSV chunk, parsed exactly as ``read_candles`` parses them.

    Plain rows (the bot's own) are read directly (see ``_PLAIN``); others by the same pandas
    C parser over the same text, which gives the same floats. None when the chunk is anything
    but valid candles with epoch-ms timestamps (the caller then rebuilds from the whole file
    through ``read_candles`` itself).
    """
    fast = _fast_rows(header, body)
    if fast is not None:
        return _frame_of(fast)
    return _pandas_rows(header, body)


def _pandas_rows(header: bytes, body: bytes) -> pd.DataFrame | None:
    """``parse_rows`` through pandas' C parser, as ``read_candles`` reads the file."""
    try:
        raw = pd.read_csv(io.BytesIO(header + body), usecols=lambda c: c in CANDLE_COLUMNS,
                          engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        return None
    if set(raw.columns) != set(CANDLE_COLUMNS):
        return None
    if not pd.api.types.is_integer_dtype(raw["timestamp"]):
        return None
    frame = pd.DataFrame({"timestamp": raw["timestamp"].to_numpy(dtype="int64")})
    for col in CANDLE_COLUMNS[1:]:
        values = raw[col]
        if not (pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values)):
            return None
        frame[col] = values.to_numpy(dtype="float64")
    if candle_problem(frame) is not None:
        return None
    return frame


class SignalEngine:
    """One strategy's signals over one candle file, kept up to date one appended row at a time."""

    def __init__(self, strategy: Any, params: Mapping[str, Any], candles_csv: Path,
                 compute: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
        self.strategy = strategy
        self.params = dict(params)
        # The strategy's whole-series output over a candle frame (the runner's, which passes
        # the market's tick to strategies placing stops); default ``strategy.compute``.
        self.compute = compute or (lambda frame: strategy.compute(frame, self.params))
        self.last_output: pd.DataFrame | None = None  # recompute mode: the last row's output
        self.path = Path(candles_csv)
        self.incremental: IncrementalStrategy | None = incremental_for(strategy.name,
                                                                       self.params)
        self.offset: int | None = None  # None: not built yet
        self.rows = 0
        self.last_ts: int | None = None
        self.header = b""
        self.first_line = b""
        self.last_line = b""
        self.frame: pd.DataFrame | None = None  # whole file, for the recompute fallback only
        self.recent: OrderedDict[int, int] = OrderedDict()
        self.rebuilds = 0
        self.resumed = False
        self.rebuild_reason = "first build"

    @property
    def exact_mode(self) -> str:
        """"incremental" or "recompute" (no incremental form: whole file every candle)."""
        return "incremental" if self.incremental is not None else "recompute"

    # -- checkpoint -----------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any] | None:
        """The JSON-ready state to save with the state file (None before the first build)."""
        if self.offset is None:
            return None
        return {
            "version": CHECKPOINT_VERSION,
            "strategy": self.strategy.name,
            "params": self.params,
            "offset": self.offset,
            "rows": self.rows,
            "last_ts": self.last_ts,
            "header": self.header.decode("utf-8", "replace"),
            "first_line": self.first_line.decode("utf-8", "replace"),
            "last_line": self.last_line.decode("utf-8", "replace"),
            "last_signal": None if self.last_ts is None else self.recent.get(self.last_ts),
            "state": None if self.incremental is None else self.incremental.state(),
        }

    def restore(self, saved: Any) -> str | None:
        """Resume from a saved checkpoint; None when it fits, else why it was not used."""
        why = self._restore(saved)
        if why is not None:
            self.rebuild_reason = why
            self.offset = None
            self.incremental = incremental_for(self.strategy.name, self.params)
        else:
            self.resumed = True
        return why

    def _restore(self, saved: Any) -> str | None:
        if not isinstance(saved, dict):
            return "no checkpoint"
        if saved.get("version") != CHECKPOINT_VERSION:
            return "checkpoint of another version"
        if saved.get("strategy") != self.strategy.name or saved.get("params") != self.params:
            return "checkpoint of another strategy or parameters"
        if self.incremental is None:
            return "strategy recomputed over the whole file"
        try:
            offset, rows = int(saved["offset"]), int(saved["rows"])
            last_ts = saved["last_ts"]
            header = str(saved["header"]).encode("utf-8")
            first_line = str(saved["first_line"]).encode("utf-8")
            last_line = str(saved["last_line"]).encode("utf-8")
            if not self.path.is_file() or _complete_size(self.path) < offset:
                return "the candle file is shorter than at the checkpoint"
            if _first_line(self.path) != header or _first_data_line(self.path) != first_line:
                return "the candle file starts differently than at the checkpoint"
            if _line_before(self.path, offset, len(last_line)) != last_line:
                return "the candle file's row at the checkpoint changed"
            self.incremental.load(saved["state"])
        except (KeyError, TypeError, ValueError, OSError) as exc:
            return f"unusable checkpoint ({type(exc).__name__}: {exc})"
        self.offset, self.rows, self.last_ts = offset, rows, int(last_ts)
        self.header, self.first_line, self.last_line = header, first_line, last_line
        signal = saved.get("last_signal")
        self.recent.clear()
        if isinstance(signal, int):
            self.recent[self.last_ts] = signal
        return None

    # -- following the file ---------------------------------------------------------------

    def sync(self) -> list[tuple[int, int]]:
        """Consume the rows appended since the last call; their (timestamp, signal) pairs.

        A rebuild (first call, or the file no longer continuing what was consumed) returns
        only the last row's pair.
        """
        if self.offset is None:
            return self.rebuild(self.rebuild_reason)
        size = _complete_size(self.path) if self.path.is_file() else 0
        if size < self.offset:
            return self.rebuild("the candle file became shorter")
        if _line_before(self.path, self.offset, len(self.last_line)) != self.last_line:
            return self.rebuild("the candle file's last consumed row changed")
        if size == self.offset:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            body = handle.read(size - self.offset)
        new = _fast_rows(self.header, body)
        if new is None:
            parsed = _pandas_rows(self.header, body)
            new = None if parsed is None or parsed.empty else _rows_of(parsed)
        if new is None or (self.last_ts is not None and new[0][0] <= self.last_ts):
            return self.rebuild("unexpected rows in the candle file")
        pairs = self._feed(new)
        self.offset = size
        self.rows += len(new)
        self.last_ts = int(new[-1][0])
        self.last_line = body[body.rfind(b"\n", 0, len(body) - 1) + 1:]
        return pairs

    def _feed(self, new: list[Row]) -> list[tuple[int, int]]:
        stamps = [int(row[0]) for row in new]
        if self.incremental is not None:
            update = self.incremental.update_bar
            signals = [update(float(row[1]), float(row[2]), float(row[3]), float(row[4]))
                       for row in new]
        else:
            assert self.frame is not None
            self.frame = pd.concat([self.frame, _frame_of(new)], ignore_index=True)
            signals = self._compute(self.frame)[-len(new):].tolist()
        pairs = list(zip(stamps, (int(s) for s in signals), strict=True))
        self._remember(pairs)
        return pairs

    def _compute(self, frame: pd.DataFrame) -> np.ndarray:
        output = self.compute(frame)
        self.last_output = output.iloc[-1:].reset_index(drop=True) if len(output) else None
        return output["signal"].to_numpy()

    def rebuild(self, reason: str) -> list[tuple[int, int]]:
        """Recompute everything from the whole candle file (the same reader as ``signals``)."""
        self.rebuilds += 1
        self.recent.clear()
        self.incremental = incremental_for(self.strategy.name, self.params)
        self.frame = None
        if not self.path.is_file() or _complete_size(self.path) == 0:
            self.offset, self.rows, self.last_ts = 0, 0, None
            self.header = self.first_line = self.last_line = b""
            return []
        size = _complete_size(self.path)
        frame = read_candles(self.path)
        self.header, self.first_line = _first_line(self.path), _first_data_line(self.path)
        self.offset, self.rows = size, len(frame)
        self.last_line = _last_line(self.path, size)
        if frame.empty:
            self.last_ts = None
            self.frame = frame if self.incremental is None else None
            return []
        signals = self._compute(frame)
        if self.incremental is not None:
            self.incremental.warm_bars(frame)
        else:
            self.frame = frame
        self.last_ts = int(frame["timestamp"].iat[-1])
        stamps = frame["timestamp"].to_numpy()[-RECENT_ROWS:].tolist()
        self._remember(list(zip(stamps, signals[-RECENT_ROWS:].tolist(), strict=True)))
        log.info("Signals: %s rebuilt from %d stored candles (%s)", self.strategy.name,
                 len(frame), reason)
        return [(self.last_ts, int(signals[-1]))]

    def _remember(self, pairs: list[tuple[int, int]]) -> None:
        for ts, signal in pairs:
            self.recent[int(ts)] = int(signal)
        while len(self.recent) > RECENT_ROWS:
            self.recent.popitem(last=False)

    def signal_at(self, candle_ms: int) -> int:
        """The signal of the stored candle that opened at ``candle_ms`` (after a ``sync``)."""
        self.sync()
        if candle_ms not in self.recent:
            raise SignalEngineError(
                f"candle {candle_ms} is not among the last stored candles of {self.path};"
                " its signal cannot be given")
        return self.recent[candle_ms]

    def output_at(self, candle_ms: int) -> pd.DataFrame:
        """The strategy's output row for stored candle ``candle_ms`` as a one-row frame:
        ``signal`` only when incremental, every column (stop-entry orders too) when
        recomputed, where it must be the file's last candle."""
        signal = self.signal_at(candle_ms)
        if (self.incremental is None and self.last_output is not None
                and candle_ms == self.last_ts):
            return self.last_output
        return pd.DataFrame({"signal": np.array([signal], dtype=np.int8)})


class RunRecord:
    """Which candles the bot acted on, as intervals of consecutive candles, and its rules.

    Saved in the state file; ``audit`` uses it to tell "missed" from "the bot was down".
    """

    def __init__(self, timeframe_ms: int, rules: Mapping[str, Any],
                 saved: Any = None) -> None:
        self.timeframe_ms = int(timeframe_ms)
        self.rules = dict(rules)
        self.rule_sets: list[dict[str, Any]] = []
        self.intervals: list[list[int]] = []
        if isinstance(saved, dict):
            try:
                self.rule_sets = [dict(r) for r in saved["rules"]]
                self.intervals = [[int(a), int(b), int(k)] for a, b, k in saved["intervals"]]
            except (KeyError, TypeError, ValueError):
                self.rule_sets, self.intervals = [], []
        if self.rules not in self.rule_sets:
            self.rule_sets.append(self.rules)
        self.rule_index = self.rule_sets.index(self.rules)
        self._continuing = False

    def note(self, candle_ms: int) -> None:
        """Record that the bot acted on the candle that opened at ``candle_ms``."""
        ms = int(candle_ms)
        last = self.intervals[-1] if self.intervals else None
        if (last is not None and self._continuing and last[2] == self.rule_index
                and ms == last[1] + self.timeframe_ms):
            last[1] = ms
        elif last is None or ms > last[1]:
            self.intervals.append([ms, ms, self.rule_index])
            del self.intervals[:-MAX_INTERVALS]
        self._continuing = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the state file."""
        return {"timeframe_ms": self.timeframe_ms, "rules": self.rule_sets,
                "intervals": self.intervals}


class LiveSignals:
    """What the runner calls once per cycle: the signal, the checkpoint and the run record."""

    def __init__(self, engine: SignalEngine, record: RunRecord) -> None:
        self.engine = engine
        self.record = record

    @classmethod
    def from_state(cls, strategy: Any, params: Mapping[str, Any], candles_csv: Path,
                   extra: Mapping[str, Any], *, timeframe_ms: int,
                   rules: Mapping[str, Any],
                   compute: Callable[[pd.DataFrame], pd.DataFrame] | None = None
                   ) -> LiveSignals:
        """An engine resumed from the state file's checkpoint when it still fits the file."""
        engine = SignalEngine(strategy, params, candles_csv, compute)
        why = engine.restore(extra.get(CHECKPOINT_KEY))
        if why is None:
            log.info("Signals: %s resumed from the checkpoint at candle %s (%d stored rows)",
                     strategy.name, format_utc(engine.last_ts or 0), engine.rows)
        elif engine.exact_mode == "recompute":
            log.info("Signals: %s has no incremental form; recomputed over the whole candle"
                     " file every candle", strategy.name)
        all_rules = {"strategy": strategy.name, "params": dict(params), **dict(rules)}
        record = RunRecord(timeframe_ms, all_rules, extra.get(RUN_RECORD_KEY))
        return cls(engine, record)

    def on_candle(self, candle_ms: int, extra: dict[str, Any]) -> pd.DataFrame:
        """The output row (``signal``, and a stop-entry strategy's orders) of stored candle
        ``candle_ms``; notes it as acted on and puts the checkpoint and run record into
        ``extra`` (the state the position manager saves next)."""
        output = self.engine.output_at(candle_ms)
        self.record.note(candle_ms)
        extra[CHECKPOINT_KEY] = self.engine.checkpoint()
        extra[RUN_RECORD_KEY] = self.record.to_dict()
        return output
