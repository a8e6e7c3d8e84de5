"""Money per trade and per bar: P&L, commission, run-up, drawdown and the equity curve.

Everything here is vectorised over trades or bars; no per-bar Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backtest.engine import FillRules, Trades, segment_mask
from risk.pnl import commission_on, directional_pnl


@dataclass(frozen=True)
class Ledger:
    """Per-trade money, parallel to ``Trades`` (quote currency, e.g. USDT).

    ``net_pnl`` of the open trade is marked to the last close and carries its entry commission
    only (the exit commission is not paid yet). ``run_up`` >= 0 and ``drawdown`` <= 0 are the
    best and worst excursions of the position's price (per trade, before commission).
    """

    entry_value: np.ndarray
    commission: np.ndarray
    gross_pnl: np.ndarray
    net_pnl: np.ndarray
    run_up: np.ndarray
    drawdown: np.ndarray
    bars: np.ndarray
    cumulative_pnl: np.ndarray


def _segment_extreme(values: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     ufunc: np.ufunc, empty: float) -> np.ndarray:
    """``ufunc.reduce(values[s:e])`` per sorted, disjoint [s, e) segment; ``empty`` when e == s."""
    if starts.size == 0:
        return np.empty(0)
    padded = np.append(values, empty)  # lets a segment end at len(values)
    bounds = np.empty(2 * starts.size, dtype=np.int64)
    bounds[0::2], bounds[1::2] = starts, ends
    reduced = ufunc.reduceat(padded, bounds)[0::2]
    return np.where(ends > starts, reduced, empty)


def trade_qty(trades: Trades, rules: FillRules) -> float | np.ndarray:
    """Contracts of every trade: its own quantity when sized per order, else ``rules.qty``."""
    return rules.qty if trades.qty is None else trades.qty


def build_ledger(trades: Trades, high: np.ndarray, low: np.ndarray, rules: FillRules) -> Ledger:
    """Commission, P&L and excursions of every trade."""
    qty = trade_qty(trades, rules)
    d = trades.direction.astype(np.float64)
    is_open = trades.is_open
    entry_value = trades.entry_price * qty
    exit_value = trades.exit_price * qty
    commission = commission_on(rules.commission,
                               entry_value + np.where(is_open, 0.0, exit_value))
    gross = directional_pnl(d, entry_value, exit_value)
    net = gross - commission
    # Bars held over a whole bar: entry bar up to (not incl.) the exit bar; an open trade holds
    # through the last bar. The exit bar adds only what its path met before the fill.
    full_end = np.where(is_open, trades.exit_bar + 1, trades.exit_bar)
    if trades.entry_high is None or trades.entry_low is None:
        hi = _segment_extreme(high, trades.entry_bar, full_end, np.maximum, -np.inf)
        lo = _segment_extreme(low, trades.entry_bar, full_end, np.minimum, np.inf)
    else:
        # An entry filled inside its bar (a stop) holds that bar only from the fill on: the
        # path's rest after it, not the bar's whole range, counts there.
        after = np.minimum(trades.entry_bar + 1, np.maximum(full_end, trades.entry_bar))
        rest = np.maximum(full_end, after)
        hi = _segment_extreme(high, after, rest, np.maximum, -np.inf)
        lo = _segment_extreme(low, after, rest, np.minimum, np.inf)
        held = full_end > trades.entry_bar
        hi = np.where(held, np.fmax(hi, trades.entry_high), hi)
        lo = np.where(held, np.fmin(lo, trades.entry_low), lo)
    hi = np.fmax(np.fmax(hi, trades.seen_high), trades.exit_price)
    lo = np.fmin(np.fmin(lo, trades.seen_low), trades.exit_price)
    best = np.where(d > 0, hi - trades.entry_price, trades.entry_price - lo) * qty
    worst = np.where(d > 0, lo - trades.entry_price, trades.entry_price - hi) * qty
    return Ledger(
        entry_value=entry_value,
        commission=commission,
        gross_pnl=gross,
        net_pnl=net,
        run_up=np.maximum(best, 0.0),
        drawdown=np.minimum(worst, 0.0),
        bars=trades.exit_bar - trades.entry_bar,
        cumulative_pnl=np.cumsum(net),
    )


def equity_curve(
    trades: Trades, ledger: Ledger, close: np.ndarray, rules: FillRules, capital: float
) -> np.ndarray:
    """Account equity at every bar's close: capital + closed net P&L + open P&L.

    Open P&L of a position held at a close is marked to that close less its entry commission;
    a trade's net P&L is realised on its exit bar.
    """
    n = close.size
    closed = ~trades.is_open
    realised = np.bincount(trades.exit_bar[closed], weights=ledger.net_pnl[closed], minlength=n)
    equity = np.cumsum(realised, dtype=np.float64)
    equity += capital
    held_end = np.where(closed, trades.exit_bar, trades.exit_bar + 1)
    lengths = held_end - trades.entry_bar
    if lengths.sum() > 0 and _one_at_a_time(trades.entry_bar, held_end):
        _add_open_pnl(equity, trades, ledger, close, rules, held_end, lengths)
    elif lengths.sum() > 0:
        which = np.repeat(np.arange(len(trades)), lengths)
        offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
        bars = trades.entry_bar[which] + (np.arange(which.size) - offsets)
        entry_fee = commission_on(rules.commission, ledger.entry_value)
        qty = np.broadcast_to(trade_qty(trades, rules), trades.direction.shape)
        equity[bars] += (trades.direction[which] * (close[bars] - trades.entry_price[which])
                         * qty[which] - entry_fee[which])
    return equity


def _one_at_a_time(entry: np.ndarray, held_end: np.ndarray) -> bool:
    """True when the held bar ranges are in time order and never overlap."""
    return bool(np.all(entry[1:] >= held_end[:-1]))


def _add_open_pnl(equity: np.ndarray, trades: Trades, ledger: Ledger, close: np.ndarray,
                  rules: FillRules, held_end: np.ndarray, lengths: np.ndarray) -> None:
    """``equity_curve``'s open P&L for positions held one at a time: the held bars are a
    boolean mask (ascending, each bar once), so no per-bar index arrays are built. Same
    expression, same order of operations, so the same numbers bit for bit."""
    held = segment_mask(close.size, trades.entry_bar, lengths)
    entry_fee = rules.commission * ledger.entry_value
    diff = close[held] - np.repeat(trades.entry_price, lengths)
    if (trades.direction < 0).any():
        diff = np.repeat(trades.direction, lengths) * diff
    qty = trade_qty(trades, rules)
    diff *= qty if np.isscalar(qty) else np.repeat(qty, lengths)
    diff -= np.repeat(entry_fee, lengths)
    equity[held] += diff
