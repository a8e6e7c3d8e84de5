"""The position manager against an in-memory broker: signals, exits, balances, crashes."""

from __future__ import annotations

import logging
import re

import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable, OrderRejected, OwnerMismatch, StateFileError
from core.outcome import BOUGHT, IGNORED_BUY, NOTHING, SOLD, Action, Outcome, skipped
from core.types import Fill
from risk.position import (
    BALANCE_MARGIN,
    exchange_owner_problem,
    required_quote,
    symbol_owner_problem,
)
from storage.state import BotState, PendingOrder, Position, StateStore
from storage.trades import TRADE_COLUMNS
from tests.position_doubles import (
    MINUTE,
    T0,
    Crash,
    CrashingJournal,
    FakeBroker,
    Files,
)


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture()
def broker(clock) -> FakeBroker:
    return FakeBroker(clock)


@pytest.fixture()
def files(tmp_path, clock, broker) -> Files:
    return Files(tmp_path, clock, broker)


def _long(files: Files, broker: FakeBroker, price: float = 23000.0):
    """A manager that has just bought 0.001 BTC at ``price`` (holds 0.000999)."""
    manager = files.manager()
    broker.price = price
    assert manager.on_signal(1, T0, price) == BOUGHT
    return manager


# -- signals -------------------------------------------------------------------------------


def test_buy_when_flat_uses_the_actual_fill_price(files, broker, caplog):
    """
    Given a flat manager and a broker that fills at 23010 while the candle closed at 23000
    When a BUY signal arrives
    Then it buys 0.001, holds 0.000999 (net of the 0.000001 BTC fee) with entry 23010
    And the journal has one buy row, the state file the position, the log the BUY line
    """
    manager = files.manager()
    broker.price = 23010.0
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert manager.on_signal(1, T0, 23000.0) == BOUGHT
    assert broker.sent[0][:2] == ("buy", 0.001)
    pos = manager.position
    assert pos.quantity == 0.000999 and pos.entry_price == 23010.0
    assert pos.entry_fee == pytest.approx(0.000001) and pos.entry_fee_currency == "BTC"
    assert pos.requested_price == 23000.0
    assert StateStore(files.state_path).load() == manager.state
    assert manager.state.pending is None and manager.state.last_candle_ms == T0
    [row] = files.rows()
    assert row["side"] == "buy" and row["entry_price"] == "23010" and row["exit_price"] == ""
    assert row["quantity"] == "0.001" and row["PnL"] == ""
    assert row["fee"] == "0.000001" and row["fee_currency"] == "BTC"
    assert row["requested_price"] == "23000" and row["filled_price"] == "23010"
    assert row["stop_loss_triggered"] == "False" and row["take_profit_triggered"] == "False"
    assert row["signal_candle_time"] == "2025-02-28T12:00:00Z"
    assert (row["strategy"], row["exchange"], row["symbol"]) == ("sma_rsi", "local", "BTC/USDT")
    assert "BUY order placed at 23010.00 USDT (qty 0.001, order 100)" in caplog.text


def test_buy_while_long_is_ignored_and_logged(files, broker, caplog):
    """
    Given a manager holding a position
    When another BUY signal arrives on the next candle
    Then no order is sent, the result is ignored-buy-while-long and the log says so
    """
    manager = _long(files, broker)
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert manager.on_signal(1, T0 + MINUTE, 23100.0) == IGNORED_BUY
    assert len(broker.sent) == 1
    assert "BUY signal ignored: already long 0.000999 BTC" in caplog.text
    assert manager.state.last_candle_ms == T0 + MINUTE


def test_sell_signal_while_long_sells_everything_with_pnl_net_of_both_fees(files, broker, caplog):
    """
    Given a position of 0.000999 BTC bought at 23010 with a 0.000001 BTC fee
    When a SELL signal arrives and the broker fills at 23500
    Then all 0.000999 is sold, the manager is flat, and the sell row's PnL is
    And (23500 - 23010) * 0.000999 - 0.000001 * 23010 - 0.000999 * 23500 * 0.001 = 0.4430235
    """
    manager = _long(files, broker, price=23010.0)
    broker.price = 23500.0
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert manager.on_signal(-1, T0 + MINUTE, 23490.0) == SOLD
    assert broker.sent[-1][:2] == ("sell", 0.000999)
    assert manager.position is None
    sell = files.rows()[-1]
    assert sell["side"] == "sell" and sell["entry_price"] == "23010"
    assert sell["exit_price"] == "23500" and sell["quantity"] == "0.000999"
    assert float(sell["PnL"]) == pytest.approx(0.4430235, abs=1e-9)
    assert sell["exit_reason"] == "signal" and sell["requested_price"] == "23490"
    assert sell["stop_loss_triggered"] == "False" and sell["take_profit_triggered"] == "False"
    assert sell["fee_currency"] == "USDT" and float(sell["fee"]) == pytest.approx(0.0234765)
    assert "SELL order placed at 23500.00 USDT (qty 0.000999, order 101) PnL +0.44 USDT" \
        " (signal)" in caplog.text
    assert broker.balances["BTC"] == pytest.approx(0.0)


