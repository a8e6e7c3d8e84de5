"""Market rules: lot-step rounding, quantity limits, min notional and the TRADE_SIZE check."""

from __future__ import annotations

import pytest

from exchange.market_rules import MarketRules, TradeSizeError, plain

# What ccxt 4.5.90 makes of the BTCUSDT filters in binance-emulator.md section 4.
CCXT_MARKET = {
    "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT",
    "precision": {"amount": 1e-05, "price": 0.01, "base": 1e-08, "quote": 1e-08},
    "limits": {
        "amount": {"min": 1e-05, "max": 9000.0},
        "price": {"min": 0.01, "max": 1000000.0},
        "cost": {"min": 5.0, "max": 9000000.0},
        "market": {"min": 0.0, "max": 100.0},
    },
}
RULES = MarketRules.from_market(CCXT_MARKET)


def test_rules_are_read_from_a_ccxt_market():
    """
    Given ccxt's parsed BTCUSDT market (LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, PRICE_FILTER)
    When the rules are read
    Then step, min/max quantity (the tighter market ceiling), min notional, tick and assets match
    """
    assert RULES == MarketRules(step=1e-05, min_qty=1e-05, max_qty=100.0, min_notional=5.0,
                                tick=0.01, base="BTC", quote="USDT")


def test_missing_filters_mean_no_limit():
    """
    Given a market without precision or limits
    When the rules are read
    Then every limit is None and quantities pass through unrounded
    """
    rules = MarketRules.from_market({"base": "ETH", "quote": "BTC"})
    assert (rules.step, rules.min_qty, rules.max_qty, rules.min_notional, rules.tick) == (
        None, None, None, None, None)
    assert rules.round_quantity(0.123456789) == 0.123456789
    assert rules.order_problem(0.1, 1.0) is None


@pytest.mark.parametrize("quantity, expected", [
    (0.001239, 0.00123),
    (0.00123, 0.00123),
    (0.1 + 0.2, 0.3),
    (0.0029999999999999996, 0.003),  # float noise of 0.003 must not lose a whole step
    (0.000009, 0.0),
])
def test_quantity_is_rounded_down_to_the_lot_step(quantity, expected):
    """
    Given a lot step of 0.00001
    When a quantity is rounded
    Then it is the largest multiple of the step not above it (float noise ignored)
    """
    assert RULES.round_quantity(quantity) == expected


@pytest.mark.parametrize("quantity, price, words", [
    (0.0, 95000, "zero after rounding down (lot step 0.00001 BTC)"),
    (0.000001, 95000, "below the minimum 0.00001 BTC"),
    (150.0, 95000, "above the maximum 100 BTC"),
    (0.00001, 95000, "0.00001 BTC is worth 0.95 USDT at 95000; Binance needs at least 5 USDT"),
])
def test_order_problems_are_named(quantity, price, words):
    """
    Given an order that is zero, below min quantity, above max quantity or below min notional
    When it is checked before sending
    Then the problem is named with the numbers involved
    """
    assert words in RULES.order_problem(quantity, price)


def test_valid_order_has_no_problem():
    """
    Given 0.001 BTC at 95000 (95 USDT)
    When it is checked
    Then there is no problem
    """
    assert RULES.order_problem(0.001, 95000) is None


def test_trade_size_below_min_notional_says_raise_trade_size():
    """
    Given TRADE_SIZE 0.00001 BTC at price 95000 and a 5 USDT minimum notional
    When the trade size is checked
    Then the one-line error states its worth, the minimum and the fix
    """
    with pytest.raises(TradeSizeError) as caught:
        RULES.check_trade_size(0.00001, 95000)
    assert str(caught.value) == (
        "TRADE_SIZE 0.00001 BTC is worth 0.95 USDT at 95000; Binance needs at least 5 USDT"
        " (min notional): raise TRADE_SIZE"
    )


@pytest.mark.parametrize("size, price, words", [
    (0.000001, 95000, "below Binance's minimum quantity 0.00001 BTC: raise TRADE_SIZE"),
    (1000.0, 95000, "above Binance's maximum quantity 100 BTC for market orders: lower"),
    (0.0, 95000, "TRADE_SIZE must be a positive BTC amount"),
    (float("nan"), 95000, "TRADE_SIZE must be a positive BTC amount"),
    (0.001, 0.0, "no market price"),
])
def test_untradable_trade_sizes_get_one_line_errors(size, price, words):
    """
    Given a trade size below the minimum, above the maximum, zero or NaN, or no price
    When it is checked
    Then TradeSizeError says what is wrong and what to change, on one line
    """
    with pytest.raises(TradeSizeError) as caught:
        RULES.check_trade_size(size, price)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tradable_trade_size_returns_the_rounded_quantity():
    """
    Given TRADE_SIZE 0.0012345 BTC at 95000
    When it is checked
    Then the quantity actually sent (rounded down to 0.00123) is returned
    """
    assert RULES.check_trade_size(0.0012345, 95000) == 0.00123


@pytest.mark.parametrize("value, text", [(0.00001, "0.00001"), (95000.0, "95000"),
                                         (0.9500000000000001, "0.95"), (5, "5")])
def test_plain_numbers_have_no_exponent(value, text):
    """
    Given small, large and float-noisy numbers
    When they are written for a message
    Then they read as short plain decimals
    """
    assert plain(value) == text
