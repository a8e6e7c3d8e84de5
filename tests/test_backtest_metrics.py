"""Money per trade, the equity curve and the Performance Summary on a hand-computed example."""

import statistics
from datetime import UTC, datetime

import numpy as np
import pytest

from backtest.engine import FillRules, simulate
from backtest.ledger import _segment_extreme, build_ledger, equity_curve
from backtest.metrics import (
    exit_reasons,
    longest_streak,
    max_drawdown,
    max_run_up,
    month_end_positions,
    monthly_returns,
    performance_summary,
    sharpe_sortino,
)

# Two long trades: 100 -> 104 (bars 1..3) and 103 -> 102 (bars 4..5), 0.1 % commission.
ROWS = [(100, 101, 99, 100), (100, 102, 98, 101), (101, 105, 100, 104), (104, 104.5, 103, 103),
        (103, 103.5, 101, 102), (102, 102.5, 100, 101)]
SIGNAL = [1, 0, -1, 1, -1, 0]
RULES = FillRules(qty=1.0, commission=0.001, stop_loss=None, take_profit=None)
DAY_MS = 86_400_000


def example(rows=ROWS, signal=SIGNAL, rules=RULES):
    """Trades, ledger and equity (capital 1000) of the hand-made example."""
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    trades = simulate(o, h, lo, c, np.array(signal, dtype=np.int8), rules)
    ledger = build_ledger(trades, h, lo, rules)
    return trades, ledger, equity_curve(trades, ledger, c, rules, 1000.0), (o, h, lo, c)


def test_ledger_commission_and_pnl_per_trade():
    """
    Given a 100 -> 104 and a 103 -> 102 long at 0.1 % per side
    When the ledger is built
    Then commissions are 0.204 and 0.205 and net P&L 3.796 and -1.205
    """
    _, ledger, _, _ = example()
    assert ledger.commission == pytest.approx([0.204, 0.205])
    assert ledger.gross_pnl == pytest.approx([4.0, -1.0])
    assert ledger.net_pnl == pytest.approx([3.796, -1.205])
    assert ledger.cumulative_pnl == pytest.approx([3.796, 2.591])
    assert list(ledger.bars) == [2, 1]


def test_ledger_run_up_and_drawdown_use_the_bars_held():
    """
    Given the two example trades
    When the ledger is built
    Then run-ups are 5 and 0.5 and drawdowns -2 and -2 (exit bars count up to their open)
    """
    _, ledger, _, _ = example()
    assert ledger.run_up == pytest.approx([5.0, 0.5])
    assert ledger.drawdown == pytest.approx([-2.0, -2.0])


def test_equity_is_marked_at_every_close():
    """
    Given the two example trades and a capital of 1000
    When the equity curve is built
    Then it holds open P&L less entry commission while in a trade and realised P&L after
    """
    _, _, equity, _ = example()
    assert equity == pytest.approx([1000, 1000.9, 1003.9, 1003.796, 1002.693, 1002.591])


def test_open_trade_carries_only_its_entry_commission():
    """
    Given a long entered at 100 still open when the last close is 101
    When the ledger and equity are built
    Then its net P&L is 1 - 0.1 and the final equity includes it
    """
    rows = [(100, 101, 99, 100), (100, 102, 98, 101), (101, 103, 100, 101)]
    _, ledger, equity, _ = example(rows, [1, 0, 0])
    assert ledger.net_pnl == pytest.approx([0.9])
    assert ledger.commission == pytest.approx([0.1])
    assert ledger.run_up == pytest.approx([3.0])
    assert equity[-1] == pytest.approx(1000.9)


def test_segment_extreme_handles_empty_and_final_segments():
    """
    Given values 0..9 and segments [1,3), [3,3) and [7,10)
    When the segment maxima are computed
    Then they are 2, the empty marker and 9
    """
    got = _segment_extreme(np.arange(10.0), np.array([1, 3, 7]), np.array([3, 3, 10]),
                           np.maximum, -np.inf)
    assert list(got) == [2.0, -np.inf, 9.0]


