"""The trades journal: one CSV row per filled order, never lost and never duplicated.

Columns: the nine the task names, in order, then extras that explain each row (fees, why a
position was closed, requested against filled price, ids, strategy). Each row is one whole
line written in a single ``write`` and fsynced, so a killed process can leave at most one
partial last line; before every append (and when the journal is opened) such a line is cut,
unless it is a complete, parseable row that only lacks its newline, which is kept. An append
that fails (a full disk) is cut back, so the file holds whole rows only.

An order is identified by our own client order id (unique per bot and order, see decision
0091); the exchange's order id is data, since an exchange whose ids start again (a restarted
emulator, a testnet reset) reuses it. Appending a client id already in the file is refused
with a warning showing both rows, which makes re-journaling after a crash harmless.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TradeJournalError
from core.formatting import format_number, format_utc
from core.lognames import EVENTS_LOGGER
from storage.atomic import (
    COMPLETED,
    CUT,
    append_whole,
    fsync_dir,
    move_aside,
    repair_tail,
)

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = [
    "timestamp", "order_id", "side", "entry_price", "exit_price", "quantity", "PnL",
    "stop_loss_triggered", "take_profit_triggered",
]
EXTRA_COLUMNS = [
    "fee", "fee_currency", "exit_reason", "requested_price", "filled_price", "client_order_id",
    "signal_candle_time", "strategy", "exchange", "symbol",
]
TRADE_COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS
NUMERIC_COLUMNS = ["entry_price", "exit_price", "quantity", "PnL", "fee", "requested_price",
                   "filled_price"]
BOOLEAN_COLUMNS = ["stop_loss_triggered", "take_profit_triggered"]
TIME_COLUMNS = ["timestamp", "signal_candle_time"]
# Numbers that must be > 0 when present (a price or a filled quantity); the fee must be >= 0.
POSITIVE_COLUMNS = ["entry_price", "exit_price", "quantity", "requested_price", "filled_price"]
SIDES = ("buy", "sell")

log = logging.getLogger(EVENTS_LOGGER)


@dataclass(frozen=True)
class TradeRow:
    """One filled order as journaled. None means "not applicable" and is written as ``""``.

    ``quantity`` is the filled base quantity as the exchange reported it (before fees).
    ``pnl`` is set on the row that closes a position only, net of both fees, in quote.
    """

    timestamp_ms: int
    order_id: str
    side: str
    quantity: float
    entry_price: float | None = None
    exit_price: float | None = None
    pnl: float | None = None
    stop_loss_triggered: bool = False
    take_profit_triggered: bool = False
    fee: float | None = None
    fee_currency: str = ""
    exit_reason: str = ""
    requested_price: float | None = None
    filled_price: float | None = None
    client_order_id: str = ""
    signal_candle_ms: int | None = None
    strategy: str = ""
    exchange: str = ""
    symbol: str = ""

    def to_record(self) -> dict[str, str]:
        """The row as the CSV's column -> text mapping."""
        return {
            "timestamp": format_utc(self.timestamp_ms),
            "order_id": self.order_id,
            "side": self.side,
            "entry_price": format_number(self.entry_price),
            "exit_price": format_number(self.exit_price),
            "quantity": format_number(self.quantity),
            "PnL": format_number(self.pnl),
            "stop_loss_triggered": str(bool(self.stop_loss_triggered)),
            "take_profit_triggered": str(bool(self.take_profit_triggered)),
            "fee": format_number(self.fee),
            "fee_currency": self.fee_currency,
            "exit_reason": self.exit_reason,
            "requested_price": format_number(self.requested_price),
            "filled_price": format_number(self.filled_price),
            "client_order_id": self.client_order_id,
            "signal_candle_time": (
                "" if self.signal_candle_ms is None else format_utc(self.signal_candle_ms)
            ),
            "strategy": self.strategy,
            "exchange": self.exchange,
            "symbol": self.symbol,
        }


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


HEADER_LINE = _csv_line(TRADE_COLUMNS)