@pytest.mark.parametrize("signal", [-1, 0])
def test_sell_or_hold_while_flat_does_nothing(files, broker, signal):
    """
    Given a flat manager
    When a SELL or a 0 signal arrives
    Then nothing is sent, nothing journaled, and the candle is remembered as handled
    """
    manager = files.manager()
    assert manager.on_signal(signal, T0, 23000.0) == NOTHING
    assert broker.sent == [] and files.rows() == []
    assert StateStore(files.state_path).load().last_candle_ms == T0


def test_hold_while_long_does_nothing(files, broker):
    """
    Given a manager holding a position
    When a 0 signal arrives
    Then nothing is sent and the position stays
    """
    manager = _long(files, broker)
    assert manager.on_signal(0, T0 + MINUTE, 23000.0) == NOTHING
    assert len(broker.sent) == 1 and manager.position is not None


def test_a_candle_already_handled_is_skipped(files, broker):
    """
    Given a manager that bought on the candle at T0 and was restarted
    When the same candle's BUY signal is handed in again, or an older candle's
    Then it is skipped and nothing is sent
    """
    _long(files, broker)
    manager = files.manager()
    again = manager.on_signal(1, T0, 23000.0)
    assert again.action is Action.SKIPPED
    assert again.reason.startswith("candle 2025-02-28T12:00:00Z")
    assert manager.on_signal(-1, T0 - MINUTE, 23000.0).action is Action.SKIPPED
    assert len(broker.sent) == 1


def test_a_signal_outside_1_0_minus_1_is_refused(files):
    """
    Given a manager
    When a signal of 2 is handed in
    Then ValueError names the allowed values
    """
    with pytest.raises(ValueError, match="1, 0 or -1"):
        files.manager().on_signal(2, T0, 23000.0)


@pytest.mark.parametrize("price", [float("nan"), 0.0, -5.0])
def test_a_signal_without_a_usable_price_is_skipped(files, broker, price):
    """
    Given a flat manager
    When a BUY signal comes with a NaN, zero or negative reference price
    Then nothing is sent and the result says why
    """
    result = files.manager().on_signal(1, T0, price)
    assert result.action is Action.SKIPPED
    assert result.reason.startswith("no usable reference price")
    assert broker.sent == []


# -- protective exits ----------------------------------------------------------------------


def test_stop_loss_sells_at_market_and_flags_the_row(files, broker, caplog):
    """
    Given 0.000999 BTC bought at 23000 (SL 2 % -> 22540)
    When the last price is 22540 and the broker fills the sell at 22530
    Then the position is sold, the row says stop_loss with the SL flag only, and the PnL is
    And (22530 - 23000) * 0.000999 - 0.000001 * 23000 - 0.000999 * 22530 * 0.001 = -0.51503747
    """
    manager = _long(files, broker)
    assert manager.on_price(22541.0) is None
    broker.price = 22530.0
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert manager.on_price(22540.0) == Outcome(Action.SOLD, "stop_loss")
    assert manager.position is None
    sell = files.rows()[-1]
    assert sell["stop_loss_triggered"] == "True" and sell["take_profit_triggered"] == "False"
    assert sell["exit_reason"] == "stop_loss" and sell["exit_price"] == "22530"
    assert sell["requested_price"] == "22540" and sell["signal_candle_time"] == ""
    assert float(sell["PnL"]) == pytest.approx(-0.51503747, abs=1e-9)
    assert "Stop-loss triggered at 22540.00 USDT (entry 23000.00, stop 22540.00)" in caplog.text
    assert "PnL -0.52 USDT (stop_loss)" in caplog.text


