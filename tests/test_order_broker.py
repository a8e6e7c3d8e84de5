"""The order broker (backtest.orders): TradingView's fills for stop entries, OCA, reversals,
percent-of-equity sizing and the max intraday loss rule, on small hand-made bars."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.engine import END, SIGNAL, STOP_LOSS, BacktestError, FillRules
from backtest.orders import (
    INTRADAY_LOSS,
    OrderRules,
    percent_size,
    round_stop,
    simulate_orders,
)
from backtest.trading_day import day_numbers, parse_day_start
from strategies.orders import Intents

NAN = math.nan


def bars(*rows: tuple[float, float, float, float]) -> tuple[np.ndarray, ...]:
    """(open, high, low, close) arrays from rows."""
    return tuple(np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))


def plan(n: int, long: dict[int, float] | None = None, short: dict[int, float] | None = None,
         cancel_long: tuple[int, ...] = (), cancel_short: tuple[int, ...] = ()) -> Intents:
    """Intents: ``long``/``short`` map a bar to its entry's stop level (NaN: market)."""
    def side(entries):
        placed = np.zeros(n, dtype=bool)
        level = np.full(n, np.nan)
        for bar, stop in (entries or {}).items():
            placed[bar], level[bar] = True, stop
        return placed, level

    le, ls = side(long)
    se, ss = side(short)
    lc = np.isin(np.arange(n), cancel_long)
    sc = np.isin(np.arange(n), cancel_short)
    return Intents(le, ls, lc, se, ss, sc)


RULES = FillRules(mode="long-short", qty=1, commission=0, stop_loss=None, take_profit=None)
TICK = OrderRules(mintick=0.01)


def run(rows, intents, rules=RULES, orules=TICK, capital=1000.0, day=None):
    """Simulate and return the trades as tuples (dir, entry bar, entry, exit bar, exit, why)."""
    o, h, lo, c = bars(*rows)
    trades = simulate_orders(o, h, lo, c, intents, rules, orules, capital, day)
    return [(int(t[0]), int(t[1]), float(t[2]), int(t[3]), float(t[4]), int(t[5]))
            for t in zip(trades.direction, trades.entry_bar, trades.entry_price,
                         trades.exit_bar, trades.exit_price, trades.reason, strict=True)], trades


FLAT = (10.0, 10.0, 10.0, 10.0)


def test_a_buy_stop_fills_at_its_level_from_the_next_bar_on():
    """
    Given a buy stop at 10.5 placed on bar 0 and bars that reach 10.5 only on bar 2
    When the broker runs
    Then the long opens on bar 2 at exactly 10.5 (not on bar 0, where it was placed)
    """
    rows = [(10, 11, 9, 10), (10, 10.4, 9.8, 10), (10, 10.8, 9.9, 10.6), FLAT]
    trades, _ = run(rows, plan(4, long={0: 10.5}))
    assert trades == [(1, 2, 10.5, 3, 10.0, END)]


def test_a_stop_gapped_over_fills_at_the_open():
    """
    Given a buy stop at 10.5 and a sell stop at 9.5, and bars that open beyond them
    When the broker runs
    Then the buy fills at the open 11 (max(open, stop)) and the sell at the open 9
    """
    rows = [FLAT, (11, 11.2, 10.9, 11), (9, 9.1, 8.8, 9), FLAT]
    trades, _ = run(rows, plan(4, long={0: 10.5}, short={1: 9.5}))
    assert trades == [(1, 1, 11.0, 2, 9.0, SIGNAL), (-1, 2, 9.0, 3, 10.0, END)]


def test_stop_levels_are_rounded_to_the_tick_buy_up_sell_down():
    """
    Given off-grid levels and a tick of 0.01 (and of 0.00001)
    When they are rounded
    Then buy stops go up and sell stops down; a level within 1e-4 tick of the grid stays on it
        and equals the price parsed from text
    """
    assert round_stop(10.001, 1, 0.01) == 10.01 and round_stop(10.009, -1, 0.01) == 10.0
    assert round_stop(10.0100000001, 1, 0.01) == 10.01
    assert round_stop(0.9796 + 0.00001, 1, 0.00001) == float("0.97961")
    assert math.isnan(round_stop(NAN, 1, 0.01))


