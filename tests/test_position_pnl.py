"""Quantities and PnL of a long spot position with Binance-style fees."""

from __future__ import annotations

import numpy as np
import pytest

from risk.pnl import (
    clean_quantity,
    commission_on,
    directional_pnl,
    fee_in_quote,
    held_quantity,
    realized_pnl,
    round_down_to_step,
)


@pytest.mark.parametrize(
    ("quantity", "step", "expected"),
    [(0.000999, 0.00001, 0.00099), (0.001 - 0.000001, 0.000001, 0.000999),
     (0.00099, 0.00001, 0.00099), (0.5, None, 0.5), (0.000009, 0.00001, 0.0),
     (1.23456789, 0.001, 1.234)],
)
def test_round_down_to_step_floors_to_a_multiple(quantity, step, expected):
    """
    Given a quantity (possibly with float noise) and a lot step
    When it is rounded down to the step
    Then the result is the largest multiple of the step not above it, exactly
    """
    assert round_down_to_step(quantity, step) == expected


def test_round_down_to_step_refuses_a_non_positive_step():
    """
    Given a step of zero
    When a quantity is rounded to it
    Then ValueError says the step must be positive
    """
    with pytest.raises(ValueError, match="step must be > 0"):
        round_down_to_step(1.0, 0.0)


def test_clean_quantity_removes_subtraction_noise():
    """
    Given 0.001 - 0.000001 computed in floats
    When it is cleaned
    Then it equals 0.000999
    """
    assert clean_quantity(0.001 - 0.000001) == 0.000999


@pytest.mark.parametrize(
    ("fee_currency", "expected"),
    [("BTC", 0.000999), ("USDT", 0.001), ("BNB", 0.001)],
)
def test_held_quantity_subtracts_a_base_fee_only(fee_currency, expected):
    """
    Given a buy of 0.001 BTC with a fee of 0.000001 in some currency
    When the held quantity is computed
    Then a BTC fee is subtracted and any other fee is not
    """
    assert held_quantity(0.001, 0.000001, fee_currency, "BTC") == expected


@pytest.mark.parametrize(
    ("fee", "currency", "expected"),
    [(0.000001, "BTC", 0.023), (0.5, "USDT", 0.5), (0.01, "BNB", 0.0), (0.0, "BTC", 0.0)],
)
def test_fee_in_quote_values_base_fees_at_the_price(fee, currency, expected):
    """
    Given a fee in the base asset, the quote asset, a third asset, or none
    When it is valued in quote at a price of 23000
    Then a base fee is multiplied by the price, a quote fee kept, a third asset counts 0
    """
    assert fee_in_quote(fee, currency, 23000.0, "BTC", "USDT") == pytest.approx(expected)


def test_realized_pnl_subtracts_both_fees():
    """
    Given 0.000999 BTC bought at 23000 (fee 0.023 USDT) and sold at 23920 (fee 0.02389608)
    When the PnL is computed
    Then it is 920 * 0.000999 - 0.023 - 0.02389608 = 0.87218392
    """
    assert realized_pnl(23000.0, 23920.0, 0.000999, 0.023, 0.02389608) == pytest.approx(
        0.87218392, abs=1e-12
    )


def test_commission_and_directional_pnl_work_on_one_trade_and_on_arrays():
    """
    Given a long and a short round trip of 1,000 -> 1,100 quote at 0.1 % commission
    When gross P&L and commission are computed for one trade and for both as arrays
    Then the long gains 100, the short loses 100, commission is 2.1 each, the same both ways
    """
    assert directional_pnl(1.0, 1000.0, 1100.0) == 100.0
    assert commission_on(0.001, 1000.0 + 1100.0) == pytest.approx(2.1)
    gross = directional_pnl(np.array([1.0, -1.0]), np.array([1000.0, 1000.0]),
                            np.array([1100.0, 1100.0]))
    assert gross.tolist() == [100.0, -100.0]
    fees = commission_on(0.001, np.array([2100.0, 2100.0]))
    assert fees.tolist() == [commission_on(0.001, 2100.0)] * 2
