"""Stop-loss and take-profit rules shared by the live position manager and the backtester.

One place decides the levels and which one a price has reached, so that the bot and the
backtester cannot disagree about when a protective exit fires.
"""

from __future__ import annotations

from typing import Literal

from risk.pnl import Amount

ExitReason = Literal["stop_loss", "take_profit"]


def stop_loss_price(entry_price: Amount, stop_loss_percent: float) -> Amount:
    """Price at or below which a long position is stopped out (per trade for an array)."""
    return entry_price * (1.0 - stop_loss_percent)


def take_profit_price(entry_price: Amount, take_profit_percent: float) -> Amount:
    """Price at or above which a long position takes its profit (per trade for an array)."""
    return entry_price * (1.0 + take_profit_percent)


def protective_exit(
    last_price: float,
    entry_price: float,
    stop_loss_percent: float,
    take_profit_percent: float,
) -> ExitReason | None:
    """Which protective exit a last traded price triggers for a long position, if any.

    Stop-loss when ``last_price <= entry * (1 - SL)``; take-profit when
    ``last_price >= entry * (1 + TP)``. Both cannot hold at once for positive percentages.
    """
    if last_price <= stop_loss_price(entry_price, stop_loss_percent):
        return "stop_loss"
    if last_price >= take_profit_price(entry_price, take_profit_percent):
        return "take_profit"
    return None
