"""Stop-loss / take-profit level rules."""

import pytest

from risk.rules import protective_exit, stop_loss_price, take_profit_price


def test_stop_loss_price_is_entry_less_percent():
    """
    Given an entry at 100 and a 2 % stop-loss
    When the stop-loss level is computed
    Then it is 98
    """
    assert stop_loss_price(100.0, 0.02) == pytest.approx(98.0)


def test_take_profit_price_is_entry_plus_percent():
    """
    Given an entry at 100 and a 4 % take-profit
    When the take-profit level is computed
    Then it is 104
    """
    assert take_profit_price(100.0, 0.04) == pytest.approx(104.0)


@pytest.mark.parametrize(
    ("price", "expected"),
    [(98.0, "stop_loss"), (97.0, "stop_loss"), (104.0, "take_profit"), (110.0, "take_profit"),
     (98.01, None), (103.99, None), (100.0, None)],
)
def test_protective_exit_fires_at_or_beyond_each_level(price, expected):
    """
    Given a long entry at 100 with SL 2 % and TP 4 %
    When the last price is compared with the levels
    Then the stop-loss fires at or below 98, the take-profit at or above 104, else nothing
    """
    assert protective_exit(price, 100.0, 0.02, 0.04) == expected