def test_take_profit_sells_at_market_and_flags_the_row(files, broker, caplog):
    """
    Given 0.000999 BTC bought at 23000 (TP 4 % -> 23920)
    When the last price is 23920 and the broker fills there
    Then the row says take_profit with the TP flag only, and the PnL is
    And 920 * 0.000999 - 0.000001 * 23000 - 0.000999 * 23920 * 0.001 = 0.87218392
    """
    manager = _long(files, broker)
    assert manager.on_price(23919.0) is None
    broker.price = 23920.0
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert manager.on_price(23920.0) == Outcome(Action.SOLD, "take_profit")
    sell = files.rows()[-1]
    assert sell["stop_loss_triggered"] == "False" and sell["take_profit_triggered"] == "True"
    assert sell["exit_reason"] == "take_profit"
    assert float(sell["PnL"]) == pytest.approx(0.87218392, abs=1e-9)
    assert "Take-profit triggered at 23920.00 USDT (entry 23000.00, target 23920.00)" in caplog.text


@pytest.mark.parametrize("price", [None, float("nan"), float("inf"), 0.0, -1.0])
def test_on_price_ignores_missing_or_nonsense_prices(files, broker, price):
    """
    Given a manager holding a position
    When the last price is missing, NaN, infinite, zero or negative
    Then nothing happens
    """
    manager = _long(files, broker)
    assert manager.on_price(price) is None
    assert len(broker.sent) == 1


def test_on_price_while_flat_does_nothing(files, broker):
    """
    Given a flat manager
    When any price arrives
    Then nothing happens
    """
    assert files.manager().on_price(1.0) is None
    assert broker.sent == []


# -- balances and quantities ---------------------------------------------------------------


def test_buy_is_skipped_when_the_quote_balance_is_short(files, broker, caplog):
    """
    Given an account with 23 USDT and a buy of 0.001 BTC at 23000 needing 23.23 with margin
    When a BUY signal arrives
    Then no order is sent, the result and errors log say the balance is short
    """
    broker.balances["USDT"] = 23.0
    manager = files.manager()
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        result = manager.on_signal(1, T0, 23000.0)
    assert result.action is Action.SKIPPED
    assert result.reason.startswith("BUY skipped: free USDT 23 is below the 23.23 needed")
    assert broker.sent == [] and manager.position is None
    assert "top up the account" in caplog.text


def test_sell_quantity_is_net_of_fee_and_rounded_down_to_the_step(files, broker):
    """
    Given a lot step of 0.00001 and a position of 0.000999 BTC bought at 23000
    When take-profit fires at 23920
    Then 0.00099 is sold, the dust closes the position and the PnL is
    And 920 * 0.00099 - 0.000001 * 23000 - 0.00099 * 23920 * 0.001 = 0.8641192
    """
    manager = files.manager(quantity_step=0.00001)
    assert manager.on_signal(1, T0, 23000.0) == BOUGHT
    broker.price = 23920.0
    assert manager.on_price(23920.0) == Outcome(Action.SOLD, "take_profit")
    assert broker.sent[-1][:2] == ("sell", 0.00099)
    assert manager.position is None
    assert float(files.rows()[-1]["PnL"]) == pytest.approx(0.8641192, abs=1e-9)


def test_buy_quantity_is_rounded_down_to_the_step(files, broker):
    """
    Given a trade size of 0.00123 and a lot step of 0.001
    When a BUY signal arrives
    Then 0.001 is bought
    """
    manager = files.manager(trade_size=0.00123, quantity_step=0.001)
    manager.on_signal(1, T0, 23000.0)
    assert broker.sent[0][:2] == ("buy", 0.001)


def test_trade_size_below_the_step_is_refused_with_advice(files, broker):
    """
    Given a trade size of 0.0005 and a lot step of 0.001
    When a BUY signal arrives
    Then nothing is sent and the result says to raise TRADE_SIZE
    """
    manager = files.manager(trade_size=0.0005, quantity_step=0.001)
    assert "raise TRADE_SIZE" in manager.on_signal(1, T0, 23000.0).reason
    assert broker.sent == []


def test_sell_is_skipped_when_the_base_balance_is_short_but_not_gone(files, broker, caplog):
    """
    Given a position of 0.000999 BTC while the account shows only 0.0007 BTC free
    When a SELL signal arrives
    Then nothing is sent, the errors log says why, and the position stays
    And a stop-loss level reached later in the same candle sends nothing either
    """
    manager = _long(files, broker)
    broker.balances["BTC"] = 0.0007
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        result = manager.on_signal(-1, T0 + MINUTE, 23000.0)
    assert "free BTC 0.0007 is below the 0.000999 to sell" in result.reason
    assert "check the account" in caplog.text
    assert manager.on_price(20000.0) is None
    assert len(broker.sent) == 1 and manager.position is not None


