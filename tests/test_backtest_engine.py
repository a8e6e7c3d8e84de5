"""The simulated broker: fills at the next open, SL/TP inside bars, gaps, costs, reversal."""

import numpy as np
import pytest

from backtest.engine import (
    END,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    BacktestError,
    FillRules,
    _first_level_bar,
    protective_levels,
    resolve_bar,
    simulate,
    simulate_loop,
)

NO_COSTS = {"commission": 0.0, "slippage": 0.0, "qty": 1.0}


def bars(rows):
    """Arrays (open, high, low, close) from (o, h, l, c) tuples."""
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    return o, h, lo, c


def run(rows, signal, **rules):
    """Simulate hand-made bars and signals under the given rules (no costs by default)."""
    o, h, lo, c = bars(rows)
    options = {**NO_COSTS, "stop_loss": None, "take_profit": None, **rules}
    return simulate(o, h, lo, c, np.array(signal, dtype=np.int8), FillRules(**options))


FLAT = (100.0, 100.5, 99.5, 100.0)


def test_buy_fills_at_next_open():
    """
    Given a BUY signal on bar 1 and a SELL signal on bar 3
    When the backtest runs long-only
    Then the long enters at bar 2's open and exits at bar 4's open by signal
    """
    rows = [FLAT, FLAT, (101.0, 102, 100, 101), FLAT, (103.0, 104, 102, 103), FLAT]
    t = run(rows, [0, 1, 0, -1, 0, 0])
    assert len(t) == 1
    assert (t.entry_bar[0], t.entry_price[0]) == (2, 101.0)
    assert (t.exit_bar[0], t.exit_price[0], t.reason[0]) == (4, 103.0, SIGNAL)


def test_signal_on_last_bar_is_never_filled():
    """
    Given a BUY signal on the last bar only
    When the backtest runs
    Then there is no trade
    """
    assert len(run([FLAT, FLAT, FLAT], [0, 0, 1])) == 0


def test_long_only_ignores_buy_while_long_and_sell_while_flat():
    """
    Given SELL while flat, then BUY, BUY again while long, then SELL
    When the backtest runs long-only
    Then there is one long trade from the first BUY to the SELL
    """
    t = run([FLAT] * 8, [-1, 0, 1, 0, 1, 0, -1, 0])
    assert len(t) == 1
    assert (t.direction[0], t.entry_bar[0], t.exit_bar[0]) == (1, 3, 7)


def test_stop_loss_inside_a_bar_fills_at_the_level():
    """
    Given a long entered at 100 with a 2 % stop and a later bar whose low reaches 97
    When the backtest runs
    Then the trade exits on that bar at exactly 98 by stop-loss
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (99.5, 99.8, 97.0, 98.5), FLAT]
    t = run(rows, [1, 0, 0, 0], stop_loss=0.02, take_profit=0.04)
    assert (t.exit_bar[0], t.exit_price[0], t.reason[0]) == (2, pytest.approx(98.0), STOP_LOSS)


def test_take_profit_inside_a_bar_fills_at_the_level():
    """
    Given a long entered at 100 with a 4 % take-profit and a later bar whose high reaches 105
    When the backtest runs
    Then the trade exits on that bar at exactly 104 by take-profit
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (101.0, 105.0, 100.5, 104.5), FLAT]
    t = run(rows, [1, 0, 0, 0], stop_loss=0.02, take_profit=0.04)
    assert (t.exit_bar[0], t.exit_price[0], t.reason[0]) == (2, pytest.approx(104.0), TAKE_PROFIT)


