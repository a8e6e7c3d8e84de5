"""The trades journal: one CSV row per filled order, never lost and never duplicated.

Columns: the nine the task names, in order, then extras that explain each row (fees, why a
position was closed, requested against filled price, ids, strategy). Each row is one whole
line written in a single ``write`` and fsynced, so a killed process can leave at most one
partial last line; that line is cut when the journal is opened. A fill is identified by its
client order id: appending one that is already in the file is refused, which makes
re-journaling after a crash harmless.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import TradeJournalError
from core.formatting import format_number, format_utc
from core.lognames import EVENTS_LOGGER
from storage.atomic import cut_partial_tail, fsync_dir

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
            " another folder"
        )
    rows = []
    for line_no, values in enumerate(reader, start=2):
        if not values:
            continue
        if len(values) != len(TRADE_COLUMNS):
            raise TradeJournalError(
                f"{path} line {line_no}: {len(values)} fields instead of"
                f" {len(TRADE_COLUMNS)}; fix or remove that line"
            )
        rows.append(dict(zip(TRADE_COLUMNS, values, strict=True)))
    return rows


class TradeJournal:
    """Append-only CSV journal of fills at ``path``, idempotent by client order id.

    Opening it cuts a partial last line left by a killed writer (``repaired_lines`` counts
    it, and a warning shows the cut text) and checks the header.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repaired_lines = 0
        cut = cut_partial_tail(self.path)
        if cut:
            self.repaired_lines = 1
            log.warning(
                "%s: cut a partial last line left by an interrupted write: %r",
                self.path, cut.decode("utf-8", "replace"),
            )
        self._rows = load_rows(self.path)
        self._client_ids = {r["client_order_id"] for r in self._rows if r["client_order_id"]}
        self._order_ids = {r["order_id"] for r in self._rows if r["order_id"]}

    def append(self, row: TradeRow) -> bool:
        """Write ``row`` as one fsynced line; False (and nothing written) for a duplicate.

        A duplicate is a row whose client order id, or exchange order id, is already in the
        journal: the same fill seen again after a crash or a reconcile.
        """
        if row.client_order_id and row.client_order_id in self._client_ids:
            log.info("journal already holds client order %s; not written twice",
                     row.client_order_id)
            return False
        if row.order_id and row.order_id in self._order_ids:
            log.info("journal already holds order %s; not written twice", row.order_id)
            return False
        record = row.to_record()
        line = _csv_line([record[c] for c in TRADE_COLUMNS])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.path.is_file() or self.path.stat().st_size == 0
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write((HEADER_LINE if new_file else "") + line)
            handle.flush()
            os.fsync(handle.fileno())
        if new_file:
            fsync_dir(self.path.parent)
        self._rows.append(record)
        if row.client_order_id:
            self._client_ids.add(row.client_order_id)
        if row.order_id:
            self._order_ids.add(row.order_id)
        return True

    def client_order_ids(self) -> set[str]:
        """Client order ids already journaled."""
        return set(self._client_ids)

    def order_ids(self) -> set[str]:
        """Exchange order ids already journaled."""
        return set(self._order_ids)

    def rows(self) -> list[dict[str, str]]:
        """Every journaled row as column -> text, oldest first."""
        return [dict(r) for r in self._rows]


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