def load_rows(path: str | Path) -> list[dict[str, str]]:
    """The complete rows of a journal file as column -> text, without changing the file.

    An unterminated last line (a write in progress, or one a killed writer left) is not a
    row. Raises TradeJournalError for a foreign header or a row with the wrong field count.
    """
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    try:
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TradeJournalError(
            f"{path}: not UTF-8 text (byte {exc.start}); restore the file or move it away"
        ) from None
    if not complete:
        return []
    reader = csv.reader(io.StringIO(complete, newline=""))
    header = next(reader)
    if header != TRADE_COLUMNS:
        raise TradeJournalError(
            f"{path}: unexpected header {','.join(header)[:60]!r}; expected"
            f" {','.join(TRADE_COLUMNS[:3])},...; move the file away or set DATA_DIR to"
            " another folder", damaged=False,
        )
    rows = []
    for line_no, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(TRADE_COLUMNS):
            raise TradeJournalError(f"{path} line {line_no}: {_field_count_advice(len(values))}")
        record = dict(zip(TRADE_COLUMNS, values, strict=True))
        problem = row_problem(record)
        if problem is not None:
            raise TradeJournalError(
                f"{path} line {line_no}: {problem}; correct that value (the exchange's trade"
                " history has the real one)"
            )
        rows.append(record)
    return rows


def _field_count_advice(count: int) -> str:
    expected = len(TRADE_COLUMNS)
    if count > expected:
        # A torn row with a whole row appended to it: removing the line would lose that fill.
        return (f"{count} fields instead of {expected}: a row cut short with the next row"
                " run on after it; split the line before the second row's timestamp (do not"
                " delete it: it holds a real fill)")
    return f"{count} fields instead of {expected}; fix or remove that line"