@pytest.mark.parametrize(
    ("bar", "reason", "price"),
    [
        ((102.0, 105.0, 97.0, 100.0), TAKE_PROFIT, 104.0),  # open nearer the high: high first
        ((99.5, 105.0, 97.0, 100.0), STOP_LOSS, 98.0),  # open nearer the low: low first
        ((101.0, 105.0, 97.0, 100.0), STOP_LOSS, 98.0),  # exactly midway: stop first
    ],
)
def test_both_levels_in_one_bar_follow_the_path_rule(bar, reason, price):
    """
    Given a long entered at 100 (SL 98, TP 104) and a bar reaching both levels
    When the backtest resolves that bar
    Then the level on the assumed path's first leg fills, and the stop on a tie
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), bar, FLAT]
    t = run(rows, [1, 0, 0, 0], stop_loss=0.02, take_profit=0.04)
    assert (t.exit_bar[0], t.reason[0]) == (2, reason)
    assert t.exit_price[0] == pytest.approx(price)


def test_gap_through_the_stop_fills_at_the_open():
    """
    Given a long entered at 100 with a 2 % stop and a bar that opens at 95
    When the backtest runs
    Then the stop fills at 95, the open, not at 98
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (95.0, 96.0, 94.0, 95.5), FLAT]
    t = run(rows, [1, 0, 0, 0], stop_loss=0.02, take_profit=0.04)
    assert (t.exit_bar[0], t.exit_price[0], t.reason[0]) == (2, 95.0, STOP_LOSS)


def test_gap_through_the_target_fills_at_the_open():
    """
    Given a long entered at 100 with a 4 % take-profit and a bar that opens at 106
    When the backtest runs
    Then the take-profit fills at 106, the open
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (106.0, 107.0, 105.0, 106.5), FLAT]
    t = run(rows, [1, 0, 0, 0], stop_loss=0.02, take_profit=0.04)
    assert (t.exit_price[0], t.reason[0]) == (106.0, TAKE_PROFIT)


def test_levels_are_checked_on_the_entry_bar():
    """
    Given a long entered at the open of a bar whose low falls 3 % below that open
    When the backtest runs with a 2 % stop
    Then the trade is stopped out on its entry bar
    """
    rows = [FLAT, (100.0, 100.2, 97.0, 98.0), FLAT]
    t = run(rows, [1, 0, 0], stop_loss=0.02)
    assert (t.entry_bar[0], t.exit_bar[0], t.reason[0]) == (1, 1, STOP_LOSS)


def test_signal_exit_at_the_open_comes_before_a_stop_in_that_bar():
    """
    Given a long with a SELL signal on bar 2 and bar 3 dropping through the stop after its open
    When the backtest runs
    Then the trade exits at bar 3's open by signal
    """
    rows = [FLAT, FLAT, FLAT, (99.0, 99.2, 90.0, 91.0), FLAT]
    t = run(rows, [1, 0, -1, 0, 0], stop_loss=0.02)
    assert (t.exit_bar[0], t.exit_price[0], t.reason[0]) == (3, 99.0, SIGNAL)


def test_a_stop_hit_far_after_entry_is_found():
    """
    Given a long whose stop is reached only 700 bars after the entry
    When the first SL/TP bar is searched
    Then it is bar 701, beyond the first scan windows
    """
    rows = [FLAT] * 701 + [(99.0, 99.5, 97.0, 97.5)] + [FLAT] * 5
    t = run(rows, [1] + [0] * 706, stop_loss=0.02)
    assert (t.exit_bar[0], t.reason[0]) == (701, STOP_LOSS)


def test_first_level_bar_returns_the_limit_when_nothing_is_hit():
    """
    Given bars that never reach a stop at 90 or a target at 110
    When the first level bar is searched up to bar 50
    Then the limit 50 is returned
    """
    high, low = np.full(100, 100.5), np.full(100, 99.5)
    assert _first_level_bar(1, high, low, 0, 50, 90.0, 110.0) == 50
    assert _first_level_bar(-1, high, low, 0, 50, 110.0, 90.0) == 50


def test_new_entry_after_a_stop_needs_a_signal_from_the_exit_bar_on():
    """
    Given a long stopped out on bar 2, an ignored BUY on bar 1 and a new BUY on bar 2
    When the backtest runs
    Then the second trade enters at bar 3's open
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (99.0, 99.5, 97.0, 98.0), (98.0, 99, 97.5, 98), FLAT]
    t = run(rows, [1, 1, 1, 0, 0], stop_loss=0.02)
    assert list(t.entry_bar) == [1, 3]
    assert t.reason[0] == STOP_LOSS


