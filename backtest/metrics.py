"""TradingView's Performance Summary, computed from trades and the equity curve.

Names are TradingView's; a percentage is a separate key with `` %`` appended. Definitions are
in docs/decisions/0052-performance-metrics.md. Values that do not exist (a ratio with a zero
denominator, Sharpe with fewer than two months) are None.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from backtest.engine import REASONS, Trades
from backtest.ledger import Ledger

RISK_FREE_RATE = 0.02  # per year, TradingView's default for Sharpe and Sortino


def _ratio(a: float, b: float) -> float | None:
    return a / b if b != 0 else None


def _pct(a: float, b: float) -> float | None:
    return 100.0 * a / b if b != 0 else None


def month_end_positions(timestamps_ms: np.ndarray) -> np.ndarray:
    """Position of the last bar of every calendar month (UTC) that holds a bar."""
    if timestamps_ms.size == 0:
        return np.empty(0, dtype=np.int64)
    first = datetime.fromtimestamp(int(timestamps_ms[0]) / 1000, tz=UTC)
    last = datetime.fromtimestamp(int(timestamps_ms[-1]) / 1000, tz=UTC)
    starts = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        month += 1
        if month > 12:
            year, month = year + 1, 1
        starts.append(int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000))
    ends = np.searchsorted(timestamps_ms, np.array(starts, dtype=np.int64), side="left") - 1
    return np.unique(ends[ends >= 0])


def monthly_returns(equity: np.ndarray, timestamps_ms: np.ndarray, capital: float) -> np.ndarray:
    """Equity return of each calendar month, the first one measured from the initial capital."""
    ends = equity[month_end_positions(timestamps_ms)]
    previous = np.concatenate(([capital], ends[:-1]))
    return ends / previous - 1.0


def sharpe_sortino(returns: np.ndarray) -> tuple[float | None, float | None]:
    """TradingView's ratios on monthly returns: (mean - rfr) / sd and (mean - rfr) / downside dev.

    The risk-free rate is 2 % a year, 2/12 % a month; sd is the sample standard deviation;
    the downside deviation is sqrt(mean(min(0, r - rfr)^2)). None below two months.
    """
    if returns.size < 2:
        return None, None
    rfr = RISK_FREE_RATE / 12
    excess = float(returns.mean()) - rfr
    sd = float(returns.std(ddof=1))
    downside = math.sqrt(float(np.mean(np.minimum(returns - rfr, 0.0) ** 2)))
    return _ratio(excess, sd), _ratio(excess, downside)


def max_drawdown(equity: np.ndarray, capital: float) -> tuple[float, float | None]:
    """Largest fall of equity from a previous peak (amount >= 0, and % of that peak)."""
    curve = np.concatenate(([capital], equity))
    peak = np.maximum.accumulate(curve)
    fall = peak - curve
    k = int(fall.argmax())
    return float(fall[k]), _pct(float(fall[k]), float(peak[k]))


def max_run_up(equity: np.ndarray, capital: float) -> tuple[float, float | None]:
    """Largest rise of equity from a previous trough (amount >= 0, and % of that trough)."""
    curve = np.concatenate(([capital], equity))
    trough = np.minimum.accumulate(curve)
    rise = curve - trough
    k = int(rise.argmax())
    return float(rise[k]), _pct(float(rise[k]), float(trough[k]))


def longest_streak(flags: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array."""
    if not flags.any():
        return 0
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[0::2]).max())