def test_balance_unavailable_skips_the_order(files, broker):
    """
    Given a flat manager and an exchange whose balance call fails after its retries
    When a BUY signal arrives, and later a stop-loss level is reached while long
    Then each is skipped with "balance unavailable" and nothing is sent
    """
    manager = files.manager()
    broker.fail_balance = ExchangeUnavailable("timeout")
    assert manager.on_signal(1, T0, 23000.0) == skipped("balance unavailable (timeout)")
    broker.fail_balance = None
    manager.on_signal(1, T0 + MINUTE, 23000.0)
    broker.fail_balance = ExchangeUnavailable("timeout")
    assert manager.on_price(20000.0) == skipped("balance unavailable (timeout)")
    assert len(broker.sent) == 1


def test_partial_sell_fill_keeps_the_rest_and_books_its_share_of_the_buy_fee(files, broker):
    """
    Given 0.000999 BTC bought at 23000 and a broker that fills only half a sell at 23920
    When take-profit fires
    Then 0.0004995 stays held with half the buy fee, and the PnL of the half sold is
    And 920 * 0.0004995 - 0.0000005 * 23000 - 0.0004995 * 23920 * 0.001 = 0.43609196
    """
    manager = _long(files, broker)
    broker.price = 23920.0
    broker.fill_fraction = 0.5
    assert manager.on_price(23920.0) == Outcome(Action.SOLD, "take_profit")
    assert manager.position.quantity == pytest.approx(0.0004995)
    assert manager.position.entry_fee == pytest.approx(0.0000005)
    assert float(files.rows()[-1]["PnL"]) == pytest.approx(0.43609196, abs=1e-9)


# -- refusals and unknown outcomes ---------------------------------------------------------


def test_rejected_order_clears_the_intent_and_pauses_until_the_next_candle(files, broker, caplog):
    """
    Given a broker that refuses the next order
    When a BUY signal arrives
    Then the result says rejected, no intent is kept, the error is logged
    And the next candle's BUY goes through
    """
    manager = files.manager()
    broker.fail_send = OrderRejected("MIN_NOTIONAL")
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        assert manager.on_signal(1, T0, 23000.0) == \
            skipped("BUY order rejected: MIN_NOTIONAL")
    assert "BUY order rejected: MIN_NOTIONAL" in caplog.text
    assert manager.state.pending is None
    assert StateStore(files.state_path).load().pending is None
    assert manager.on_signal(1, T0 + MINUTE, 23000.0) == BOUGHT


def test_rejected_stop_loss_is_not_retried_every_poll(files, broker):
    """
    Given a position and a broker that refuses the next order
    When the stop-loss fires and then the price is polled again in the same candle
    Then only one sell was sent; on the next candle a SELL signal is sent again
    """
    manager = _long(files, broker)
    broker.fail_send = OrderRejected("busy")
    refused = manager.on_price(20000.0)
    assert refused.action is Action.SKIPPED
    assert refused.reason.startswith("SELL order rejected")
    assert manager.on_price(20000.0) is None
    assert [s[0] for s in broker.sent] == ["buy", "sell"]
    assert manager.on_signal(-1, T0 + MINUTE, 20000.0) == SOLD


def test_unknown_outcome_keeps_the_intent_and_resolves_it_before_trading(files, broker, caplog):
    """
    Given a broker that executes a BUY but loses the answer (ExchangeUnavailable)
    When the BUY signal arrives, then a price is polled
    Then the first call reports an unknown outcome with the intent saved
    And the poll finds the order by client id: one buy row and the position is open
    """
    manager = files.manager()
    broker.fail_after_send = ExchangeUnavailable("504")
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        assert manager.on_signal(1, T0, 23000.0) == skipped("order outcome unknown (504)")
    assert "outcome unknown" in caplog.text
    assert StateStore(files.state_path).load().pending.side == "buy"
    assert manager.on_price(23000.0) is None
    assert manager.position is not None and manager.state.pending is None
    assert len(files.rows()) == 1 and len(broker.sent) == 1