def test_an_entry_with_a_pending_id_replaces_it_and_cancel_removes_it():
    """
    Given a buy stop at 12 on bar 0 replaced by one at 10.5 on bar 1, and a sell stop placed
        on bar 1 and cancelled on bar 2
    When bar 3 reaches both 10.5 and the old 12 and bar 4 falls through the cancelled level
    Then one long opens at 10.5 on bar 3 and nothing else happens
    """
    rows = [FLAT, FLAT, FLAT, (10, 12.5, 9.9, 12), (12, 12, 8, 8), FLAT]
    trades, _ = run(rows, plan(6, long={0: 12.0, 1: 10.5}, short={1: 9.0},
                               cancel_short=(2,)))
    assert trades == [(1, 3, 10.5, 5, 10.0, END)]


def test_orders_fill_along_the_intrabar_path():
    """
    Given a buy stop at 11 and a sell stop at 9 both placed while flat, not in an OCA group
    When a bar opens at 10 with its low (8.5) nearer than its high (12): open-low-high-close
    Then the sell stop fills first at 9 (short), then the buy stop, sized 1 when placed flat,
        closes it at 11; with the high nearer the order is the other way round
    """
    rows = [FLAT, (10, 12, 8.5, 11.5), FLAT]
    trades, _ = run(rows, plan(3, long={0: 11.0}, short={0: 9.0}))
    assert trades == [(-1, 1, 9.0, 1, 11.0, SIGNAL)]
    rows = [FLAT, (10, 11.5, 7, 8), FLAT]  # high nearer: open-high-low-close
    trades, _ = run(rows, plan(3, long={0: 11.0}, short={0: 9.0}))
    assert trades == [(1, 1, 11.0, 1, 9.0, SIGNAL)]


def test_an_oca_cancel_group_fill_cancels_the_other_order():
    """
    Given the same two stops in one OCA cancel group
    When the same bar reaches both
    Then only the first on the path fills; the other is cancelled
    """
    rows = [FLAT, (10, 12, 8.5, 11.5), FLAT]
    trades, _ = run(rows, plan(3, long={0: 11.0}, short={0: 9.0}),
                    orules=OrderRules(mintick=0.01, oca=True))
    assert trades == [(-1, 1, 9.0, 2, 10.0, END)]


def test_a_reversal_is_one_order_of_position_plus_size_and_pyramiding_is_refused():
    """
    Given a market long, a second market long while long, and a short stop placed while long
    When the broker runs with 2 contracts per order
    Then the second long does nothing, and the short stop closes 2 and opens 2 short (one
        order of 4) at its level
    """
    rows = [FLAT, FLAT, FLAT, (10, 10, 9, 9), FLAT]
    rules = FillRules(mode="long-short", qty=2, commission=0, stop_loss=None, take_profit=None)
    trades, result = run(rows, plan(5, long={0: NAN, 1: NAN}, short={2: 9.5}), rules=rules)
    assert trades == [(1, 1, 10.0, 3, 9.5, SIGNAL), (-1, 3, 9.5, 4, 10.0, END)]
    assert result.qty.tolist() == [2.0, 2.0]


def test_a_stop_in_the_held_direction_is_not_placed():
    """
    Given a long held and a buy stop placed while long, then a short market exit
    When a later bar reaches the buy stop's level after the long is gone
    Then the stop never fills: it was refused when placed (pyramiding 1)
    """
    rows = [FLAT, FLAT, FLAT, (10, 12, 10, 12), FLAT]
    trades, _ = run(rows, plan(5, long={0: NAN, 1: 11.0}, short={1: NAN}))
    assert trades == [(1, 1, 10.0, 2, 10.0, SIGNAL), (-1, 2, 10.0, 4, 10.0, END)]