def test_commission_is_charged_per_side_and_kept_in_the_fill_prices():
    """
    Given a 0.1 % commission
    When a long enters at 100 and exits at 110 by signal
    Then prices are the opens (commission is money, not price)
    """
    rows = [FLAT, FLAT, FLAT, (110.0, 111, 109, 110), FLAT]
    t = run(rows, [1, 0, -1, 0, 0], commission=0.001)
    assert (t.entry_price[0], t.exit_price[0]) == (100.0, 110.0)


def test_slippage_worsens_market_and_stop_fills_but_not_the_take_profit():
    """
    Given 1 % slippage, a long entered at the open 100 and later a take-profit and a stop trade
    When the backtest runs
    Then the entry fills at 101, the stop below its level and the take-profit at its level
    """
    rows = [FLAT, (100.0, 100.5, 99.5, 100), (103.0, 106.0, 102.9, 105.0),
            (100.0, 100.5, 99.5, 100), (100.0, 100.2, 96.0, 97.0), FLAT]
    t = run(rows, [1, 0, 1, 0, 0, 0], slippage=0.01, stop_loss=0.02, take_profit=0.04)
    assert t.entry_price[0] == pytest.approx(101.0)
    assert (t.reason[0], t.exit_price[0]) == (TAKE_PROFIT, pytest.approx(101.0 * 1.04))
    assert t.entry_price[1] == pytest.approx(101.0)
    assert t.reason[1] == STOP_LOSS
    assert t.exit_price[1] == pytest.approx(101.0 * 0.98 * 0.99)


def test_open_position_at_the_end_is_marked_to_the_last_close():
    """
    Given a BUY and no exit before the data ends
    When the backtest runs
    Then the trade is reported open, its exit price is the last close
    """
    rows = [FLAT, FLAT, (100.0, 103, 99, 102.5)]
    t = run(rows, [1, 0, 0])
    assert (t.reason[0], t.exit_bar[0], t.exit_price[0]) == (END, 2, 102.5)
    assert bool(t.is_open[0])


def test_long_short_reverses_at_the_same_fill_and_ignores_same_direction():
    """
    Given BUY, BUY, SELL, SELL, BUY signals
    When the backtest runs long-short
    Then a long is reversed into a short at one open and the short into a long at another
    """
    rows = [(100.0 + i, 101 + i, 99 + i, 100 + i) for i in range(8)]
    t = run(rows, [1, 1, -1, -1, 1, 0, 0, 0], mode="long-short")
    assert list(t.direction) == [1, -1, 1]
    assert list(t.entry_bar) == [1, 3, 5]
    assert list(t.exit_bar[:2]) == [3, 5]
    assert t.exit_price[0] == t.entry_price[1] == 103.0
    assert t.reason[2] == END


def test_long_short_opens_a_short_from_flat():
    """
    Given a SELL signal first
    When the backtest runs long-short
    Then a short opens at the next open
    """
    t = run([FLAT] * 4, [-1, 0, 0, 0], mode="long-short")
    assert (t.direction[0], t.entry_bar[0]) == (-1, 1)


def test_short_stop_and_target_mirror_the_long_ones():
    """
    Given a short entered at 100 with SL 2 % and TP 4 %
    When its levels are computed and a bar rising to 103 is resolved
    Then the stop is 102, the target 96 and the bar stops the short at 102
    """
    rules = FillRules(mode="long-short", stop_loss=0.02, take_profit=0.04)
    stop, target = protective_levels(100.0, -1, rules)
    assert (stop, target) == (pytest.approx(102.0), pytest.approx(96.0))
    assert resolve_bar(-1, 100.5, 103.0, 100.0, stop, target)[:2] == (STOP_LOSS, stop)


def test_levels_are_infinite_when_switched_off():
    """
    Given no stop-loss and no take-profit
    When the levels of a long and a short are computed
    Then they are infinitely far away
    """
    rules = FillRules(stop_loss=None, take_profit=None)
    assert protective_levels(100.0, 1, rules) == (-np.inf, np.inf)
    assert protective_levels(100.0, -1, rules) == (np.inf, -np.inf)


