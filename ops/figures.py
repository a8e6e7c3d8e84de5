"""Trade figures from the journal rows: closed trades and realised PnL, in total and today."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TradeFigures:
    """Orders filled and closed round trips with their realised PnL (quote asset)."""

    fills: int = 0
    trades: int = 0
    pnl: float = 0.0
    trades_today: int = 0
    pnl_today: float = 0.0


def _row_ms(text: str) -> int | None:
    try:
        stamp = datetime.strptime(text.strip().replace("T", " ")[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return int(stamp.replace(tzinfo=UTC).timestamp() * 1000)


def trade_figures(rows: Iterable[Mapping[str, str]], symbol: str, now_ms: int) -> TradeFigures:
    """Figures of ``symbol``'s rows (rows without a symbol count too: older journals).

    A row with a PnL closes a trade; "today" is the UTC day holding ``now_ms``.
    """
    fills = trades = trades_today = 0
    pnl = pnl_today = 0.0
    today = now_ms // DAY_MS
    for row in rows:
        if row.get("symbol", "") not in ("", symbol):
            continue
        if row.get("order_id"):
            fills += 1
        text = (row.get("PnL") or "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            continue
        trades += 1
        pnl += value
        stamp = _row_ms(row.get("timestamp", ""))
        if stamp is not None and stamp // DAY_MS == today:
            trades_today += 1
            pnl_today += value
    return TradeFigures(fills, trades, pnl, trades_today, pnl_today)