def test_long_only_a_short_entry_closes_the_long_and_does_nothing_when_flat():
    """
    Given long-only mode, a short stop while flat, then a long and a short stop under it
    When the bars fall through both levels
    Then the first short does nothing and the second closes the long at its level
    """
    rows = [FLAT, (10, 10, 8, 9), (9, 10, 9, 10), (10, 10, 8.5, 9), FLAT]
    rules = FillRules(mode="long-only", qty=1, commission=0, stop_loss=None, take_profit=None)
    trades, _ = run(rows, plan(5, short={0: 9.5, 2: 9.0}, long={1: NAN}), rules=rules)
    assert trades == [(1, 2, 9.0, 3, 9.0, SIGNAL)]


def test_percent_of_equity_sizes_from_the_signal_close_floored_to_the_lot():
    """
    Given 15 % of equity, capital 1,000,000, a signal close of 1.13188 and a lot of 0.1
    When the size is computed (and with a 0.1 % commission)
    Then it is 132,522.8 contracts (TradingView's first Supertrend trade), less with the fee
    """
    assert percent_size(15, 1_000_000, 1.13188, 0.0, 0.1) == 132522.8
    assert percent_size(15, 1_000_000, 1.13188, 0.001, 0.1) == 132390.4
    assert percent_size(15, -5, 1.0, 0.0, 0.1) == 0.0


def test_percent_sizing_uses_equity_with_the_open_pnl_at_the_signal_close():
    """
    Given 50 % of equity (capital 1000) and a long opened at 10, then a short signal on a bar
        closing at 12
    When the broker reverses
    Then the short's size is 50 % of 1000 + 2 x 50 open P&L = 1100, over 12: 45.8 (lot 0.1)
    """
    rows = [FLAT, FLAT, (12, 12, 12, 12), (12, 12, 12, 12), FLAT]
    orules = OrderRules(mintick=0.01, lot=0.1, qty_percent=50)
    trades, result = run(rows, plan(5, long={0: NAN}, short={2: NAN}), orules=orules)
    assert result.qty.tolist() == [50.0, 45.8]
    assert trades[0] == (1, 1, 10.0, 3, 12.0, SIGNAL)


def test_max_intraday_loss_closes_at_the_close_and_stops_until_the_next_day():
    """
    Given a long of 10 contracts on capital 1000, a 5 % max intraday loss and two trading days
    When a bar closes 6 lower on the first day, and entries keep coming
    Then the long is closed at that close (reason max_intraday_loss), no order fills for the
        rest of the day, and the next day's entry fills again
    """
    rows = [FLAT, FLAT, (10, 10, 4, 4), (4, 4, 4, 4), (4, 4, 4, 4), (4, 4, 4, 4), FLAT]
    rules = FillRules(mode="long-short", qty=10, commission=0, stop_loss=None, take_profit=None)
    day = np.array([0, 0, 0, 0, 1, 1, 1])
    intents = plan(7, long={0: NAN, 2: NAN, 3: NAN, 4: NAN})
    trades, _ = run(rows, intents, rules=rules,
                    orules=OrderRules(mintick=0.01, intraday_loss=5), day=day)
    assert trades == [(1, 1, 10.0, 2, 4.0, INTRADAY_LOSS), (1, 5, 4.0, 6, 10.0, END)]


def test_stop_loss_exits_run_on_the_same_path_after_a_stop_entry():
    """
    Given a buy stop at 10.5 and a 10 % stop-loss
    When the entry bar later falls to 9 (open-high-low-close)
    Then the long opens at 10.5 and is stopped out on that bar at 9.45
    """
    rows = [FLAT, (10, 10.6, 9, 9.2), FLAT]
    rules = FillRules(mode="long-short", qty=1, commission=0, stop_loss=0.1, take_profit=None)
    trades, _ = run(rows, plan(3, long={0: 10.5}), rules=rules)
    assert trades == [(1, 1, 10.5, 1, pytest.approx(9.45), STOP_LOSS)]


