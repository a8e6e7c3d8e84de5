"""Client-side stop entries in the bot: armed from a strategy's orders, saved in the state
file, watched by the price poll, sent as market orders and journaled with reason stop_entry."""

from __future__ import annotations

import json
import math

import pytest

from core.clock import ManualClock
from core.outcome import BOUGHT, NOTHING, SOLD, Action, Outcome
from risk.stop_entries import after_fill, apply_orders, describe, reached, round_level
from storage.state import BotState, StateFileError, StateStore, StopEntry
from tests.position_doubles import MINUTE, T0, Crash, FakeBroker, Files

NAN = math.nan
IDS = {"long_id": "BBandLE", "short_id": "BBandSE", "oca": "BollingerBands"}


def orders(long=None, short=None, cancel_long=False, cancel_short=False) -> dict:
    """One candle's six order columns: ``long``/``short`` a stop level, NaN for market."""
    return {"long_entry": long is not None, "long_stop": NAN if long is None else long,
            "long_cancel": cancel_long, "short_entry": short is not None,
            "short_stop": NAN if short is None else short, "short_cancel": cancel_short}


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture()
def broker(clock) -> FakeBroker:
    return FakeBroker(clock, price=23000.0)


@pytest.fixture()
def files(tmp_path, clock, broker) -> Files:
    return Files(tmp_path, clock, broker)


def test_orders_arm_replace_and_cancel_stops_by_id():
    """
    Given no armed stop
    When a candle arms a buy stop at 100.001 and a sell stop at 95.009 (tick 0.01), the next
        replaces the buy stop and cancels the sell stop, and a third cancels then re-arms
    Then the levels are rounded (buy up, sell down), one stop per id is kept, and a cancel
        applies before the same candle's entry
    """
    armed, signal = apply_orders([], orders(100.001, 95.009), tick=0.01, held=False,
                                 candle_ms=T0, **IDS)
    assert [(e.side, e.level, e.entry_id) for e in armed] == [
        ("buy", 100.01, "BBandLE"), ("sell", 95.0, "BBandSE")] and signal == 0
    armed, _ = apply_orders(armed, orders(long=101.0, cancel_short=True), tick=0.01,
                            held=False, candle_ms=T0 + MINUTE, **IDS)
    assert [(e.side, e.level) for e in armed] == [("buy", 101.0)]
    armed, _ = apply_orders(armed, orders(long=102.0, cancel_long=True), tick=0.01,
                            held=False, candle_ms=T0 + 2 * MINUTE, **IDS)
    assert [(e.side, e.level) for e in armed] == [("buy", 102.0)]
    assert round_level(0.9796 + 0.00001, "buy", 0.00001) == float("0.97961")
    assert round_level(1.23456, "sell", None) == 1.23456


def test_a_buy_stop_is_not_armed_while_long_and_market_entries_are_signals():
    """
    Given a long position and an armed sell stop
    When a candle asks for a buy stop, and another for a short market entry
    Then the buy stop is not armed (pyramiding 1), and the market short replaces the sell
        stop of its id and comes back as a SELL signal
    """
    sell = StopEntry("sell", 95.0, "BBandSE")
    armed, signal = apply_orders([sell], orders(long=100.0), tick=0.01, held=True,
                                 candle_ms=T0, **IDS)
    assert armed == [sell] and signal == 0
    armed, signal = apply_orders(armed, orders(short=NAN), tick=0.01, held=True,
                                 candle_ms=T0, **IDS)
    assert armed == [] and signal == -1


