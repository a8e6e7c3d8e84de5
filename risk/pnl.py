"""Quantities and realised profit of a long spot position, fees included.

Binance charges a buy's commission in the base asset (you receive less than you bought) and
a sell's in the quote asset (you receive less quote). The position therefore holds the
filled quantity less the buy fee, and a round trip's PnL is

    (exit - entry) * sold quantity - buy fee valued at the entry price - sell fee

all in the quote asset. The live bot values the fees its fills report (``fee_in_quote``,
``realized_pnl``); the backtester charges a commission rate on the traded value
(``commission_on``, ``directional_pnl``, over numpy arrays of trades as well as single
values). Both books therefore share one definition of commission and of gross P&L.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

import numpy as np

# A single amount or a numpy array of them (the backtester computes all trades at once).
Amount = TypeVar("Amount", float, np.ndarray)

# Below any exchange's lot step (Binance: 1e-8), above float noise of a subtraction.
QUANTITY_DECIMALS = 12


def clean_quantity(quantity: float) -> float:
    """``quantity`` without the float noise of arithmetic (0.0009989999999999999 -> 0.000999)."""
    return round(float(quantity), QUANTITY_DECIMALS)


def round_down_to_step(quantity: float, step: float | None) -> float:
    """The largest multiple of the lot ``step`` not above ``quantity`` (unchanged when no step).

    Rounding down keeps a sell within what the account holds.
    """
    quantity = clean_quantity(quantity)
    if step is None:
        return quantity
    if step <= 0:
        raise ValueError(f"quantity step must be > 0, got {step}")
    exact_step = Decimal(repr(float(step)))
    steps = (Decimal(repr(quantity)) / exact_step).to_integral_value(rounding=ROUND_FLOOR)
    return float(steps * exact_step)


def held_quantity(filled: float, fee: float, fee_currency: str, base_asset: str) -> float:
    """Base quantity a buy leaves in the account: the fill less a fee charged in base."""
    if fee_currency == base_asset:
        return clean_quantity(filled - fee)
    return clean_quantity(filled)


def fee_in_quote(
    fee: float, fee_currency: str, price: float, base_asset: str, quote_asset: str
) -> float:
    """The quote value of a fee: a base-asset fee at ``price``, a quote fee as is.

    A fee in a third asset (BNB fee discount) cannot be valued without its price and
    counts as 0 here; the journal still shows it in its own currency.
    """
    if not fee:
        return 0.0
    if fee_currency == base_asset:
        return fee * price
    if fee_currency == quote_asset:
        return fee
    return 0.0


def commission_on(rate: float, traded_value: Amount) -> Amount:
    """Commission charged at ``rate`` (0.001 = 0.1 %) on ``traded_value`` of quote."""
    return rate * traded_value


def directional_pnl(direction: Amount, entry_value: Amount, exit_value: Amount) -> Amount:
    """Gross P&L before costs: ``exit - entry`` value for a long (+1), the reverse for a short."""
    return direction * (exit_value - entry_value)


def realized_pnl(
    entry_price: float,
    exit_price: float,
    quantity: float,
    entry_fee_quote: float,
    exit_fee_quote: float,
) -> float:
    """Profit in quote of selling ``quantity`` bought at ``entry_price``, net of both fees."""
    return (exit_price - entry_price) * quantity - entry_fee_quote - exit_fee_quote
