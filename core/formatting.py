"""Numbers and times as text, in one place: the journals, the logs and the reports use these.

Each function has one audience, so each keeps its own precision:

- ``format_number``: journals and state (10 decimals: every Binance price or quantity exact,
  float noise such as 0.30000000000000004 gone);
- ``plain``: one-line messages about market rules (8 decimals, no exponent);
- ``format_price`` / ``format_signed``: log lines (2 decimals for ordinary prices and PnL,
  more for small values);
- ``significant``: TradingView-style trade lists (10 significant digits);
- ``format_utc``: epoch milliseconds as ISO 8601 UTC to the second.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal


def format_utc(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second, e.g. ``2025-02-28T12:00:00Z``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_number(value: float | None) -> str:
    """A float as a plain decimal without float noise; ``""`` for None (not applicable)."""
    if value is None:
        return ""
    # Ten decimals keep every Binance price/quantity (8 decimals) exact and drop the noise
    # of float arithmetic (0.30000000000000004) from computed PnL.
    text = format(Decimal(repr(round(float(value), 10))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plain(value: float) -> str:
    """A number as a short plain decimal for messages (0.00001, 95000, 0.95), no exponent."""
    return format(Decimal(repr(round(float(value), 8))).normalize(), "f")


def format_price(value: float) -> str:
    """A price for a log line: two decimals for ordinary prices, more below 1."""
    return f"{value:.2f}" if abs(value) >= 1 else format_number(value)


def format_signed(value: float) -> str:
    """A PnL for a log line, with its sign: two decimals, eight when smaller than a cent."""
    return f"{value:+.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:+.8f}"


def significant(values: Iterable[float], digits: int = 10) -> list[str]:
    """Each value to ``digits`` significant digits (prices stay exact, P&L float noise goes)."""
    return [f"{x:.{digits}g}" for x in values]