def test_performance_summary_of_the_hand_computed_example():
    """
    Given the two example trades on capital 1000
    When the Performance Summary is computed
    Then every TradingView figure equals the hand computation
    """
    trades, ledger, equity, (o, _, _, c) = example()
    stamps = np.arange(6, dtype=np.int64) * DAY_MS
    m = performance_summary(trades, ledger, equity, stamps, o[0], c[-1], 1.0, 1000.0)
    assert m["Net Profit"] == pytest.approx(2.591)
    assert m["Net Profit %"] == pytest.approx(0.2591)
    assert m["Gross Profit"] == pytest.approx(3.796)
    assert m["Gross Loss"] == pytest.approx(1.205)
    assert m["Profit Factor"] == pytest.approx(3.796 / 1.205)
    assert m["Max Drawdown"] == pytest.approx(1003.9 - 1002.591)
    assert m["Max Drawdown %"] == pytest.approx((1003.9 - 1002.591) / 1003.9 * 100)
    assert m["Max Run-up"] == pytest.approx(3.9)
    assert m["Max Run-up %"] == pytest.approx(0.39)
    assert m["Buy & Hold Return"] == pytest.approx(1.0)
    assert m["Buy & Hold Return %"] == pytest.approx(1.0)
    assert m["Commission Paid"] == pytest.approx(0.409)
    assert (m["Total Closed Trades"], m["Total Open Trades"]) == (2, 0)
    assert (m["Number Winning Trades"], m["Number Losing Trades"]) == (1, 1)
    assert m["Percent Profitable"] == pytest.approx(50.0)
    assert m["Avg Trade"] == pytest.approx(2.591 / 2)
    assert m["Avg Trade %"] == pytest.approx((3.796 / 100 - 1.205 / 103) * 100 / 2)
    assert m["Avg Winning Trade"] == pytest.approx(3.796)
    assert m["Avg Losing Trade"] == pytest.approx(1.205)
    assert m["Ratio Avg Win / Avg Loss"] == pytest.approx(3.796 / 1.205)
    assert m["Largest Winning Trade"] == pytest.approx(3.796)
    assert m["Largest Losing Trade"] == pytest.approx(1.205)
    assert m["Largest Losing Trade %"] == pytest.approx(1.205 / 103 * 100)
    assert m["Avg # Bars in Trades"] == pytest.approx(1.5)
    assert (m["Avg # Bars in Winning Trades"], m["Avg # Bars in Losing Trades"]) == (2, 1)
    assert (m["Max Consecutive Wins"], m["Max Consecutive Losses"]) == (1, 1)
    assert m["Max Contracts Held"] == 1.0
    assert m["Open PL"] == 0.0
    assert m["Sharpe Ratio"] is None  # one month of data


def test_performance_summary_without_trades_has_no_ratios():
    """
    Given candles and no signal
    When the Performance Summary is computed
    Then counts are zero and ratios are None
    """
    trades, ledger, equity, (o, _, _, c) = example(signal=[0] * 6)
    m = performance_summary(trades, ledger, equity, np.arange(6) * DAY_MS, o[0], c[-1], 1, 1000)
    assert m["Total Closed Trades"] == 0
    assert m["Profit Factor"] is None and m["Avg Trade"] is None
    assert m["Percent Profitable"] is None and m["Max Drawdown"] == 0.0


def test_exit_reason_table_counts_each_reason():
    """
    Given the two example trades, both closed by signal
    When the exit-reason table is built
    Then signal holds 2 trades, 1 winning, and the others are empty
    """
    trades, ledger, _, _ = example()
    table = exit_reasons(trades, ledger)
    assert table["signal"] == {"trades": 2, "winning": 1, "net_pnl": pytest.approx(2.591)}
    assert table["stop_loss"]["trades"] == table["take_profit"]["trades"] == 0
    assert table["end"]["trades"] == 0


def ms(year, month, day, hour=0, minute=0):
    """Epoch milliseconds of a UTC date."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def test_month_ends_are_the_last_bar_of_each_month():
    """
    Given bars on Jan 31 23:59, Feb 1, Feb 15 and Mar 3
    When month ends are found
    Then they are positions 0, 2 and 3
    """
    stamps = np.array([ms(2024, 1, 31, 23, 59), ms(2024, 2, 1), ms(2024, 2, 15), ms(2024, 3, 3)])
    assert list(month_end_positions(stamps)) == [0, 2, 3]


def test_monthly_returns_start_from_the_capital():
    """
    Given equity 1100 at January's end and 1045 at February's end on capital 1000
    When monthly returns are computed
    Then they are +10 % and -5 %
    """
    stamps = np.array([ms(2024, 1, 10), ms(2024, 1, 31), ms(2024, 2, 29)])
    got = monthly_returns(np.array([1050.0, 1100.0, 1045.0]), stamps, 1000.0)
    assert got == pytest.approx([0.10, -0.05])


def test_sharpe_and_sortino_use_monthly_excess_returns():
    """
    Given monthly returns 10 %, -5 % and 2 %
    When Sharpe and Sortino are computed
    Then they are (mean - 2 %/12) over the sample sd and over the downside deviation
    """
    r = [0.10, -0.05, 0.02]
    rfr = 0.02 / 12
    excess = statistics.mean(r) - rfr
    downside = (sum(min(x - rfr, 0) ** 2 for x in r) / 3) ** 0.5
    sharpe, sortino = sharpe_sortino(np.array(r))
    assert sharpe == pytest.approx(excess / statistics.stdev(r))
    assert sortino == pytest.approx(excess / downside)
    assert sharpe_sortino(np.array([0.1])) == (None, None)


def test_drawdown_and_run_up_of_an_equity_curve():
    """
    Given equity 1000 -> 1200 -> 900 -> 1100 -> 800 -> 1300
    When the max drawdown and run-up are computed
    Then drawdown is 400 (33.3 % of 1200) and run-up 500 (62.5 % of 800)
    """
    eq = np.array([1200.0, 900, 1100, 800, 1300])
    assert max_drawdown(eq, 1000.0) == (400.0, pytest.approx(100 / 3))
    assert max_run_up(eq, 1000.0) == (500.0, pytest.approx(62.5))


def test_longest_streak():
    """
    Given win flags T T F T T T F
    When the longest streak is measured
    Then it is 3, and 0 for no wins
    """
    assert longest_streak(np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool)) == 3
    assert longest_streak(np.zeros(3, dtype=bool)) == 0
