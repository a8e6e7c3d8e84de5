"""Reading a TradingView "List of trades" export, in either header layout.

Current layout: ``Trade #,Type,Date/Time,Signal,Price USD,Position size (qty),...,Net P&L USD,
...``; older one: ``Trade #,Type,Signal,Date/Time,Price USD,Contracts,Profit USD,...``. The
currency suffix varies with the account. Rows are keyed by ``Trade #`` (their order varies);
times are kept as written (with or without a UTC offset) and turned into UTC by ``compare``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError


class TvExportError(InputError, ValueError):
    """An export that cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class Number:
    """A number as the export wrote it: its value and how many decimals it shows."""

    value: float
    decimals: int

    @property
    def tolerance(self) -> float:
        """Half a unit of the last shown decimal: what the export's rounding can hide."""
        return 0.5 * 10.0 ** (-self.decimals)

    def matches(self, value: float) -> bool:
        """True when ``value`` rounds to this number at the export's precision."""
        slack = self.tolerance * (1 + 1e-9) + 1e-12 * abs(self.value)
        return abs(value - self.value) <= slack


@dataclass(frozen=True)
class ExportTrade:
    """One trade of an export; times as written, ``is_open`` when its exit row says ``Open``."""

    number: int
    direction: int
    entry_time: str
    exit_time: str
    entry_price: Number
    exit_price: Number
    qty: float
    pnl: Number | None
    entry_signal: str
    exit_signal: str
    is_open: bool


_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})


def parse_number(text: str) -> Number:
    """A number from an export cell (thousands separators, unicode minus, spaces allowed)."""
    clean = text.strip().translate(_MINUS).replace(",", "").replace("\u00a0", "").replace(" ", "")
    if clean.endswith("%"):
        clean = clean[:-1]
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", clean):
        raise ValueError(text)
    mantissa, _, exponent = clean.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return Number(float(clean), decimals - int(exponent or 0))


def _find(columns: list[str], *choices: str, prefix: tuple[str, ...] = ()) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in choices:
        if name.lower() in lower:
            return lower[name.lower()]
    for col in columns:
        low = col.lower()
        if any(low.startswith(p.lower()) for p in prefix) and not low.endswith("%"):
            return col
    return None


def export_columns(columns: list[str]) -> dict[str, str]:
    """Map our field names to the export's column names; TvExportError when one is missing."""
    found = {
        "number": _find(columns, "Trade #", "Trade number"),
        "type": _find(columns, "Type"),
        "time": _find(columns, "Date/Time", "Date and time", "Date"),
        "signal": _find(columns, "Signal"),
        "price": _find(columns, prefix=("Price",)),
        "qty": _find(columns, "Position size (qty)", "Contracts", "Quantity", "Qty"),
        "pnl": _find(columns, prefix=("Net P&L", "Profit")),
    }
    missing = [k for k in ("number", "type", "time", "price") if found[k] is None]
    if missing:
        raise TvExportError(
            f"not a TradingView trade list: no {', '.join(missing)} column; export it from the"
            " Strategy Tester's List of trades (header starts with 'Trade #,Type,')"
        )
    return {k: v for k, v in found.items() if v is not None}


def read_tv_trades(path: str | Path) -> list[ExportTrade]:
    """The trades of a TradingView "List of trades" CSV, in trade-number order."""
    path = Path(path)
    if not path.is_file():
        raise TvExportError(f"{path}: no such trade list file; check the path")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        reader.fieldnames = columns
        cols = export_columns(columns)
        rows = list(reader)
    entries: dict[int, tuple[dict[str, str], int]] = {}
    exits: dict[int, tuple[dict[str, str], int]] = {}
    for line, row in enumerate(rows, start=2):
        kind = (row.get(cols["type"]) or "").strip().lower().split()
        if len(kind) != 2 or kind[0] not in ("entry", "exit") or kind[1] not in ("long", "short"):
            raise TvExportError(
                f"{path} line {line}: Type {row.get(cols['type'])!r} is not Entry/Exit long/short"
            )
        try:
            number = int(parse_number(row[cols["number"]]).value)
        except (ValueError, TypeError):
            raise TvExportError(
                f"{path} line {line}: Trade # {row.get(cols['number'])!r} is not a number"
            ) from None
        target = entries if kind[0] == "entry" else exits
        if number in target:
            raise TvExportError(f"{path} line {line}: trade #{number} has two {kind[0]} rows")
        target[number] = (row, line)
    trades = []
    for number in sorted(set(entries) | set(exits)):
        if number not in entries or number not in exits:
            half = "entry" if number not in entries else "exit"
            raise TvExportError(f"{path}: trade #{number} has no {half} row; export again")
        trades.append(_trade(path, number, entries[number], exits[number], cols))
    return trades


def _trade(path: Path, number: int, entry: tuple[dict[str, str], int],
           exit_: tuple[dict[str, str], int], cols: dict[str, str]) -> ExportTrade:
    (er, eline), (xr, xline) = entry, exit_

    def num(row: dict[str, str], line: int, field: str) -> Number:
        raw = row.get(cols[field]) or ""
        try:
            return parse_number(raw)
        except ValueError:
            raise TvExportError(
                f"{path} line {line}: {cols[field]} {raw!r} is not a number"
            ) from None

    side = er[cols["type"]].strip().lower().split()[1]
    if xr[cols["type"]].strip().lower().split()[1] != side:
        raise TvExportError(f"{path} line {xline}: trade #{number} exits a different side")
    signal = cols.get("signal")
    exit_signal = (xr.get(signal) or "").strip() if signal else ""
    pnl = None
    if "pnl" in cols and (xr.get(cols["pnl"]) or "").strip():
        pnl = num(xr, xline, "pnl")
    qty = num(er, eline, "qty").value if "qty" in cols else 1.0
    return ExportTrade(
        number=number,
        direction=1 if side == "long" else -1,
        entry_time=er[cols["time"]].strip(),
        exit_time=xr[cols["time"]].strip(),
        entry_price=num(er, eline, "price"),
        exit_price=num(xr, xline, "price"),
        qty=qty,
        pnl=pnl,
        entry_signal=(er.get(signal) or "").strip() if signal else "",
        exit_signal=exit_signal,
        is_open=exit_signal.lower() == "open",
    )