def test_the_reached_stop_and_its_oca_group_leave_together():
    """
    Given a buy stop at 101 and a sell stop at 99 in one OCA group, and a lone buy stop
    When prices are checked and the buy stop fills
    Then 101.5 reaches the buy stop, 100 none, 98 the sell stop; the fill removes both of its
        group but keeps a stop outside the group
    """
    buy = StopEntry("buy", 101.0, "LE", "G")
    sell = StopEntry("sell", 99.0, "SE", "G")
    assert reached([buy, sell], 101.5) is buy and reached([buy, sell], 100.0) is None
    assert reached([buy, sell], 98.0) is sell
    lone = StopEntry("sell", 99.0, "SE")
    assert after_fill([buy, sell], buy) == [] and after_fill([buy, lone], buy) == [lone]
    assert describe(buy) == "BUY stop 101 (LE, OCA G)"


def test_armed_stops_are_saved_atomically_and_load_back(tmp_path):
    """
    Given a state with two armed stops
    When it is saved and loaded, and when a saved level is negative or a side unknown
    Then the stops come back equal, and the bad files are refused with one line each
    """
    store = StateStore(tmp_path / "state.json")
    state = BotState(stop_entries=[StopEntry("buy", 101.5, "KltChLE", "", T0),
                                   StopEntry("sell", 99.25, "KltChSE")])
    store.save(state)
    assert store.load().stop_entries == state.stop_entries
    for bad, word in (({"side": "buy", "level": -1.0, "entry_id": "x"}, "above 0"),
                      ({"side": "short", "level": 1.0, "entry_id": "x"}, "not buy or sell"),
                      ({"side": "buy", "level": None, "entry_id": "x"}, "not a number")):
        data = {**state.to_dict(), "stop_entries": [bad]}
        (tmp_path / "state.json").write_text(json.dumps(data))
        with pytest.raises(StateFileError, match=word) as caught:
            StateStore(tmp_path / "state.json").load()
        assert "\n" not in str(caught.value)


def test_a_buy_stop_fills_as_a_market_buy_journaled_as_stop_entry(files, broker):
    """
    Given a flat manager whose strategy armed a buy stop at 23100
    When the price poll sees 23050, then 23120
    Then nothing happens at 23050; at 23120 it buys at market, the journal's row says
        stop_entry and the stop is gone from the state file
    """
    manager = files.manager(price_tick=0.01)
    assert manager.on_orders(orders(long=23100.0), T0, 23000.0, **IDS) == NOTHING
    assert [e.level for e in StateStore(files.state_path).load().stop_entries] == [23100.0]
    broker.price = 23050.0
    assert manager.on_price(23050.0) is None
    broker.price = 23120.0
    assert manager.on_price(23120.0) == Outcome(Action.BOUGHT, "stop_entry")
    row = files.rows()[-1]
    assert row["side"] == "buy" and row["exit_reason"] == "stop_entry"
    saved = StateStore(files.state_path).load()
    assert saved.stop_entries == [] and saved.position is not None


def test_a_sell_stop_closes_the_long_and_a_short_market_entry_sells(files, broker):
    """
    Given a long opened by a market entry and a sell stop armed under it
    When the price falls to the stop
    Then the long is sold at market with exit reason stop_entry; a later short market entry
        while long sells like SELL does today
    """
    manager = files.manager(price_tick=0.01)
    assert manager.on_orders(orders(long=NAN, short=22800.0), T0, 23000.0, **IDS) == BOUGHT
    broker.price = 22790.0
    assert manager.on_price(22790.0) == Outcome(Action.SOLD, "stop_entry")
    assert files.rows()[-1]["exit_reason"] == "stop_entry" and manager.position is None
    assert manager.on_orders(orders(long=NAN), T0 + MINUTE, 22790.0, **IDS) == BOUGHT
    assert manager.on_orders(orders(short=NAN), T0 + 2 * MINUTE, 22790.0, **IDS) == SOLD