def test_no_order_while_an_intent_cannot_be_resolved(files, broker, caplog):
    """
    Given an intent whose order outcome is unknown and an exchange that cannot look it up
    When new signals and prices arrive
    Then nothing is sent (one warning logged), until the look-up says the order never existed
    """
    manager = files.manager()
    broker.fail_send = ExchangeUnavailable("down")
    manager.on_signal(1, T0, 23000.0)
    broker.fail_find = ExchangeUnavailable("still down")
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        result = manager.on_signal(1, T0 + MINUTE, 23000.0)
        assert manager.on_price(23000.0) is None
        assert manager.on_price(23000.0) is None
    assert result.action is Action.SKIPPED and result.reason.startswith("pending BUY order pb-1b-")
    assert caplog.text.count("no new order until it is resolved") == 1
    assert len(broker.sent) == 1
    broker.fail_find = None
    assert manager.on_signal(1, T0 + 2 * MINUTE, 23000.0) == BOUGHT
    assert len(files.rows()) == 1


# -- crashes and restarts ------------------------------------------------------------------


def _crash_during(files: Files, broker: FakeBroker, side: str, step: str) -> None:
    """Run one order of ``side`` and kill the process at ``step``."""
    if side == "sell":
        _long(files, broker)
    journal = CrashingJournal(files.journal_path)
    manager = files.manager(journal=journal)
    if step == "before_send":
        broker.fail_send = Crash("killed before the order left")
    elif step == "after_send":
        broker.fail_after_send = Crash("killed before the journal write")
    else:
        journal.armed = True
    with pytest.raises(Crash):
        if side == "buy":
            manager.on_signal(1, T0, 23000.0)
        else:
            manager.on_signal(-1, T0 + MINUTE, 23000.0)


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("step", ["before_send", "after_send", "after_journal"])
def test_a_crash_at_any_step_is_recovered_by_reconcile_exactly_once(files, broker, side, step):
    """
    Given an order whose process is killed before sending, after sending, or after journaling
    When the bot restarts and reconciles (twice, as after a second restart)
    Then the journal holds each fill exactly once and the position matches the exchange
    And trading goes on afterwards
    """
    _crash_during(files, broker, side, step)
    saved = StateStore(files.state_path).load()
    assert saved.pending is not None and saved.pending.side == side
    files.manager().reconcile()
    manager = files.manager()
    notes = manager.reconcile()
    executed = step != "before_send"
    buys = [r for r in files.rows() if r["side"] == "buy"]
    sells = [r for r in files.rows() if r["side"] == "sell"]
    assert len(buys) == (1 if side == "sell" or executed else 0)
    assert len(sells) == (1 if side == "sell" and executed else 0)
    assert len({r["client_order_id"] for r in files.rows()}) == len(files.rows())
    assert manager.state.pending is None
    long_now = (side == "buy") == executed
    assert (manager.position is not None) == long_now
    assert notes
    signal = -1 if long_now else 1
    assert manager.on_signal(signal, T0 + 5 * MINUTE, 23000.0) in (BOUGHT, SOLD)


def test_reconcile_reports_what_it_found(files, broker):
    """
    Given a crash after a BUY was sent
    When the bot restarts and reconciles
    Then the note says the pending BUY was found and bought, then that the position resumes
    """
    _crash_during(files, broker, "buy", "after_send")
    notes = files.manager().reconcile()
    assert re.fullmatch(r"pending BUY order pb-1b-[0-9a-z]+-[0-9a-f]{6} found: bought", notes[0])
    assert notes[1] == ("resuming open position: 0.000999 BTC at 23000.00 USDT "
                        "(stop-loss 22540.00, take-profit 23920.00)")


def test_reconcile_keeps_an_intent_while_the_exchange_is_down(files, broker):
    """
    Given a crash after a BUY was sent and an exchange that cannot be reached on restart
    When the bot reconciles
    Then the intent is kept with a note saying it will be retried, and nothing is journaled
    """
    _crash_during(files, broker, "buy", "after_send")
    broker.fail_find = ExchangeUnavailable("down")
    manager = files.manager()
    notes = manager.reconcile()
    assert notes[0].endswith("(down); will retry before the next order")
    assert manager.state.pending is not None and files.rows() == []


def test_reconcile_when_flat_says_so(files):
    """
    Given a fresh bot
    When it reconciles
    Then the only note is that it is flat with nothing pending
    """
    assert files.manager().reconcile() == ["flat, nothing pending"]