def test_bad_broker_rules_are_one_line_errors():
    """
    Given a zero mintick, a negative lot, 0 % or 150 % of equity
    When the broker rules are built
    Then each raises BacktestError with one line naming the option
    """
    for kwargs, word in (({"mintick": 0.0}, "mintick"), ({"mintick": 0.01, "lot": -1}, "lot"),
                         ({"mintick": 0.01, "qty_percent": 0}, "qty-percent"),
                         ({"mintick": 0.01, "qty_percent": 150}, "qty-percent"),
                         ({"mintick": 0.01, "intraday_loss": 0}, "intraday loss")):
        with pytest.raises(BacktestError, match=word) as caught:
            OrderRules(**kwargs)
        assert "\n" not in str(caught.value)
    with pytest.raises(BacktestError, match="differ in length"):
        simulate_orders(*bars(FLAT, FLAT), plan(3), RULES, TICK, 1000.0)


def test_the_trading_day_starts_at_the_given_local_time():
    """
    Given bars at 20:00 and 21:00 UTC on a winter day and 'HH:MM ZONE' day starts
    When their trading days are numbered
    Then with '17:00 America/New_York' (22:00 UTC) both are one day, with '21:00 UTC' they are
        two, and a malformed day start is a one-line error
    """
    stamps = np.array([1_704_312_000_000, 1_704_315_600_000])  # 2024-01-03 20:00, 21:00 UTC
    ny = day_numbers(stamps, "17:00 America/New_York")
    assert ny[0] == ny[1]
    utc = day_numbers(stamps, "21:00 UTC")
    assert utc[1] == utc[0] + 1
    assert parse_day_start("00:00 UTC") == ("UTC", 0)
    for bad in ("17h NY", "25:00 UTC", "10:00 Mars/Base"):
        with pytest.raises(BacktestError) as caught:
            parse_day_start(bad)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("strategy", ["macd", "supertrend"])
@pytest.mark.parametrize(("mode", "sl", "tp"), [("long-short", None, None),
                                               ("long-only", 0.002, 0.004),
                                               ("long-short", 0.002, 0.004)])
def test_market_signals_through_the_broker_equal_the_signal_engine(strategy, mode, sl, tp):
    """
    Given TradingView's 23,054 EURUSD bars and a market-signal strategy's signals
    When they run through the signal engine and, as market entries, through the order broker
        (with and without a 0.2 % stop-loss / 0.4 % take-profit, 0.1 % commission)
    Then both give the same trades: sides, entry and exit bars, prices and exit reasons
    """
    from backtest.data import load_candles
    from backtest.engine import simulate
    from strategies.orders import intents
    from strategies.registry import get_strategy
    from tests.conftest import require_tv_reference

    candles = load_candles(require_tv_reference("ohlcv.csv"))
    prices = [candles[k].to_numpy() for k in ("open", "high", "low", "close")]
    frame = get_strategy(strategy).compute(candles)
    rules = FillRules(mode=mode, qty=1, commission=0.001, stop_loss=sl, take_profit=tp)
    engine = simulate(*prices, frame["signal"].to_numpy(), rules)
    broker = simulate_orders(*prices, intents(frame), rules, OrderRules(mintick=1e-5), 1e6)
    assert len(engine) == len(broker) > 100
    for name in ("direction", "entry_bar", "exit_bar", "reason"):
        assert np.array_equal(getattr(engine, name), getattr(broker, name)), name
    assert np.allclose(engine.entry_price, broker.entry_price, rtol=0, atol=1e-12)
    assert np.allclose(engine.exit_price, broker.exit_price, rtol=0, atol=1e-12)


def test_an_order_refused_at_the_fill_does_not_cancel_its_oca_group():
    """
    Given long-only mode, an OCA group of a sell stop at 9.5 (nothing to close while flat) and
        a buy stop at 11
    When a bar falls through 9.5 and a later one rises through 11
    Then the sell stop does nothing (not filled) and leaves the buy stop armed, which fills
    """
    rows = [FLAT, (10, 10, 9, 9.8), (10, 11.5, 10, 11), FLAT]
    rules = FillRules(mode="long-only", qty=1, commission=0, stop_loss=None, take_profit=None)
    trades, _ = run(rows, plan(4, long={0: 11.0}, short={0: 9.5}), rules=rules,
                    orules=OrderRules(mintick=0.01, oca=True))
    assert trades == [(1, 2, 11.0, 3, 10.0, END)]