@pytest.mark.parametrize(
    ("direction", "bar", "expected"),
    [
        (1, (102.0, 105.0, 97.0), (TAKE_PROFIT, 104.0, 104.0, 102.0)),
        (1, (99.5, 105.0, 97.0), (STOP_LOSS, 98.0, 99.5, 98.0)),
        (1, (100.5, 101.0, 97.0), (STOP_LOSS, 98.0, 101.0, 98.0)),  # high met before the stop
        (1, (99.5, 105.0, 99.0), (TAKE_PROFIT, 104.0, 104.0, 99.0)),  # low met before the TP
        (-1, (98.0, 103.0, 95.0), (TAKE_PROFIT, 96.0, 98.0, 96.0)),
        (-1, (99.0, 103.0, 95.0), (STOP_LOSS, 102.0, 102.0, 99.0)),  # midway: stop first
    ],
)
def test_resolve_bar_reports_the_fill_and_the_extremes_seen_before_it(direction, bar, expected):
    """
    Given a position entered at 100 with SL 2 % / TP 4 % and a bar reaching a level
    When the bar is resolved
    Then the reason, the fill price and the extremes met before the fill are as on the path
    """
    stop, target = (98.0, 104.0) if direction > 0 else (102.0, 96.0)
    got = resolve_bar(direction, *bar, stop, target)
    assert got[0] == expected[0]
    assert got[1:] == pytest.approx(expected[1:])


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"mode": "both"}, "mode"),
        ({"qty": 0}, "qty"),
        ({"commission": -0.1}, "commission"),
        ({"slippage": 1.5}, "slippage"),
        ({"stop_loss": 0}, "stop-loss"),
        ({"take_profit": -1}, "take-profit"),
    ],
)
def test_bad_rules_raise_one_line_errors(options, words):
    """
    Given a fill rule out of range
    When the rules are built
    Then a one-line BacktestError names the setting
    """
    with pytest.raises(BacktestError, match=words) as caught:
        FillRules(**options)
    assert "\n" not in str(caught.value)


def test_signals_of_another_length_are_rejected():
    """
    Given 3 candles and 2 signals
    When the backtest runs
    Then it raises a BacktestError
    """
    o, h, lo, c = bars([FLAT] * 3)
    with pytest.raises(BacktestError, match="length"):
        simulate(o, h, lo, c, np.zeros(2, dtype=np.int8), FillRules())


def test_progress_is_reported_up_to_one():
    """
    Given 1,000 bars with a trade every 10 bars
    When the trade-by-trade reference and the vectorised fills run with a progress callback
    Then each callback sees increasing fractions ending at 1.0, the reference about every 1 %
    """
    signal = np.zeros(1000, dtype=np.int8)
    signal[0::10], signal[5::10] = 1, -1
    o = np.full(1000, 100.0)
    for fills, calls in ((simulate_loop, 10), (simulate, 2)):
        seen = []
        fills(o, o + 1, o - 1, o, signal, FillRules(**NO_COSTS), progress=seen.append)
        assert seen[-1] == 1.0
        assert len(seen) > calls
        assert seen == sorted(seen)


def test_trades_from_rows_fills_the_first_fields_and_keeps_dtypes():
    """
    Given two trade rows of the eight signal-engine fields and one of all eleven broker fields
    When they become Trades
    Then each field is an array of its dtype, and the optional fields are set only when given
    """
    from backtest.engine import trades_from_rows

    short = trades_from_rows([(1, 3, 10.0, 5, 11.0, 0, 11.5, 9.5), (-1, 6, 12.0, 8, 11.0, 1,
                                                                      12.5, 10.5)])
    assert short.direction.dtype == np.int8 and short.entry_bar.tolist() == [3, 6]
    assert short.qty is None and short.seen_low.tolist() == [9.5, 10.5]
    full = trades_from_rows([(1, 3, 10.0, 5, 11.0, 0, 11.5, 9.5, 0.1, 10.2, 9.9)], width=11)
    assert full.qty.tolist() == [0.1] and full.entry_low.dtype == np.float64
    assert len(trades_from_rows([], width=11)) == 0
