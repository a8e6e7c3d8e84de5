"""Plain records passed between the exchange layer, the position manager and the journals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["buy", "sell"]
# Where the bot trades: Binance Spot Testnet, or the local emulator (in-process or standalone).
ExchangeKind = Literal["testnet", "local"]


@dataclass(frozen=True)
class Fill:
    """A filled market order as the exchange reported it.

    ``price`` is the average fill price, ``quantity`` the filled base amount (before fees),
    ``fee`` the commission charged in ``fee_currency`` (base asset for buys, quote for sells
    on Binance), ``timestamp_ms`` the exchange's transaction time.
    """

    order_id: str
    client_order_id: str
    side: Side
    price: float
    quantity: float
    fee: float
    fee_currency: str
    timestamp_ms: int

    @property
    def cost(self) -> float:
        """Quote amount exchanged (price times quantity)."""
        return self.price * self.quantity
