"""Trade-by-trade comparison of a backtest with a TradingView "List of trades" export.

Exports are written in the chart's timezone. Dates with a UTC offset convert exactly; naive
dates need the zone: given (``--tz``) or detected by trying TradingView's common zones and every
fixed offset and keeping the one under which most entry rows land on a candle whose open equals
the entry price (a market entry fills at the open).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from backtest.tvexport import ExportTrade, Number
from core.errors import InputError

# Tried in this order; on equal scores the earlier wins (a named zone also follows DST).
COMMON_ZONES = (
    "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "America/Sao_Paulo", "America/Mexico_City", "Europe/London",
    "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Zurich", "Europe/Moscow",
    "Europe/Istanbul", "Europe/Athens", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Bangkok", "Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Tokyo",
    "Asia/Seoul", "Australia/Sydney", "Pacific/Auckland",
)


class CompareError(InputError, ValueError):
    """Inputs that cannot be compared; the message is one line for the user."""


@dataclass(frozen=True)
class OurTrade:
    """One backtest trade in the terms of an export row."""

    direction: int
    entry_ms: int
    exit_ms: int
    entry_price: float
    exit_price: float
    net_pnl: float
    is_open: bool
    qty: float | None = None  # contracts, when sized per order


@dataclass
class Comparison:
    """Outcome: matched trade numbers and, per mismatched trade, its differences."""

    matched: list[int] = field(default_factory=list)
    differences: dict[int, list[str]] = field(default_factory=dict)

    @property
    def all_match(self) -> bool:
        """True when no trade differs (and at least one was compared)."""
        return not self.differences and bool(self.matched)


def _fixed_offset(text: str) -> int | None:
    """Minutes east of UTC of "+02:00", "-0500", "UTC+3" or "GMT-4:30"; None if not one."""
    m = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", text.strip(), re.I)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    return minutes if m.group(1) == "+" else -minutes


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.I)


def _to_datetime(series, utc: bool):
    import pandas as pd

    for fmt in ("ISO8601", "mixed"):
        try:
            return pd.to_datetime(series, format=fmt, utc=utc)
        except (ValueError, TypeError):
            continue
    raise CompareError("unreadable date in the export; expected e.g. 2024-01-31 14:00 or"
                       " 2024-01-31T14:00:00-0500")


def parse_times(texts: list[str], tz: str | int | None) -> np.ndarray:
    """UTC epoch ms of export dates; ``tz`` (zone name or minutes east of UTC) for naive ones.

    Dates written with a UTC offset ignore ``tz``. Raises CompareError on an unreadable date,
    on a mix of dates with and without offsets, or on naive dates without ``tz``. A local time
    that does not exist in ``tz`` (DST gap) becomes -1.
    """
    import pandas as pd

    series = pd.Series([t.strip() for t in texts], dtype="object")
    with_offset = series.str.contains(_OFFSET)
    if with_offset.all():
        parsed = _to_datetime(series, utc=True)
        return (parsed.astype("int64") // 1_000_000).to_numpy()
    if with_offset.any():
        raise CompareError("the export mixes dates with and without a UTC offset; export again")
    if tz is None:
        raise CompareError("the export's dates carry no timezone; pass --tz (e.g. UTC,"
                           " America/New_York or +02:00)")
    parsed = _to_datetime(series, utc=False)
    if isinstance(tz, int):
        local = parsed.astype("int64") // 1_000_000
        return (local - tz * 60_000).to_numpy()
    try:
        aware = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except Exception as exc:  # zoneinfo/pytz raise several types for unknown names
        raise CompareError(f"unknown timezone {tz!r} ({type(exc).__name__}); use an IANA"
                           " name such as Europe/Berlin or an offset such as +02:00") from None
    values = aware.dt.tz_convert("UTC").astype("int64") // 1_000_000
    return values.where(aware.notna(), -1).to_numpy()


def resolve_tz(text: str | None) -> str | int | None:
    """``--tz`` as a zone name, minutes east of UTC, or None."""
    if text is None:
        return None
    offset = _fixed_offset(text)
    if offset is not None:
        return offset
    return "UTC" if text.strip().upper() in ("UTC", "GMT", "Z") else text.strip()


def entry_score(entry_ms: np.ndarray, prices: list[Number], timestamps: np.ndarray,
                opens: np.ndarray) -> int:
    """How many export entries land on a candle whose open rounds to the entry price."""
    pos = np.searchsorted(timestamps, entry_ms)
    score = 0
    for k, p in enumerate(pos.tolist()):
        if p < timestamps.size and timestamps[p] == entry_ms[k] and prices[k].matches(opens[p]):
            score += 1
    return score


def detect_tz(trades: list[ExportTrade], timestamps: np.ndarray,
              opens: np.ndarray) -> tuple[str | int | None, int]:
    """The timezone under which the export's entries best match the candles, and its score.

    None when the dates carry their own UTC offsets.
    """
    sample = trades[:200]
    texts = [t.entry_time for t in sample]
    try:
        parse_times(texts, None)
        return None, len(sample)
    except CompareError:
        pass
    prices = [t.entry_price for t in sample]
    candidates: list[str | int] = list(COMMON_ZONES)
    candidates += [m for m in range(-14 * 60, 14 * 60 + 1, 15) if m != 0]
    best: tuple[str | int | None, int] = ("UTC", -1)
    for tz in candidates:
        score = entry_score(parse_times(texts, tz), prices, timestamps, opens)
        if score > best[1]:
            best = (tz, score)
        if score == len(sample):
            break
    return best


def describe_tz(tz: str | int | None) -> str:
    """A zone or offset for messages."""
    if tz is None:
        return "offsets written in the export"
    if isinstance(tz, int):
        sign = "+" if tz >= 0 else "-"
        return f"UTC{sign}{abs(tz) // 60:02d}:{abs(tz) % 60:02d}"
    return tz


def _when(ms: int) -> str:
    if ms < 0:
        return "(no such local time)"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def compare_trades(ours: list[OurTrade], theirs: list[ExportTrade], entry_ms: np.ndarray,
                   exit_ms: np.ndarray) -> Comparison:
    """Compare trade k of the backtest with ``Trade #`` k of the export.

    ``entry_ms`` / ``exit_ms`` are the export's times in UTC, parallel to ``theirs``. Side,
    entry and exit time, prices and net P&L (to the export's rounding) and the open status
    must agree.
    """
    result = Comparison()
    by_number = {t.number: (k, t) for k, t in enumerate(theirs)}
    count = max([len(ours)] + [t.number for t in theirs]) if ours or theirs else 0
    for number in range(1, count + 1):
        mine = ours[number - 1] if number <= len(ours) else None
        found = by_number.get(number)
        if mine is None or found is None:
            where = "the backtest" if mine is None else "the export"
            result.differences[number] = [f"missing in {where}"]
            continue
        k, theirs_k = found
        diffs = _differences(mine, theirs_k, int(entry_ms[k]), int(exit_ms[k]))
        if diffs:
            result.differences[number] = diffs
        else:
            result.matched.append(number)
    return result


def _differences(mine: OurTrade, tv: ExportTrade, tv_entry: int, tv_exit: int) -> list[str]:
    side = {1: "long", -1: "short"}
    diffs = []
    if mine.direction != tv.direction:
        diffs.append(f"side {side[mine.direction]} vs {side[tv.direction]}")
    if mine.entry_ms != tv_entry:
        diffs.append(f"entry time {_when(mine.entry_ms)} vs {_when(tv_entry)}")
    if mine.exit_ms != tv_exit:
        diffs.append(f"exit time {_when(mine.exit_ms)} vs {_when(tv_exit)}")
    if not tv.entry_price.matches(mine.entry_price):
        diffs.append(f"entry price {mine.entry_price:.10g} vs {tv.entry_price.value:.10g}")
    if not tv.exit_price.matches(mine.exit_price):
        diffs.append(f"exit price {mine.exit_price:.10g} vs {tv.exit_price.value:.10g}")
    if mine.qty is not None and abs(mine.qty - tv.qty) > 1e-9 * max(1.0, abs(tv.qty)):
        diffs.append(f"quantity {mine.qty:.10g} vs {tv.qty:.10g}")
    if tv.pnl is not None and not tv.pnl.matches(mine.net_pnl):
        diffs.append(f"net P&L {mine.net_pnl:.10g} vs {tv.pnl.value:.10g}")
    if mine.is_open != tv.is_open:
        state = {True: "open", False: "closed"}
        diffs.append(f"status {state[mine.is_open]} vs {state[tv.is_open]}")
    return diffs


def restrict(outcome: Comparison, numbers: set[int]) -> Comparison:
    """The comparison of only the given trade numbers (``compare --from/--to``)."""
    kept = Comparison()
    kept.matched.extend(n for n in outcome.matched if n in numbers)
    kept.differences.update({n: d for n, d in outcome.differences.items() if n in numbers})
    return kept
