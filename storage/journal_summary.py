"""Summary of the trades journal for ``python main.py report``."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    return summary


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
