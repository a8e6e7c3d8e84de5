"""Runs features/position.feature: the position manager as a user describes it.

Steps hand what they make to later steps through ``target_fixture``: the settings, the
account's files (``Files``, which holds the fake broker), the running bot (a new one after a
restart, with its reconcile notes) and the last outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from core.outcome import BOUGHT, Outcome
from risk.position import PositionManager
from storage.logs import TRADING_LOG, setup_logging, teardown_logging
from tests.position_doubles import MINUTE, T0, Crash, FakeBroker, Files

scenarios("position.feature")

SIGNALS = {"BUY": 1, "SELL": -1, "HOLD": 0}


@pytest.fixture()
def clock() -> ManualClock:
    """The scenario's time, starting at a candle's open (T0)."""
    return ManualClock(T0)


@pytest.fixture()
def logs(tmp_path, clock):
    """The bot's log folder, set up on the scenario's clock and torn down after it."""
    folder = tmp_path / "logs"
    setup_logging(folder, console=False, clock=clock)
    yield folder
    teardown_logging()


@given("a bot trading 0.001 BTC with a 2 % stop-loss and a 4 % take-profit",
       target_fixture="settings")
def bot_settings(logs) -> dict[str, float]:
    return {"trade_size": 0.001, "stop_loss_percent": 0.02, "take_profit_percent": 0.04}


@given("an exchange account holding 10000 USDT that charges 0.1 % per fill",
       target_fixture="files")
def exchange_account(tmp_path, clock) -> Files:
    return Files(tmp_path, clock, FakeBroker(clock, quote=10_000.0, fee_rate=0.001))


@dataclass
class RunningBot:
    """A started position manager and what its start-up reconcile said."""

    manager: PositionManager
    notes: list[str] = field(default_factory=list)


@pytest.fixture()
def bot(files, settings) -> RunningBot:
    """The running bot, as it is built on start (a restart step replaces it)."""
    return RunningBot(files.manager(**settings))


@given("the bot is flat")
def flat(bot):
    assert bot.manager.position is None


def _signal(bot: RunningBot, files: Files, clock: ManualClock, name: str,
            price: float) -> Outcome:
    """The signal of the candle after the last one handled, a minute of clock time later."""
    files.broker.price = price
    candle = (bot.manager.last_candle_ms or T0) + MINUTE
    clock.advance(60)
    return bot.manager.on_signal(SIGNALS[name], candle, price)


@given(parsers.parse("the bot holds a position bought at {price:g} USDT"),
       target_fixture="outcome")
@given(parsers.parse("the bot is holding a position bought at {price:g} USDT"),
       target_fixture="outcome")
def holding(bot, files, clock, price) -> Outcome:
    outcome = _signal(bot, files, clock, "BUY", price)
    assert outcome == BOUGHT
    return outcome


@when(parsers.parse("a {name} signal arrives with BTC at {price:g} USDT"),
      target_fixture="outcome")
def signal_arrives(bot, files, clock, name, price) -> Outcome:
    return _signal(bot, files, clock, name, price)


@when(parsers.parse("the price falls to {price:g} USDT"), target_fixture="outcome")
@when(parsers.parse("the price rises to {price:g} USDT"), target_fixture="outcome")
def price_moves(bot, files, clock, price) -> Outcome | None:
    files.broker.price = price
    clock.advance(5)
    return bot.manager.on_price(price)


@when("the bot is restarted", target_fixture="bot")
def restarted(files, settings) -> RunningBot:
    manager = files.manager(**settings)
    return RunningBot(manager, manager.reconcile())


@when(parsers.parse("the bot is killed right after sending a BUY order at {price:g} USDT"))
def killed_after_send(bot, files, clock, price):
    files.broker.fail_after_send = Crash("kill -9")
    with pytest.raises(Crash):
        _signal(bot, files, clock, "BUY", price)


@when("the exchange account loses its BTC")
def account_wiped(files):
    files.broker.balances["BTC"] = 0.0


@then(parsers.parse("the bot holds {quantity:g} BTC bought at {price:g} USDT"))
def holds(bot, quantity, price):
    pos = bot.manager.position
    assert pos is not None
    assert pos.quantity == pytest.approx(quantity) and pos.entry_price == price


@then("the bot is flat")
def is_flat(bot):
    assert bot.manager.position is None
    assert bot.manager.state.pending is None


@then(parsers.parse("the trades journal has {count:d} row"))
@then(parsers.parse("the trades journal has {count:d} rows"))
def journal_rows(files, count):
    assert len(files.rows()) == count


@then(parsers.parse('the outcome is "{expected}"'))
def outcome_is(outcome, expected):
    assert str(outcome) == expected


@then(parsers.parse('the last journal row is a sell with exit reason "{reason}" and PnL '
                    "{pnl:g} USDT"))
def last_sell(files, reason, pnl):
    row = files.rows()[-1]
    assert row["side"] == "sell" and row["exit_reason"] == reason
    assert float(row["PnL"]) == pytest.approx(pnl, abs=1e-9)


@then(parsers.parse('the last journal row is a sell with exit reason "{reason}" and no PnL'))
def last_sell_without_pnl(files, reason):
    row = files.rows()[-1]
    assert row["side"] == "sell" and row["exit_reason"] == reason and row["PnL"] == ""


@then(parsers.parse("the last journal row has stop_loss_triggered {sl} and "
                    "take_profit_triggered {tp}"))
def last_flags(files, sl, tp):
    row = files.rows()[-1]
    assert (row["stop_loss_triggered"], row["take_profit_triggered"]) == (sl, tp)


@then(parsers.parse('trading.log says "{line}"'))
def log_says(logs, line):
    assert line in (logs / TRADING_LOG).read_text(encoding="utf-8")


@then(parsers.parse('reconcile says "{note}"'))
def reconcile_says(bot, note):
    assert note in bot.notes
