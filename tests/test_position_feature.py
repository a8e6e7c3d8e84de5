"""Runs features/position.feature: the position manager as a user describes it."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from core.outcome import BOUGHT
from storage.logs import TRADING_LOG, setup_logging, teardown_logging
from tests.position_doubles import MINUTE, T0, Crash, FakeBroker, Files

scenarios("position.feature")

SIGNALS = {"BUY": 1, "SELL": -1, "HOLD": 0}


@pytest.fixture()
def bot(tmp_path):
    """The bot's world: clock, fake exchange, files, logs and the running manager."""
    clock = ManualClock(T0)
    setup_logging(tmp_path / "logs", console=False, clock=clock)
    world = {"clock": clock, "logs": tmp_path / "logs", "candle": T0, "dir": tmp_path}
    yield world
    teardown_logging()


@given("a bot trading 0.001 BTC with a 2 % stop-loss and a 4 % take-profit")
def bot_settings(bot):
    bot["settings"] = {"trade_size": 0.001, "stop_loss_percent": 0.02,
                       "take_profit_percent": 0.04}


@given("an exchange account holding 10000 USDT that charges 0.1 % per fill")
def exchange_account(bot):
    bot["broker"] = FakeBroker(bot["clock"], quote=10_000.0, fee_rate=0.001)
    bot["files"] = Files(bot["dir"], bot["clock"], bot["broker"])
    bot["manager"] = bot["files"].manager(**bot["settings"])


@given("the bot is flat")
def flat(bot):
    assert bot["manager"].position is None


@given(parsers.parse("the bot holds a position bought at {price:g} USDT"))
@given(parsers.parse("the bot is holding a position bought at {price:g} USDT"))
def holding(bot, price):
    _signal(bot, "BUY", price)
    assert bot["outcome"] == BOUGHT
    bot["sent_before"] = len(bot["broker"].sent)


def _signal(bot, name: str, price: float) -> None:
    bot["broker"].price = price
    bot["candle"] += MINUTE
    bot["clock"].advance(60)
    bot["outcome"] = bot["manager"].on_signal(SIGNALS[name], bot["candle"], price)


@when(parsers.parse("a {name} signal arrives with BTC at {price:g} USDT"))
def signal_arrives(bot, name, price):
    _signal(bot, name, price)


@when(parsers.parse("the price falls to {price:g} USDT"))
@when(parsers.parse("the price rises to {price:g} USDT"))
def price_moves(bot, price):
    bot["broker"].price = price
    bot["clock"].advance(5)
    bot["outcome"] = bot["manager"].on_price(price)


@when("the bot is restarted")
def restarted(bot):
    bot["manager"] = bot["files"].manager(**bot["settings"])
    bot["notes"] = bot["manager"].reconcile()


@when(parsers.parse("the bot is killed right after sending a BUY order at {price:g} USDT"))
def killed_after_send(bot, price):
    bot["broker"].fail_after_send = Crash("kill -9")
    with pytest.raises(Crash):
        _signal(bot, "BUY", price)


@when("the exchange account loses its BTC")
def account_wiped(bot):
    bot["broker"].balances["BTC"] = 0.0


@then(parsers.parse("the bot holds {quantity:g} BTC bought at {price:g} USDT"))
def holds(bot, quantity, price):
    pos = bot["manager"].position
    assert pos is not None
    assert pos.quantity == pytest.approx(quantity) and pos.entry_price == price


@then("the bot is flat")
def is_flat(bot):
    assert bot["manager"].position is None
    assert bot["manager"].state.pending is None


@then(parsers.parse("the trades journal has {count:d} row"))
@then(parsers.parse("the trades journal has {count:d} rows"))
def journal_rows(bot, count):
    assert len(bot["files"].rows()) == count


@then(parsers.parse('the outcome is "{outcome}"'))
def outcome_is(bot, outcome):
    assert str(bot["outcome"]) == outcome


@then(parsers.parse('the last journal row is a sell with exit reason "{reason}" and PnL '
                    "{pnl:g} USDT"))
def last_sell(bot, reason, pnl):
    row = bot["files"].rows()[-1]
    assert row["side"] == "sell" and row["exit_reason"] == reason
    assert float(row["PnL"]) == pytest.approx(pnl, abs=1e-9)


@then(parsers.parse('the last journal row is a sell with exit reason "{reason}" and no PnL'))
def last_sell_without_pnl(bot, reason):
    row = bot["files"].rows()[-1]
    assert row["side"] == "sell" and row["exit_reason"] == reason and row["PnL"] == ""


@then(parsers.parse("the last journal row has stop_loss_triggered {sl} and "
                    "take_profit_triggered {tp}"))
def last_flags(bot, sl, tp):
    row = bot["files"].rows()[-1]
    assert (row["stop_loss_triggered"], row["take_profit_triggered"]) == (sl, tp)


@then(parsers.parse('trading.log says "{line}"'))
def log_says(bot, line):
    assert line in (bot["logs"] / TRADING_LOG).read_text(encoding="utf-8")


@then(parsers.parse('reconcile says "{note}"'))
def reconcile_says(bot, note):
    assert note in bot["notes"]
