"""The ground floor: outcomes, formatting, logger names and the error hierarchy."""

from __future__ import annotations

import inspect
import logging

import pytest

import backtest.compare
import backtest.engine
import backtest.tvexport
import commands.download
import config.settings
import core.candles
import core.errors
import emulator.wire
import exchange.download
import exchange.market_rules
import exchange.validation
from core.errors import (
    CandleFileError,
    ExchangeError,
    ExchangeRefused,
    ExchangeUnavailable,
    InputError,
    OwnerMismatch,
    PaperbotError,
    StartupError,
    StateFileError,
)
from core.formatting import format_price, format_signed, plain, significant
from core.lognames import ERRORS_LOGGER, EVENTS_LOGGER
from core.outcome import BOUGHT, SOLD, Action, Outcome, skipped

ERROR_MODULES = [core.errors, backtest.compare, backtest.engine, backtest.tvexport,
                 commands.download, config.settings, emulator.wire, exchange.download,
                 exchange.market_rules, exchange.validation]


def test_an_outcome_prints_as_the_log_word_and_its_reason():
    """
    Given a bought outcome, a stop-loss sell and a skip with a reason
    When they are printed
    Then they read "bought", "sold: stop_loss" and "skipped: <why>", the old log words
    """
    assert str(BOUGHT) == "bought"
    assert str(Outcome(Action.SOLD, "stop_loss")) == "sold: stop_loss"
    assert f"{skipped('balance unavailable (timeout)')}" == "skipped: balance unavailable (timeout)"
    assert str(Outcome(Action.IGNORED_BUY)) == "ignored-buy-while-long"


def test_traded_is_true_for_fills_only():
    """
    Given one outcome of each action
    When traded is asked
    Then only bought and sold (with or without a reason) are trades
    """
    traded = {action: Outcome(action, "x").traded for action in Action}
    assert traded == {a: a in (Action.BOUGHT, Action.SOLD) for a in Action}
    assert SOLD.traded and not skipped("no price").traded


def test_log_formatting_keeps_two_decimals_for_ordinary_values():
    """
    Given prices and PnL amounts above and below the ordinary range
    When they are formatted for a log line
    Then ordinary ones have two decimals and small ones keep their digits, with a sign for PnL
    """
    assert format_price(23456.789) == "23456.79"
    assert format_price(0.00012345) == "0.00012345"
    assert format_signed(12.345) == "+12.35"
    assert format_signed(-0.001234) == "-0.00123400"
    assert format_signed(0.0) == "+0.00"


def test_plain_and_significant_numbers():
    """
    Given values with float noise and an exponent-prone small number
    When they are formatted as plain decimals and as ten significant digits
    Then no exponent and no noise appear
    """
    assert plain(0.00001) == "0.00001" and plain(95000.0) == "95000" and plain(0.95) == "0.95"
    assert significant([0.0053600000000001, 1.10345, 23000.0]) == ["0.00536", "1.10345", "23000"]


def test_logger_names_are_the_ones_the_log_set_up_routes():
    """
    Given the logger names in core.lognames
    When they are compared with what storage.logs routes
    Then errors sit under the events logger, so ERROR records propagate to trading.log too
    """
    from storage import logs

    assert EVENTS_LOGGER == logs.LOGGER_NAME == "paperbot"
    assert ERRORS_LOGGER == logs.ERRORS_LOGGER_NAME == "paperbot.errors"
    assert logging.getLogger(ERRORS_LOGGER).parent is logging.getLogger(EVENTS_LOGGER)


def project_errors() -> list[type[BaseException]]:
    """Every exception class defined in the project's modules that define any."""
    found = []
    for module in ERROR_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_every_project_error_has_the_one_root_and_a_what_next_docstring():
    """
    Given every exception class the project defines
    When its bases and docstring are read
    Then each derives from PaperbotError and says in its docstring what it is about
    """
    errors = project_errors()
    assert len(errors) >= 20
    for cls in errors:
        assert issubclass(cls, PaperbotError), cls
        assert cls.__doc__ and len(cls.__doc__) > 30, cls


def test_the_families_keep_old_except_clauses_meaning_the_same():
    """
    Given the classes that were ValueError subclasses and the exchange errors
    When their families are checked
    Then bad-input classes stay ValueErrors, exchange errors are not, and the moved ones are
         the same classes under their old import paths
    """
    for cls in (CandleFileError, config.settings.SettingsError, backtest.engine.BacktestError,
                exchange.market_rules.TradeSizeError, exchange.validation.CandleDataError):
        assert issubclass(cls, ValueError), cls
    for cls in (ExchangeUnavailable, ExchangeRefused):
        assert issubclass(cls, ExchangeError) and not issubclass(cls, ValueError)
    assert issubclass(StateFileError, InputError) and issubclass(OwnerMismatch, InputError)
    assert not issubclass(OwnerMismatch, StateFileError)
    from bot.wiring import StartupError as wired
    from exchange.client import ExchangeRefused as client_refused
    from storage.state import StateFileError as stored

    assert (wired, client_refused, stored) == (StartupError, ExchangeRefused, StateFileError)
    assert core.candles.CandleFileError is CandleFileError


def test_startup_error_carries_its_exit_status():
    """
    Given a start-up error with and without a status
    When it is raised and caught
    Then the status is 2 by default and the given one otherwise, the message unchanged
    """
    with pytest.raises(StartupError) as caught:
        raise StartupError("fix the settings")
    assert caught.value.status == 2 and str(caught.value) == "fix the settings"
    assert StartupError("later", status=1).status == 1