def test_armed_stops_resume_after_a_restart_and_a_crash_neither_loses_nor_repeats(
        files, broker):
    """
    Given a buy stop armed, then the process killed right after the stop's order intent was
        saved (before the order went out)
    When a new manager starts on the same files
    Then reconcile says the order was never placed, the stop is not armed again (spent with
        the intent in one save) and a restart with an armed stop lists it as resumed
    """
    manager = files.manager(price_tick=0.01)
    manager.on_orders(orders(long=23100.0), T0, 23000.0, **IDS)
    notes = files.manager(price_tick=0.01).reconcile()
    assert notes == ["resuming armed stop entry: BUY stop 23100 (BBandLE, OCA BollingerBands)"]
    broker.fail_send = Crash("killed before the order went out")
    with pytest.raises(Crash):
        manager.on_price(23150.0)
    restarted = files.manager(price_tick=0.01)
    assert restarted.state.stop_entries == [] and restarted.state.pending is not None
    assert "never placed" in " ".join(restarted.reconcile())
    assert restarted.position is None and files.rows() == []


def test_a_stop_reached_with_nothing_to_do_is_spent(files, broker):
    """
    Given a flat manager with a sell stop armed (it can only close a long) and a buy stop in
        the same OCA group
    When the price falls through the sell stop
    Then no order is sent and the sell stop is gone, as in the backtester's long-only mode;
        not filled, it leaves its OCA group's buy stop armed
    """
    manager = files.manager(price_tick=0.01)
    manager.on_orders(orders(long=23100.0, short=22000.0), T0, 23000.0, **IDS)
    assert manager.on_price(21900.0) is None
    assert broker.sent == [] and [e.side for e in manager.state.stop_entries] == ["buy"]


def test_the_loop_arms_the_strategy_stops_and_the_price_poll_fills_them(files, broker, tmp_path):
    """
    Given the bot loop running ChannelBreakOut on flat candles (high 101) with a 0.01 tick,
        flat, and a last price of 102
    When it runs for two candles
    Then the first cycle arms a buy stop at 101.01 and a sell stop at 98.99, the poll between
        candles (while flat) sees 102 and buys at market, journaled as stop_entry
    """
    from bot.runner import TradingBot
    from strategies.registry import get_strategy
    from tests.test_bot_runner import FakeClient

    clock = files.clock
    clock.advance(10)  # 10 s into a candle
    positions = files.manager(price_tick=0.01, strategy_name="channel_breakout")
    broker.price = 102.0
    strategy = get_strategy("channel_breakout")
    bot = TradingBot(
        client=FakeClient(clock, prices={"next": 102.0}), positions=positions,
        strategy=strategy, strategy_params=strategy.params(), clock=clock,
        candles_csv=tmp_path / "candles.csv", timeframe_ms=MINUTE, history_candles=50,
        price_poll_seconds=5, close_offset_seconds=2, heartbeat_seconds=300, max_candles=2,
        price_tick=0.01)
    first = bot.run_cycle()
    assert first.outcome == NOTHING
    assert [(e.side, e.level) for e in positions.state.stop_entries] == [
        ("buy", 101.01), ("sell", 98.99)]
    assert bot.run() == 0
    buys = [r for r in files.rows() if r["side"] == "buy"]
    assert len(buys) == 1 and buys[0]["exit_reason"] == "stop_entry"
    assert positions.position is not None


def test_arming_is_logged_once_and_a_moved_stop_only_at_debug(files, caplog):
    """
    Given a flat manager
    When a candle arms a buy stop, the next moves it, and the third cancels it
    Then the log says "armed" and "cancelled" at INFO and "moved" only at DEBUG
    """
    import logging

    manager = files.manager(price_tick=0.01)
    with caplog.at_level(logging.DEBUG, logger="paperbot"):
        manager.on_orders(orders(long=23100.0), T0, 23000.0, **IDS)
        manager.on_orders(orders(long=23090.0), T0 + MINUTE, 23000.0, **IDS)
        manager.on_orders(orders(cancel_long=True), T0 + 2 * MINUTE, 23000.0, **IDS)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if "Stop entry" in r.getMessage()]
    assert [level for level, _ in lines] == ["INFO", "DEBUG", "INFO"]
    assert [text.split(":")[0] for _, text in lines] == [
        "Stop entry armed", "Stop entry moved", "Stop entry cancelled"]
