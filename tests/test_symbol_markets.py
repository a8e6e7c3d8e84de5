"""SYMBOL validated against the exchange's markets: listed, spot and trading."""

import pytest

from core.clock import ManualClock
from exchange.client import ExchangeClient, ExchangeRefused
from tests.test_client import MARKET, T0, FakeExchange


@pytest.mark.parametrize(("change", "fragment"), [
    ({"spot": False}, "is listed but not a spot market"),
    ({"active": False}, "is listed but not trading now"),
])
def test_a_listed_symbol_that_is_not_tradable_spot_is_refused(change, fragment):
    """
    Given an exchange listing BTC/USDT as a futures-only or halted market
    When markets are loaded
    Then ExchangeRefused says so in one line and names SYMBOL / --symbol
    """
    exchange = FakeExchange()
    exchange.market = lambda symbol: {**MARKET, **change}
    client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=ManualClock(T0))
    with pytest.raises(ExchangeRefused) as caught:
        client.load_markets()
    assert fragment in str(caught.value) and "--symbol" in str(caught.value)