def test_reconcile_with_balance_unavailable_keeps_the_position(files, broker):
    """
    Given an open position and an exchange whose balance call fails on restart
    When the bot reconciles
    Then the note says the balance check was skipped and the position stays
    """
    _long(files, broker)
    broker.fail_balance = ExchangeUnavailable("down")
    manager = files.manager()
    assert manager.reconcile() == ["balance check skipped: down"]
    assert manager.position is not None


def test_restart_resumes_the_open_position(files, broker):
    """
    Given a position bought at 23000 and the bot stopped
    When a new manager starts on the same files and the price reaches take-profit
    Then it holds the same position and sells it
    """
    first = _long(files, broker)
    second = files.manager()
    assert second.position == first.position
    broker.price = 23920.0
    assert second.on_price(23920.0) == Outcome(Action.SOLD, "take_profit")


def test_order_that_filled_nothing_clears_the_intent(files, broker):
    """
    Given a broker whose BUY ends with nothing filled
    When a BUY signal arrives
    Then nothing is journaled, no position is opened and no intent kept
    """
    broker.fill_fraction = 0.0
    manager = files.manager()
    assert manager.on_signal(1, T0, 23000.0) == skipped("order filled nothing")
    assert files.rows() == [] and manager.position is None and manager.state.pending is None


def test_a_sell_fill_without_a_recorded_position_is_journaled_without_pnl(files, broker, caplog):
    """
    Given a state holding a pending SELL but no position (edited by hand) and its fill
    When the bot reconciles
    Then the fill is journaled once without PnL and the oddity is logged as an error
    """
    fill = Fill("7", "pb-9s-x", "sell", 23000.0, 0.001, 0.023, "USDT", T0)
    broker.orders["pb-9s-x"] = fill
    StateStore(files.state_path).save(BotState(pending=PendingOrder(
        "pb-9s-x", "sell", 0.001, "signal", 23000.0, None, T0)))
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        files.manager().reconcile()
    [row] = files.rows()
    assert row["PnL"] == "" and row["exit_price"] == "23000" and row["entry_price"] == ""
    assert "no position was recorded" in caplog.text


# -- testnet wipe --------------------------------------------------------------------------


def test_testnet_wipe_on_restart_closes_the_position_once(files, broker, caplog):
    """
    Given an open position of 0.000999 BTC and an account wiped to 0 BTC while the bot was off
    When the bot reconciles, twice
    Then a sell row with exit_reason testnet_wipe and no PnL is journaled once, the bot is flat
    And the errors log explains it
    """
    _long(files, broker)
    broker.balances["BTC"] = 0.0
    clock = files.clock
    clock.advance(3600)
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        notes = files.manager().reconcile()
    assert notes[0].startswith("position lost: free BTC 0 is below 50% of the 0.000999 held")
    assert "testnet wipe" in caplog.text
    files.manager().reconcile()
    wipe = [r for r in files.rows() if r["exit_reason"] == "testnet_wipe"]
    assert len(wipe) == 1
    assert wipe[0]["side"] == "sell" and wipe[0]["PnL"] == "" and wipe[0]["exit_price"] == ""
    assert wipe[0]["order_id"] == "" and wipe[0]["quantity"] == "0.000999"
    assert wipe[0]["timestamp"] == "2025-02-28T13:00:00Z"
    assert StateStore(files.state_path).load().position is None


def test_testnet_wipe_found_when_selling(files, broker):
    """
    Given an open position and the account's BTC gone while the bot runs
    When the stop-loss fires
    Then no order is sent and the position is closed as lost
    """
    manager = _long(files, broker)
    broker.balances["BTC"] = 0.0001
    assert manager.on_price(20000.0).action is Action.POSITION_LOST
    assert manager.position is None and len(broker.sent) == 1


# -- ids, summary, construction ------------------------------------------------------------


def test_client_ids_are_unique_across_state_resets_and_exchange_safe(files, broker, tmp_path):
    """
    Given two bots that both start from an empty state (same order sequence)
    When each buys at the same clock time
    Then their client ids differ, are at most 36 chars and use only Binance-safe characters
    """
    files.manager().on_signal(1, T0, 23000.0)
    other = Files(tmp_path / "other", files.clock, broker)
    other.manager().on_signal(1, T0, 23000.0)
    ids = [cid for _, _, cid in broker.sent]
    assert len(set(ids)) == 2
    for cid in ids:
        assert len(cid) <= 36
        assert re.fullmatch(r"pb-1b-[0-9a-z]+-[0-9a-f]{6}", cid)


