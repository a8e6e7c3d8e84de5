"""Summary of the trades journal for ``python main.py report``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class JournalSummary:
    """Figures over the closed round trips of ``historical_trades.csv``."""

    orders: int = 0
    closed_trades: int = 0
    wins: int = 0
    losses: int = 0
    net_pnl: float = 0.0
    fees_quote: float = 0.0
    max_drawdown: float = 0.0
    open_position: bool = False
    exit_reasons: dict[str, int] = field(default_factory=dict)
    open_entry_price: float | None = None
    open_quantity: float | None = None
    open_since_ms: int | None = None
    base_asset: str = "BTC"

    @property
    def win_rate(self) -> float:
        """Share of closed trades with a positive PnL (0 when none closed)."""
        return self.wins / self.closed_trades if self.closed_trades else 0.0


def summarize(trades: pd.DataFrame) -> JournalSummary:
    """Count orders and round trips, add up PnL and fees, and find the realised drawdown.

    A closing row is one with a PnL value. Fees are valued in the quote asset: a fee paid in
    the base asset (Binance buys) is converted at that row's fill price. The drawdown is the
    largest fall of cumulative realised PnL from its running peak (starting at 0).
    """
    summary = JournalSummary(orders=len(trades))
    if trades.empty:
        return summary
    closing = trades[trades["PnL"].notna()]
    pnl = closing["PnL"].to_numpy()
    summary.closed_trades = len(closing)
    summary.wins = int((pnl > 0).sum())
    summary.losses = int((pnl <= 0).sum())
    summary.net_pnl = float(pnl.sum())
    price = trades["filled_price"].fillna(trades["exit_price"]).fillna(trades["entry_price"])
    in_quote = trades["fee_currency"].astype(str).str.upper().ne(
        trades["symbol"].astype(str).str.split("/").str[0].str.upper())
    fees = trades["fee"].fillna(0.0).where(in_quote, trades["fee"].fillna(0.0) * price)
    summary.fees_quote = float(fees.fillna(0.0).sum())
    equity = pnl.cumsum()
    peaks = pd.Series(equity).cummax().clip(lower=0.0).to_numpy()
    summary.max_drawdown = float((peaks - equity).max()) if len(equity) else 0.0
    reasons = closing["exit_reason"].replace("", "signal").fillna("signal")
    summary.exit_reasons = {str(k): int(v) for k, v in reasons.value_counts().items()}
    last_side = str(trades["side"].iloc[-1]).lower()
    summary.open_position = last_side == "buy"
    if summary.open_position:
        last = trades.iloc[-1]
        base = str(last.get("symbol") or "BTC/USDT").split("/")[0].upper()
        fee = float(last["fee"]) if pd.notna(last.get("fee")) else 0.0
        held = float(last["quantity"]) - (fee if not bool(in_quote.iloc[-1]) else 0.0)
        summary.open_entry_price = float(price.iloc[-1])
        summary.open_quantity = held
        stamp = last["timestamp"]
        summary.open_since_ms = int(stamp.value // 1_000_000) if isinstance(
            stamp, pd.Timestamp) else int(stamp)
        summary.base_asset = base
    return summary


def last_stored_close(path: Path) -> tuple[int, float] | None:
    """(open time, close) of a candle CSV's last complete row, read from its end; or None."""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            lines = handle.read().split(b"\n")[:-1]
    except OSError:
        return None
    for line in reversed(lines):
        fields = line.decode("utf-8", "replace").strip().split(",")
        if len(fields) >= 5 and fields[0].isdigit():
            try:
                return int(fields[0]), float(fields[4])
            except ValueError:
                return None
    return None


def _utc(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def open_position_line(summary: JournalSummary, mark: tuple[int, float] | None,
                       quote: str = "USDT") -> str | None:
    """The open position's entry, size and unrealised PnL at ``mark`` (time, close)."""
    if not summary.open_position or summary.open_entry_price is None:
        return None
    qty, entry = summary.open_quantity or 0.0, summary.open_entry_price
    line = (f"Open position: {qty:g} {summary.base_asset} bought at {entry:,.2f} {quote}"
            f" ({_utc(summary.open_since_ms or 0)})")
    if mark is None:
        return line + "; no stored candle to mark it to"
    at_ms, close = mark
    pnl = (close - entry) * qty
    return (line + f"; unrealised PnL {pnl:+.4f} {quote} at the last stored close"
            f" {close:,.2f} ({_utc(at_ms)}), before the exit fee")


def format_summary(summary: JournalSummary, quote: str = "USDT") -> str:
    """The summary as a few human-readable lines."""
    if summary.orders == 0:
        return "No trades journaled yet."
    lines = [
        f"Orders: {summary.orders}   closed trades: {summary.closed_trades}"
        f"   open position: {'yes' if summary.open_position else 'no'}",
        f"Wins / losses: {summary.wins} / {summary.losses}   win rate: {summary.win_rate:.1%}",
        f"Net PnL: {summary.net_pnl:+.4f} {quote}   fees paid: {summary.fees_quote:.4f} {quote}",
        f"Max drawdown (realised): {summary.max_drawdown:.4f} {quote}",
        "Exit reasons: " + (", ".join(f"{k} {v}" for k, v in sorted(summary.exit_reasons.items()))
                            or "none"),
    ]
    return "\n".join(lines)
