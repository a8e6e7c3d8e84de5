"""What the position manager needs from an exchange: balances and market orders by client id.

The live bot passes ``exchange.client.ExchangeClient``; tests pass an in-memory double. The
position manager never calls ccxt itself, so the same state machine runs against the testnet,
the local emulator or a fake.

Errors (from ``core.errors``):

- ``ExchangeUnavailable``: the call failed after its retries. For reads, skip and try later.
  For orders the outcome may be unknown: the intent must be kept and resolved later with
  ``find_order``.
- ``OrderRejected``: the exchange refused the order; retrying this cycle will not help.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.types import Fill


@runtime_checkable
class Broker(Protocol):
    """A spot market for one symbol (``base_asset``/``quote_asset``)."""

    base_asset: str
    quote_asset: str

    def free_balance(self, asset: str) -> float:
        """Free (not locked) amount of ``asset``; 0.0 when none."""
        ...

    def market_buy(self, quantity: float, client_order_id: str) -> Fill:
        """Buy ``quantity`` base at market under our ``client_order_id``."""
        ...

    def market_sell(self, quantity: float, client_order_id: str) -> Fill:
        """Sell ``quantity`` base at market under our ``client_order_id``."""
        ...

    def find_order(self, client_order_id: str) -> Fill | None:
        """The fill of our order ``client_order_id``; None when the exchange has no such order."""
        ...