def test_summary_counts_fills_trades_and_pnl_across_restarts(files, broker):
    """
    Given a round trip closed at take-profit (PnL 0.87218392) and a new position opened
    When a restarted manager summarises
    Then it shows the long position, 3 fills, 1 closed trade and +0.87 USDT
    """
    manager = _long(files, broker)
    assert manager.summary() == ("position: long 0.000999 BTC at 23000.00 USDT; fills: 1; "
                                 "closed trades: 0; realised PnL: +0.00 USDT")
    broker.price = 23920.0
    manager.on_price(23920.0)
    assert manager.summary().startswith("position: flat; fills: 2; closed trades: 1")
    manager.on_signal(1, T0 + MINUTE, 23920.0)
    assert files.manager().summary() == (
        "position: long 0.000999 BTC at 23920.00 USDT; fills: 3; closed trades: 1; "
        "realised PnL: +0.87 USDT")


def test_summary_mentions_a_pending_order(files, broker):
    """
    Given an intent whose outcome is unknown
    When the manager summarises
    Then the line names the pending order
    """
    manager = files.manager()
    broker.fail_send = ExchangeUnavailable("down")
    broker.fail_find = ExchangeUnavailable("down")
    manager.on_signal(1, T0, 23000.0)
    assert ", pending BUY pb-1b-" in manager.summary()


def test_summary_shows_small_pnl_with_more_decimals(files, broker):
    """
    Given a journal whose only closed trade made 0.004 USDT
    When the manager summarises
    Then the PnL shows eight decimals instead of rounding to zero
    """
    manager = _long(files, broker)
    broker.price = 23050.0
    manager.on_signal(-1, T0 + MINUTE, 23050.0)
    pnl = float(files.rows()[-1]["PnL"])
    assert abs(pnl) < 0.01
    assert manager.summary().endswith(f"realised PnL: {pnl:+.8f} USDT")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"trade_size": 0}, "trade size"), ({"stop_loss_percent": 1.5}, "stop-loss"),
     ({"take_profit_percent": 0}, "take-profit"), ({"quantity_step": 0}, "quantity step"),
     ({"balance_margin": -0.1}, "balance margin"), ({"wipe_threshold": 0}, "wipe threshold")],
)
def test_bad_settings_are_refused_at_construction(files, kwargs, message):
    """
    Given a setting out of range
    When the manager is built
    Then ValueError names the setting
    """
    with pytest.raises(ValueError, match=message):
        files.manager(**kwargs)


def test_properties_expose_state_and_assets(files, broker):
    """
    Given a manager on the fake BTC/USDT broker with a saved position
    When its properties are read
    Then they show the assets and the loaded position
    """
    StateStore(files.state_path).save(BotState(position=Position(0.5, 100.0, T0, "1", "c")))
    manager = files.manager()
    assert (manager.base_asset, manager.quote_asset) == ("BTC", "USDT")
    assert manager.position.quantity == 0.5 and manager.state.position is manager.position
    assert list(files.rows()) == [] and TRADE_COLUMNS[0] == "timestamp"


def test_the_fake_and_the_exchange_client_satisfy_the_broker_protocol(clock):
    """
    Given the Broker protocol, the test double and the real exchange client class
    When they are checked against the protocol
    Then both provide every method, and an object lacking find_order does not
    """
    from risk.broker import Broker

    assert isinstance(FakeBroker(clock), Broker)

    class NoLookup:
        base_asset, quote_asset = "BTC", "USDT"

        def free_balance(self, asset):
            return 0.0

        def market_buy(self, quantity, client_order_id):
            raise NotImplementedError

        def market_sell(self, quantity, client_order_id):
            raise NotImplementedError

    assert not isinstance(NoLookup(), Broker)
    client = pytest.importorskip("exchange.client")
    for name in ("free_balance", "market_buy", "market_sell", "find_order"):
        assert callable(getattr(client.ExchangeClient, name))


