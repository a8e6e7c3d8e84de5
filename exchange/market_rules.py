"""The symbol's trading rules from Binance's filters: lot step, quantity limits, min notional.

Binance rejects an order whose quantity is not a multiple of the lot step, outside
[minQty, maxQty], or worth less than the minimum notional. The bot rounds the quantity DOWN
(never buying or selling more than it meant to) and checks the rest before sending, so a
misconfigured trade size fails with a sentence rather than a -1013 from the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from core.errors import InputError
from core.formatting import plain

# Float noise (0.003 stored as 0.0029999999999999996) must not lose a whole lot step when
# rounding down; quantities are first rounded to this many decimals, far below any lot step.
_NOISE_DECIMALS = Decimal("1e-12")


class TradeSizeError(InputError, ValueError):
    """The configured trade size cannot be traded on this market; one line saying what to do."""


def _positive(value: Any) -> float | None:
    """``value`` as a float when it is a positive number, else None (no limit)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@dataclass(frozen=True)
class MarketRules:
    """Order rules of one spot symbol. ``None`` for a limit means the exchange sets none."""

    step: float | None
    min_qty: float | None
    max_qty: float | None
    min_notional: float | None
    tick: float | None
    base: str = "BTC"
    quote: str = "USDT"

    @classmethod
    def from_market(cls, market: Mapping[str, Any]) -> MarketRules:
        """Rules from a ccxt market (``exchange.market(symbol)``) of a Binance spot symbol.

        The quantity ceiling is the smaller of LOT_SIZE and MARKET_LOT_SIZE maxQty (the bot
        sends market orders, so both apply).
        """
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount = limits.get("amount") or {}
        market_lot = limits.get("market") or {}
        cost = limits.get("cost") or {}
        ceilings = [q for q in (_positive(amount.get("max")), _positive(market_lot.get("max")))
                    if q is not None]
        return cls(
            step=_positive(precision.get("amount")),
            min_qty=_positive(amount.get("min")),
            max_qty=min(ceilings) if ceilings else None,
            min_notional=_positive(cost.get("min")),
            tick=_positive(precision.get("price")),
            base=str(market.get("base") or "BTC"),
            quote=str(market.get("quote") or "USDT"),
        )

    def round_quantity(self, quantity: float) -> float:
        """``quantity`` rounded DOWN to a multiple of the lot step (unchanged without a step)."""
        exact = Decimal(repr(float(quantity))).quantize(_NOISE_DECIMALS, rounding=ROUND_HALF_EVEN)
        if self.step is None:
            return float(exact)
        step = Decimal(repr(self.step))
        return float((exact / step).to_integral_value(rounding=ROUND_DOWN) * step)

    def order_problem(self, quantity: float, price: float) -> str | None:
        """Why an order of ``quantity`` (already rounded) at ``price`` would be refused, or None."""
        base, quote = self.base, self.quote
        if quantity <= 0:
            step = f" (lot step {plain(self.step)} {base})" if self.step else ""
            return f"quantity {plain(quantity)} {base} is zero after rounding down{step}"
        if self.min_qty is not None and quantity < self.min_qty:
            return (f"quantity {plain(quantity)} {base} is below the minimum "
                    f"{plain(self.min_qty)} {base}")
        if self.max_qty is not None and quantity > self.max_qty:
            return (f"quantity {plain(quantity)} {base} is above the maximum "
                    f"{plain(self.max_qty)} {base}")
        if self.min_notional is not None and quantity * price < self.min_notional:
            return (f"{plain(quantity)} {base} is worth {plain(quantity * price)} {quote} at "
                    f"{plain(price)}; Binance needs at least {plain(self.min_notional)} {quote}"
                    " (min notional)")
        return None

    def check_trade_size(self, size: float, price: float) -> float:
        """The tradable quantity for the configured TRADE_SIZE at ``price``; else TradeSizeError.

        The message names the setting and the fix, e.g. "TRADE_SIZE 0.00001 BTC is worth
        0.95 USDT at 95000; Binance needs at least 5 USDT (min notional): raise TRADE_SIZE".
        """
        base, quote = self.base, self.quote
        if not size > 0:
            raise TradeSizeError(f"TRADE_SIZE must be a positive {base} amount, got {size!r}")
        if not price > 0:
            raise TradeSizeError(f"cannot check TRADE_SIZE at price {price!r}: no market price")
        quantity = self.round_quantity(size)
        if quantity <= 0 or (self.min_qty is not None and quantity < self.min_qty):
            floor = max(q for q in (self.min_qty, self.step, 0.0) if q is not None)
            raise TradeSizeError(
                f"TRADE_SIZE {plain(size)} {base} is below Binance's minimum quantity "
                f"{plain(floor)} {base}: raise TRADE_SIZE"
            )
        if self.max_qty is not None and quantity > self.max_qty:
            raise TradeSizeError(
                f"TRADE_SIZE {plain(size)} {base} is above Binance's maximum quantity "
                f"{plain(self.max_qty)} {base} for market orders: lower TRADE_SIZE"
            )
        if self.min_notional is not None and quantity * price < self.min_notional:
            raise TradeSizeError(
                f"TRADE_SIZE {plain(size)} {base} is worth {plain(quantity * price)} {quote} at "
                f"{plain(price)}; Binance needs at least {plain(self.min_notional)} {quote} "
                "(min notional): raise TRADE_SIZE"
            )
        return quantity
