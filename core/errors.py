"""Errors the exchange layer raises to its callers, in the bot's terms rather than ccxt's."""

from __future__ import annotations


class ExchangeUnavailable(Exception):
    """The exchange could not be reached or answered with a retryable error after every retry.

    The caller skips this cycle and tries again at the next one; nothing was changed on the
    exchange (for orders: the client has already checked by client order id).
    """


class OrderRejected(Exception):
    """The exchange refused an order for a reason retrying cannot fix (funds, filters, auth)."""


class EndpointRefused(Exception):
    """A configured endpoint is neither Binance Spot Testnet nor the local emulator."""