def test_mark_candle_processed_moves_forward_only_and_is_saved(files, broker):
    """
    Given a manager that handled the candle at T0
    When the loop marks T0 + 1 min processed, then an older candle
    Then last_candle_ms is T0 + 1 min in memory and on disk, and that candle's signal is skipped
    """
    manager = files.manager()
    assert manager.last_candle_ms is None
    manager.on_signal(0, T0, 23000.0)
    manager.mark_candle_processed(T0 + MINUTE)
    manager.mark_candle_processed(T0)
    assert manager.last_candle_ms == T0 + MINUTE
    assert StateStore(files.state_path).load().last_candle_ms == T0 + MINUTE
    assert manager.on_signal(1, T0 + MINUTE, 23000.0).action is Action.SKIPPED
    assert broker.sent == []


def test_testnet_wipe_found_by_the_forgotten_entry_order(files, broker, caplog):
    """
    Given an open position and a testnet reset that erased the orders but re-issued 1 BTC
    When the bot restarts and reconciles
    Then the position is closed as lost because the exchange no longer knows the entry order
    """
    manager = _long(files, broker)
    entry_cid = manager.position.entry_client_order_id
    broker.orders.clear()
    broker.balances["BTC"] = 1.0
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        notes = files.manager().reconcile()
    assert notes == [f"position lost: the exchange no longer knows the entry order {entry_cid}"
                     " (testnet wipe?); closed in the journal without PnL"]
    assert files.rows()[-1]["exit_reason"] == "testnet_wipe"
    assert "no longer knows" in caplog.text


def test_position_check_skipped_while_the_order_lookup_fails(files, broker):
    """
    Given an open position and an exchange whose order look-up fails on restart
    When the bot reconciles
    Then the note says the position check was skipped and the position stays
    """
    _long(files, broker)
    broker.fail_find = ExchangeUnavailable("down")
    manager = files.manager()
    assert manager.reconcile() == ["position check skipped: down"]
    assert manager.position is not None


def test_a_position_in_another_symbol_stops_the_bot_with_advice(files, broker):
    """
    Given a saved open position in BTC/USDT
    When the bot starts with SYMBOL ETH/USDT
    Then OwnerMismatch (not a damaged-file error) says to set SYMBOL back or close the
         position, in one line
    """
    _long(files, broker)
    with pytest.raises(OwnerMismatch, match="set SYMBOL=BTC/USDT") as caught:
        files.manager(symbol="ETH/USDT")
    assert "\n" not in str(caught.value) and not isinstance(caught.value, StateFileError)


def test_a_flat_state_adopts_a_new_symbol(files, broker):
    """
    Given a saved flat state from BTC/USDT
    When the bot starts with SYMBOL ETH/USDT and handles a candle
    Then it starts normally and the state now belongs to ETH/USDT
    """
    files.manager().on_signal(0, T0, 23000.0)
    manager = files.manager(symbol="ETH/USDT")
    manager.on_signal(0, T0 + MINUTE, 1800.0)
    assert StateStore(files.state_path).load().symbol == "ETH/USDT"


def test_owner_rules_name_the_setting_that_would_manage_the_saved_position(tmp_path):
    """
    Given a saved position in BTC/USDT opened on the testnet, and a flat state
    When the symbol and exchange owner rules are asked for other, and the same, settings
    Then other settings get a one-line reason naming SYMBOL / --exchange; same settings and a
         flat state get None
    """
    position = Position(quantity=0.001, entry_price=23000.0, entry_time_ms=T0,
                        entry_order_id="1", entry_client_order_id="pb-1b")
    state = BotState(position=position, symbol="BTC/USDT", extra={"exchange": "testnet"})
    path = tmp_path / "state.json"
    assert "set SYMBOL=BTC/USDT" in symbol_owner_problem(state, "ETH/USDT", path)
    assert "run with --exchange testnet" in exchange_owner_problem(state, "local", path)
    assert symbol_owner_problem(state, "BTC/USDT", path) is None
    assert exchange_owner_problem(state, "testnet", path) is None
    flat = BotState(symbol="BTC/USDT", extra={"exchange": "testnet"})
    assert symbol_owner_problem(flat, "ETH/USDT", path) is None
    assert exchange_owner_problem(flat, "local", path) is None


def test_required_quote_is_value_plus_the_balance_margin():
    """
    Given a buy of 0.001 BTC at 23,000 USDT
    When the free quote it requires is computed with the default and a custom margin
    Then it is 23.23 (1 % margin) and 23.0 with no margin
    """
    assert BALANCE_MARGIN == 0.01
    assert required_quote(0.001, 23000.0) == pytest.approx(23.23)
    assert required_quote(0.001, 23000.0, margin=0.0) == pytest.approx(23.0)