def _time_ok(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return text[:1].isdigit()


def row_problem(record: dict[str, str]) -> str | None:
    """What is wrong with one journal row's values (one phrase), or None when it is sound.

    Times must be ISO 8601, the side buy or sell, the flags True/False, every number finite,
    prices and quantity above 0 and the fee not negative; blank means "not applicable".
    """
    if not _time_ok(record["timestamp"]):
        return f"timestamp {record['timestamp']!r} is not an ISO 8601 UTC time"
    if record["signal_candle_time"] and not _time_ok(record["signal_candle_time"]):
        return f"signal_candle_time {record['signal_candle_time']!r} is not an ISO 8601 time"
    if record["side"] not in SIDES:
        return f"side {record['side']!r} is not buy or sell"
    for col in BOOLEAN_COLUMNS:
        if record[col] not in ("True", "False"):
            return f"{col} {record[col]!r} is not True or False"
    for col in NUMERIC_COLUMNS:
        text = record[col]
        if text == "" and col != "quantity":
            continue
        try:
            value = float(text)
        except ValueError:
            return f"{col} {text!r} is not a number"
        if not math.isfinite(value):
            return f"{col} {text!r} is not a finite number"
        if col in POSITIVE_COLUMNS and value <= 0:
            return f"{col} {text!r} must be above 0"
        if col == "fee" and value < 0:
            return f"fee {text!r} must not be negative"
    return None


class TradeJournal:
    """Append-only CSV journal of fills at ``path``, idempotent by client order id.

    Opening it repairs the tail (``repair_tail``: a torn last line is cut and shown in a
    warning, counted in ``repaired_lines``; a complete row lacking its newline is kept) and
    checks the header and every row. ``symbol`` is the market of the bot writing it: an
    unterminated last row is complete only if it names a market the journal knows, since a
    row cut inside its last field would otherwise look whole.
    """

    def __init__(self, path: str | Path, symbol: str = "", reserve: Any = None) -> None:
        self.path = Path(path)
        # A DiskReserve: an append failing on a full disk frees it and tries again.
        self.reserve = reserve
        self.repaired_lines = 0
        self._symbols = {symbol} if symbol else set()
        # The rows are needed to know the markets before the tail can be judged.
        self._rows = load_rows(self.path)
        self._symbols |= {r["symbol"] for r in self._rows if r["symbol"]}
        self._repair()
        self._rows = load_rows(self.path)
        self._by_client = {r["client_order_id"]: r for r in self._rows if r["client_order_id"]}
        self._by_order = {(r["exchange"], r["order_id"]): r for r in self._rows
                          if r["order_id"] and not r["client_order_id"]}

    def _tail_is_row(self, line: bytes) -> bool:
        """True when an unterminated last line is a whole, sound row (or the whole header)."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return False
        if text == HEADER_LINE.rstrip("\n"):
            return True
        values = next(csv.reader(io.StringIO(text, newline="")), [])
        if len(values) != len(TRADE_COLUMNS):
            return False
        record = dict(zip(TRADE_COLUMNS, values, strict=True))
        return row_problem(record) is None and record["symbol"] in self._symbols

    def _repair(self) -> None:
        """Make the file end on a whole line; a cut is counted and logged with its text."""
        outcome, line = repair_tail(self.path, self._tail_is_row)
        text = line.decode("utf-8", "replace")
        if outcome == CUT:
            self.repaired_lines += 1
            log.warning("%s: cut a partial last line left by an interrupted write: %r",
                        self.path, text)
        elif outcome == COMPLETED:
            log.warning("%s: the last row lacked its line end; kept it and added one: %r",
                        self.path, text)

    def append(self, row: TradeRow) -> bool:
        """Write ``row`` as one fsynced line; False (and nothing written) for a duplicate.

        A duplicate is a row whose client order id is already in the journal (the same order
        seen again after a crash or a reconcile), or, for a row without one, whose exchange
        and order id are. The refusal is a warning showing both rows.
        """
        record = row.to_record()
        held = self._duplicate_of(record)
        if held is not None:
            log.warning("journal refused a row for an order it already holds (client id %r,"
                        " order id %r): held %s; refused %s", record["client_order_id"],
                        record["order_id"], _brief(held), _brief(record))
            return False
        line = _csv_line([record[c] for c in TRADE_COLUMNS])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        new_file = not self.path.is_file() or self.path.stat().st_size == 0
        data = ((HEADER_LINE if new_file else "") + line).encode("utf-8")
        if self.reserve is None:
            append_whole(self.path, data)
        else:
            self.reserve.write_or_release(lambda: append_whole(self.path, data),
                                          "journaling a fill")
        if new_file:
            fsync_dir(self.path.parent)
        self._rows.append(record)
        if record["symbol"]:
            self._symbols.add(record["symbol"])
        if record["client_order_id"]:
            self._by_client[record["client_order_id"]] = record
        elif record["order_id"]:
            self._by_order[(record["exchange"], record["order_id"])] = record
        return True

    def _duplicate_of(self, record: dict[str, str]) -> dict[str, str] | None:
        if record["client_order_id"]:
            return self._by_client.get(record["client_order_id"])
        if record["order_id"]:
            return self._by_order.get((record["exchange"], record["order_id"]))
        return None

    def client_order_ids(self) -> set[str]:
        """Client order ids already journaled."""
        return set(self._by_client)

    def order_ids(self) -> set[str]:
        """Exchange order ids journaled (data only: an exchange may reuse them)."""
        return {r["order_id"] for r in self._rows if r["order_id"]}

    def rows(self) -> list[dict[str, str]]:
        """Every journaled row as column -> text, oldest first."""
        return [dict(r) for r in self._rows]


def open_journal(path: str | Path, symbol: str = "", reserve: Any = None) -> TradeJournal:
    """The bot's journal; a damaged one is moved aside and TradeJournalError says where.

    The bot then stops (the caller exits 2): the user corrects the copy and moves it back, or
    starts again with a fresh journal. A foreign file (wrong header) is refused, not moved.
    """
    try:
        return TradeJournal(path, symbol=symbol, reserve=reserve)
    except TradeJournalError as exc:
        if not exc.damaged or not Path(path).is_file():
            raise
        aside = move_aside(path)
        raise TradeJournalError(
            f"{exc}. The journal was kept as {aside.name}: correct it there and move it back"
            " before the next start, or start again to begin a fresh journal"
        ) from None


def _brief(record: dict[str, str]) -> str:
    """A journal row in a few words, for a warning."""
    return (f"[{record['timestamp']} {record['side']} {record['quantity']} at"
            f" {record['filled_price'] or record['exit_price'] or record['entry_price']}"
            f" order {record['order_id'] or '-'} on {record['exchange'] or '?'}]")


def read_trades(path: str | Path) -> pd.DataFrame:
    """The journal as a typed DataFrame for reports; the file is only read, never repaired.

    Times become UTC datetimes, numeric columns float64 (NaN where not applicable), the
    trigger flags bool. An absent or empty file gives an empty frame with every column.
    """
    import pandas as pd

    path = Path(path)
    rows = load_rows(path)
    frame = pd.DataFrame(rows, columns=TRADE_COLUMNS, dtype="object")
    for col in NUMERIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col].replace("", None), errors="coerce").astype(
            "float64"
        )
    for col in BOOLEAN_COLUMNS:
        frame[col] = frame[col].astype(str).eq("True")
    for col in TIME_COLUMNS:
        frame[col] = pd.to_datetime(frame[col].replace("", None), utc=True, format="ISO8601")
    return frame