def performance_summary(
    trades: Trades,
    ledger: Ledger,
    equity: np.ndarray,
    timestamps_ms: np.ndarray,
    first_open: float,
    last_close: float,
    qty: float,
    capital: float,
) -> dict[str, float | int | None]:
    """TradingView's Performance Summary plus max consecutive wins and losses."""
    closed = ~trades.is_open
    net = ledger.net_pnl[closed]
    pct = 100.0 * net / ledger.entry_value[closed] if net.size else net
    bars = ledger.bars[closed]
    wins, losses = net > 0, net < 0
    gross_profit = float(net[wins].sum())
    gross_loss = float(-net[losses].sum())
    net_profit = float(net.sum())
    open_pl = float(ledger.net_pnl[~closed].sum())
    dd, dd_pct = max_drawdown(equity, capital) if equity.size else (0.0, None)
    ru, ru_pct = max_run_up(equity, capital) if equity.size else (0.0, None)
    sharpe, sortino = sharpe_sortino(monthly_returns(equity, timestamps_ms, capital))
    avg_win = float(net[wins].mean()) if wins.any() else None
    avg_loss = float(-net[losses].mean()) if losses.any() else None

    def mean(values: np.ndarray) -> float | None:
        return float(values.mean()) if values.size else None

    def largest(values: np.ndarray, pick) -> float | None:
        return float(pick(values)) if values.size else None

    return {
        "Net Profit": net_profit,
        "Net Profit %": _pct(net_profit, capital),
        "Gross Profit": gross_profit,
        "Gross Profit %": _pct(gross_profit, capital),
        "Gross Loss": gross_loss,
        "Gross Loss %": _pct(gross_loss, capital),
        "Max Run-up": ru,
        "Max Run-up %": ru_pct,
        "Max Drawdown": dd,
        "Max Drawdown %": dd_pct,
        "Buy & Hold Return": (last_close - first_open) * qty,
        "Buy & Hold Return %": _pct(last_close - first_open, first_open),
        "Sharpe Ratio": sharpe,
        "Sortino Ratio": sortino,
        "Profit Factor": _ratio(gross_profit, gross_loss),
        "Max Contracts Held": qty if len(trades) else 0.0,
        "Open PL": open_pl,
        "Open PL %": _pct(open_pl, capital),
        "Commission Paid": float(ledger.commission.sum()),
        "Total Closed Trades": int(closed.sum()),
        "Total Open Trades": int((~closed).sum()),
        "Number Winning Trades": int(wins.sum()),
        "Number Losing Trades": int(losses.sum()),
        "Percent Profitable": _pct(float(wins.sum()), float(net.size)),
        "Avg Trade": mean(net),
        "Avg Trade %": mean(pct),
        "Avg Winning Trade": avg_win,
        "Avg Winning Trade %": mean(pct[wins]),
        "Avg Losing Trade": avg_loss,
        "Avg Losing Trade %": None if not losses.any() else -float(pct[losses].mean()),
        "Ratio Avg Win / Avg Loss": (None if avg_win is None or avg_loss is None
                                     else _ratio(avg_win, avg_loss)),
        "Largest Winning Trade": largest(net[wins], np.max),
        "Largest Winning Trade %": largest(pct[wins], np.max),
        "Largest Losing Trade": largest(-net[losses], np.max),
        "Largest Losing Trade %": largest(-pct[losses], np.max),
        "Avg # Bars in Trades": mean(bars),
        "Avg # Bars in Winning Trades": mean(bars[wins]),
        "Avg # Bars in Losing Trades": mean(bars[losses]),
        "Max Consecutive Wins": longest_streak(wins),
        "Max Consecutive Losses": longest_streak(losses),
    }


def exit_reasons(trades: Trades, ledger: Ledger) -> dict[str, dict[str, float | int]]:
    """Per exit reason (signal, stop_loss, take_profit, end, and max_intraday_loss when a
    trade ended so): trades, winners, net P&L."""
    table = {}
    for code, name in enumerate(REASONS):
        mask = trades.reason == code
        if code > 3 and not mask.any():
            continue  # a risk rule's row only where it fired
        net = ledger.net_pnl[mask]
        table[name] = {
            "trades": int(mask.sum()),
            "winning": int((net > 0).sum()),
            "net_pnl": float(net.sum()),
        }
    return table
