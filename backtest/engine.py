"""The simulated broker: turns a signal array into trades the way TradingView's emulator fills.

Rules (see docs/decisions/0050 and 0051):

- A signal on bar i is a market order filled at the open of bar i+1; a signal on the last bar
  is never filled.
- long-only (the bot): BUY when flat opens a long, SELL while long closes it, everything else
  is ignored. long-short (simulation only, TradingView ``strategy.entry`` with pyramiding 0):
  a signal in the held direction is ignored, the opposite one closes and reverses at the same
  fill.
- Stop-loss and take-profit levels come from the fill price through ``risk.rules``; they are
  checked from the entry bar on, after its open, along the assumed intrabar path, filled at the
  level, or at the open when a bar opens beyond it.
- ``simulate_loop`` states these rules one trade at a time (the next signal is a bisection in
  the sorted signal positions, the first SL/TP bar a numpy scan over that trade's bars).
  ``simulate`` gives the same trades bit for bit without a Python step per trade: every bar
  that may open a position is resolved at once (its exit signal, its first SL/TP bar, its fill),
  and only the chain of which entry follows which exit is walked, one integer per trade.
  Tests hold the two to each other on random signals.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import InputError
from risk.rules import stop_loss_price, take_profit_price

MODES = ("long-only", "long-short")

# Exit reason codes stored per trade; names as the report prints them.
SIGNAL, STOP_LOSS, TAKE_PROFIT, END = 0, 1, 2, 3
# 4: strategy.risk.max_intraday_loss closed the position (backtest.orders).
REASONS = ("signal", "stop_loss", "take_profit", "end", "max_intraday_loss")

# First scan window of the SL/TP search; it grows 4x per miss so a long trade costs a few
# numpy calls while a trade stopped out after a few bars does not scan the rest of its bars.
_FIRST_WINDOW = 64


class BacktestError(InputError, ValueError):
    """Settings or data the backtest cannot run with; the message is one line for the user."""


@dataclass(frozen=True)
class FillRules:
    """How orders are filled: direction mode, size, costs and protective exits.

    ``commission`` and ``slippage`` are fractions of the traded value / price per side (0.001 is
    0.1 %); ``stop_loss`` / ``take_profit`` are fractions of the fill price, None for none.
    """

    mode: str = "long-only"
    qty: float = 0.001
    commission: float = 0.001
    slippage: float = 0.0
    stop_loss: float | None = 0.02
    take_profit: float | None = 0.04

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BacktestError(f"mode {self.mode!r} is unknown; use one of {', '.join(MODES)}")
        if not (self.qty > 0 and np.isfinite(self.qty)):
            raise BacktestError(f"qty {self.qty!r} must be a positive number (e.g. 0.001)")
        if not 0 <= self.commission < 1:
            raise BacktestError(
                f"commission {self.commission!r} must be a fraction in [0, 1) (0.001 = 0.1 %)"
            )
        if not 0 <= self.slippage < 1:
            raise BacktestError(
                f"slippage {self.slippage!r} must be a fraction in [0, 1) (0.0005 = 0.05 %)"
            )
        if self.stop_loss is not None and not 0 < self.stop_loss < 1:
            raise BacktestError(
                f"stop-loss {self.stop_loss!r} must be a fraction in (0, 1) (0.02 = 2 %)"
            )
        if self.take_profit is not None and not self.take_profit > 0:
            raise BacktestError(
                f"take-profit {self.take_profit!r} must be a positive fraction (0.04 = 4 %)"
            )


@dataclass(frozen=True)
class Trades:
    """Simulated trades as parallel arrays, in time order (one element per trade).

    ``exit_bar`` / ``exit_price`` of a trade still open at the end are the last bar and its
    close (reason END). ``seen_high`` / ``seen_low`` are the extremes the price reached on the
    exit bar before the exit filled (NaN for an open trade), for the trade's run-up/drawdown.
    """

    direction: np.ndarray  # int8: 1 long, -1 short
    entry_bar: np.ndarray  # int64
    entry_price: np.ndarray  # float64, after slippage
    exit_bar: np.ndarray  # int64
    exit_price: np.ndarray  # float64, after slippage
    reason: np.ndarray  # int8, index into REASONS
    seen_high: np.ndarray  # float64
    seen_low: np.ndarray  # float64
    qty: np.ndarray | None = None  # float64 contracts per trade; None: FillRules.qty each
    # Highest / lowest price of the entry bar from the entry fill on (backtest.orders).
    entry_high: np.ndarray | None = None
    entry_low: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.direction.size)

    @property
    def is_open(self) -> np.ndarray:
        """True for the trade still open at the end (at most the last one)."""
        return self.reason == END


def protective_levels(
    fill_price: float, direction: int, rules: FillRules
) -> tuple[float, float]:
    """(stop, target) prices of a position; +-inf where that exit is off.

    A long uses ``risk.rules`` as the bot does. A short mirrors it: its stop sits where a long
    would take profit (fill * (1 + SL)) and its target where a long would stop (fill * (1 - TP)).
    """
    if direction > 0:
        stop = -np.inf if rules.stop_loss is None else stop_loss_price(fill_price, rules.stop_loss)
        target = (np.inf if rules.take_profit is None
                  else take_profit_price(fill_price, rules.take_profit))
    else:
        stop = np.inf if rules.stop_loss is None else take_profit_price(fill_price, rules.stop_loss)
        target = (-np.inf if rules.take_profit is None
                  else stop_loss_price(fill_price, rules.take_profit))
    return float(stop), float(target)


def resolve_bar(
    direction: int, o: float, h: float, low: float, stop: float, target: float
) -> tuple[int, float, float, float]:
    """Which protective exit fills inside one bar, at what (unslipped) price, and what was seen.

    Returns ``(reason, price, seen_high, seen_low)`` with reason STOP_LOSS or TAKE_PROFIT, the
    caller having established that the bar reaches at least one level. A bar that opens beyond
    a level fills at the open. Otherwise the path is open -> high -> low -> close when the high
    is nearer the open than the low, else open -> low -> high -> close; when the open is
    exactly midway the path that meets the stop first is taken (conservative, decision 0051).
    ``seen_*`` are the extremes reached on the path up to the fill.
    """
    if direction > 0:
        if o <= stop:
            return STOP_LOSS, o, o, o
        if o >= target:
            return TAKE_PROFIT, o, o, o
        stop_hit, target_hit = low <= stop, h >= target
        high_first = (h - o) < (o - low)  # tie: low first, where a long's stop is
    else:
        if o >= stop:
            return STOP_LOSS, o, o, o
        if o <= target:
            return TAKE_PROFIT, o, o, o
        stop_hit, target_hit = h >= stop, low <= target
        high_first = (h - o) <= (o - low)  # tie: high first, where a short's stop is
    stop_first = high_first if direction < 0 else not high_first
    if stop_hit and (not target_hit or stop_first):
        reason, price = STOP_LOSS, stop
    else:
        reason, price = TAKE_PROFIT, target
    # Extremes met before the fill: the first leg's extreme counts when the fill is on the
    # second leg.
    fill_on_high_leg = price >= o
    if high_first:
        seen_high = price if fill_on_high_leg else h
        seen_low = o if fill_on_high_leg else price
    else:
        seen_low = price if not fill_on_high_leg else low
        seen_high = o if not fill_on_high_leg else price
    return reason, price, seen_high, seen_low


def _first_level_bar(
    direction: int, high: np.ndarray, low: np.ndarray, start: int, limit: int,
    stop: float, target: float,
) -> int:
    """First bar in [start, limit) whose range reaches the stop or the target, else ``limit``."""
    window = _FIRST_WINDOW
    while start < limit:
        end = min(limit, start + window)
        if direction > 0:
            hit = (low[start:end] <= stop) | (high[start:end] >= target)
        else:
            hit = (high[start:end] >= stop) | (low[start:end] <= target)
        k = int(hit.argmax())
        if hit[k]:
            return start + k
        start = end
        window *= 4
    return limit


def _next_at(positions: list[int], bar: int, none: int) -> int:
    """The first signal position >= bar, or ``none``."""
    k = bisect_left(positions, bar)
    return positions[k] if k < len(positions) else none


def simulate_loop(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    signal: np.ndarray,
    rules: FillRules,
    progress: Callable[[float], None] | None = None,
) -> Trades:
    """Fill ``signal`` (1 BUY, -1 SELL, 0 HOLD per bar) on the candles under ``rules``, one
    trade at a time (the reference statement of the rules; ``simulate`` is the fast one).

    ``progress`` (optional) is called with the fraction of bars done, about every 1 %.
    """
    n = len(open_)
    if not (len(high) == len(low) == len(close) == len(signal) == n):
        raise BacktestError("candles and signals differ in length; compute signals on the frame")
    sig = np.asarray(signal)
    buys = np.flatnonzero(sig > 0).tolist()
    sells = np.flatnonzero(sig < 0).tolist()
    long_short = rules.mode == "long-short"
    protect = rules.stop_loss is not None or rules.take_profit is not None
    slip = rules.slippage
    rows: list[tuple[int, int, float, int, float, int, float, float]] = []
    step = max(n // 100, 1)
    next_report = step

    flat_from = 0  # first bar whose signal may open a position when flat
    carry: tuple[int, int] | None = None  # (direction, entry bar) of a reversal
    while True:
        if carry is None:
            b = _next_at(buys, flat_from, n)
            s = _next_at(sells, flat_from, n) if long_short else n
            signal_bar = min(b, s)
            if signal_bar >= n - 1:  # no signal, or one on the last bar: never filled
                break
            d, e = (1 if b < s else -1), signal_bar + 1
        else:
            d, e = carry
            carry = None
        entry = float(open_[e]) * (1.0 + d * slip)
        exit_signal = _next_at(sells if d > 0 else buys, e, n)
        limit = exit_signal + 1 if exit_signal < n - 1 else n  # bar whose open exits by signal
        hit = limit
        if protect:
            stop, target = protective_levels(entry, d, rules)
            hit = _first_level_bar(d, high, low, e, limit, stop, target)
        if hit < limit:
            reason, price, seen_h, seen_l = resolve_bar(
                d, float(open_[hit]), float(high[hit]), float(low[hit]), stop, target)
            if reason == STOP_LOSS:  # a triggered stop is a market order: it slips
                price *= 1.0 - d * slip
            rows.append((d, e, entry, hit, price, reason, seen_h, seen_l))
            flat_from = hit
        elif limit < n:
            o = float(open_[limit])
            rows.append((d, e, entry, limit, o * (1.0 - d * slip), SIGNAL, o, o))
            if long_short:
                carry = (-d, limit)
            else:
                flat_from = limit
        else:
            rows.append((d, e, entry, n - 1, float(close[n - 1]), END, np.nan, np.nan))
            break
        if progress is not None and rows[-1][3] >= next_report:
            progress(rows[-1][3] / n)
            next_report = rows[-1][3] + step
    if progress is not None:
        progress(1.0)
    return _to_trades(rows)


# Trades' fields in row order with their dtypes; rows may stop after ``seen_low``.
_TRADE_FIELDS = (("direction", np.int8), ("entry_bar", np.int64), ("entry_price", np.float64),
                 ("exit_bar", np.int64), ("exit_price", np.float64), ("reason", np.int8),
                 ("seen_high", np.float64), ("seen_low", np.float64), ("qty", np.float64),
                 ("entry_high", np.float64), ("entry_low", np.float64))


def trades_from_rows(rows: list[tuple], width: int = 8) -> Trades:
    """Trades from per-trade tuples of the first ``width`` fields of ``_TRADE_FIELDS``."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * width
    return Trades(**{name: np.array(col, dtype=dtype)
                     for (name, dtype), col in zip(_TRADE_FIELDS[:width], cols, strict=True)})


def _to_trades(rows: list[tuple[int, int, float, int, float, int, float, float]]) -> Trades:
    return trades_from_rows(rows)


# Gathered elements per block of the vectorised SL/TP scan (about 30 MB of temporaries).
_SCAN_BLOCK = 1_000_000


def _first_hits(
    long: np.ndarray, start: np.ndarray, limit: np.ndarray, stop: np.ndarray,
    target: np.ndarray, high: np.ndarray, low: np.ndarray,
) -> np.ndarray:
    """Per position, the first bar in [start, limit) reaching its stop or target, else limit.

    All positions are scanned together in windows that grow 4x per round, so a position
    stopped after a few bars costs a few comparisons and a long one a few rounds.
    """
    n = high.size
    hit = limit.copy()
    lengths = np.maximum(limit - start, 0)
    all_long, all_short = bool(long.all()), not bool(long.any())
    total = int(lengths.sum())
    if total <= 2 * n:
        return _first_hits_flat(long, start, lengths, hit, stop, target, high, low, total)
    pos = start.copy()
    pending = np.flatnonzero(start < limit)
    width = 16
    while pending.size:
        span = np.minimum(limit[pending] - pos[pending], width)
        columns = int(span.max())
        cols = np.arange(columns)
        rows = max(1, _SCAN_BLOCK // columns)
        left = []
        for first in range(0, pending.size, rows):
            idx = pending[first:first + rows]
            p, sp = pos[idx], span[first:first + rows]
            bars = np.minimum(p[:, None] + cols, n - 1)
            lo, hi = low[bars], high[bars]
            st, tg = stop[idx, None], target[idx, None]
            if all_long:
                reached = (lo <= st) | (hi >= tg)
            elif all_short:
                reached = (hi >= st) | (lo <= tg)
            else:
                reached = np.where(long[idx, None], (lo <= st) | (hi >= tg),
                                   (hi >= st) | (lo <= tg))
            reached &= cols < sp[:, None]
            found = reached.any(axis=1)
            hit[idx[found]] = p[found] + reached.argmax(axis=1)[found]
            more = ~found & (p + sp < limit[idx])
            pos[idx[more]] = p[more] + sp[more]
            left.append(idx[more])
        pending = np.concatenate(left)
        width *= 4
    return hit


def _first_hits_flat(
    long: np.ndarray, start: np.ndarray, lengths: np.ndarray, hit: np.ndarray,
    stop: np.ndarray, target: np.ndarray, high: np.ndarray, low: np.ndarray, total: int,
) -> np.ndarray:
    """``_first_hits`` when the positions' bar ranges add up to a few times the bars or less
    (mostly disjoint, as between crossovers): every range's bars compared in one pass."""
    if total == 0:
        return hit
    ends = start + lengths
    if bool(np.all(start[1:] >= ends[:-1])):
        return _first_hits_disjoint(long, start, lengths, ends, hit, stop, target, high, low)
    owner = np.repeat(np.arange(start.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    bars = start[owner] + (np.arange(total) - offsets[owner])
    lo, hi = low[bars], high[bars]
    st, tg = stop[owner], target[owner]
    if long.all():
        reached = (lo <= st) | (hi >= tg)
    elif not long.any():
        reached = (hi >= st) | (lo <= tg)
    else:
        reached = np.where(long[owner], (lo <= st) | (hi >= tg), (hi >= st) | (lo <= tg))
    first = np.flatnonzero(reached)
    # The first reaching element of each range: where the owner changes among the hits.
    keep = np.ones(first.size, dtype=bool)
    keep[1:] = owner[first[1:]] != owner[first[:-1]]
    first = first[keep]
    hit[owner[first]] = bars[first]
    return hit


def segment_mask(n: int, start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A boolean mask of ``n`` bars, True inside each [start, start + length) range; the
    ranges must be in time order and not overlap. One fill: the runs of False and True
    alternate, so it is a single ``np.repeat``."""
    k = start.size
    if k == 0:
        return np.zeros(n, dtype=bool)
    ends = start + lengths
    runs = np.empty(2 * k + 1, dtype=np.int64)
    runs[0] = start[0]
    runs[2:-1:2] = start[1:] - ends[:-1]
    runs[1::2] = lengths
    runs[-1] = n - ends[-1]
    pattern = np.zeros(2 * k + 1, dtype=bool)
    pattern[1::2] = True
    return np.repeat(pattern, runs)


def _first_hits_disjoint(
    long: np.ndarray, start: np.ndarray, lengths: np.ndarray, ends: np.ndarray,
    hit: np.ndarray, stop: np.ndarray, target: np.ndarray, high: np.ndarray, low: np.ndarray,
) -> np.ndarray:
    """``_first_hits_flat`` for ranges in time order that never overlap (the usual case):
    the ranges' bars are one boolean mask, and only the reaching bars are mapped back to
    their position, so no per-bar index array is built."""
    inside = segment_mask(high.size, start, lengths)
    lo, hi = low[inside], high[inside]
    st, tg = np.repeat(stop, lengths), np.repeat(target, lengths)
    if long.all():
        reached = (lo <= st) | (hi >= tg)
    elif not long.any():
        reached = (hi >= st) | (lo <= tg)
    else:
        reached = np.where(np.repeat(long, lengths), (lo <= st) | (hi >= tg),
                           (hi >= st) | (lo <= tg))
    first = np.flatnonzero(reached)
    cumulative = np.cumsum(lengths)
    owner = np.searchsorted(cumulative, first, side="right")
    keep = np.ones(first.size, dtype=bool)
    keep[1:] = owner[1:] != owner[:-1]
    owner, first = owner[keep], first[keep]
    hit[owner] = start[owner] + (first - (cumulative[owner] - lengths[owner]))
    return hit


def _resolve_bars(
    long: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray, stop: np.ndarray,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``resolve_bar`` for many bars at once: (reason, unslipped price, seen_high, seen_low)."""
    beyond_stop = np.where(long, o <= stop, o >= stop)
    beyond_target = ~beyond_stop & np.where(long, o >= target, o <= target)
    stop_hit = np.where(long, low <= stop, h >= stop)
    target_hit = np.where(long, h >= target, low <= target)
    up, down = h - o, o - low
    high_first = np.where(long, up < down, up <= down)
    stop_first = np.where(long, ~high_first, high_first)
    by_stop = stop_hit & (~target_hit | stop_first)
    price = np.where(by_stop, stop, target)
    on_high_leg = price >= o
    seen_high = np.where(high_first, np.where(on_high_leg, price, h),
                         np.where(on_high_leg, price, o))
    seen_low = np.where(high_first, np.where(on_high_leg, o, price),
                        np.where(on_high_leg, low, price))
    at_open = beyond_stop | beyond_target
    reason = np.where(beyond_stop | (~beyond_target & by_stop), STOP_LOSS, TAKE_PROFIT)
    price = np.where(at_open, o, price)
    seen_high = np.where(at_open, o, seen_high)
    seen_low = np.where(at_open, o, seen_low)
    return reason.astype(np.int8), price, seen_high, seen_low


def simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    signal: np.ndarray,
    rules: FillRules,
    progress: Callable[[float], None] | None = None,
) -> Trades:
    """Fill ``signal`` (1 BUY, -1 SELL, 0 HOLD per bar) on the candles under ``rules``.

    The same trades as ``simulate_loop``, bit for bit. Every bar whose signal could open a
    position (a BUY, or in long-short any signal, before the last bar) is a candidate entry at
    the next open; each candidate's exit (first SL/TP bar before its exit signal's fill, else
    that fill, else the end) and the candidate that follows it are computed for all at once,
    then the chain from the first candidate picks the trades. ``progress`` (optional) is
    called with increasing fractions of the work, 1.0 when done.
    """
    n = len(open_)
    if not (len(high) == len(low) == len(close) == len(signal) == n):
        raise BacktestError("candles and signals differ in length; compute signals on the frame")
    open_, high, low, close = (np.asarray(a, dtype=np.float64)
                               for a in (open_, high, low, close))
    sig = np.asarray(signal)
    long_short = rules.mode == "long-short"
    slip = rules.slippage
    head = sig[: max(n - 1, 0)]
    cand = np.flatnonzero(head != 0) if long_short else np.flatnonzero(head > 0)
    if cand.size == 0:
        if progress is not None:
            progress(1.0)
        return _to_trades([])
    d = np.where(sig[cand] > 0, 1, -1).astype(np.int8)
    long = d > 0
    e = cand + 1
    buys, sells = np.flatnonzero(sig > 0), np.flatnonzero(sig < 0)
    next_sell = np.append(sells, n)[np.searchsorted(sells, e)]
    next_buy = np.append(buys, n)[np.searchsorted(buys, e)]
    exit_signal = np.where(long, next_sell, next_buy)
    limit = np.where(exit_signal < n - 1, exit_signal + 1, n)
    entry = open_[e] * (1.0 + d * slip)
    if rules.stop_loss is None:
        stop = np.where(long, -np.inf, np.inf)
    else:
        stop = np.where(long, stop_loss_price(entry, rules.stop_loss),
                        take_profit_price(entry, rules.stop_loss))
    if rules.take_profit is None:
        target = np.where(long, np.inf, -np.inf)
    else:
        target = np.where(long, take_profit_price(entry, rules.take_profit),
                          stop_loss_price(entry, rules.take_profit))
    protect = rules.stop_loss is not None or rules.take_profit is not None
    if progress is not None:
        progress(0.25)
    hit = _first_hits(long, e, limit, stop, target, high, low) if protect else limit
    if progress is not None:
        progress(0.75)
    by_level = hit < limit
    # Which candidate follows each outcome: flat from the SL/TP bar, or from the signal fill
    # (long-only), or the reversal entered at that fill (long-short: the exit signal's bar).
    after_level = np.searchsorted(cand, hit)
    after_signal = np.searchsorted(cand, exit_signal if long_short else limit)
    follow = np.where(by_level, after_level, np.where(limit < n, after_signal, cand.size))
    chain = []
    i, follow_list, size = 0, follow.tolist(), cand.size
    while i < size:
        chain.append(i)
        i = follow_list[i]
    t = np.array(chain, dtype=np.int64)
    d_t, long_t, lvl = d[t], long[t], by_level[t]
    exit_bar = np.where(lvl, hit[t], np.minimum(limit[t], n - 1))
    ended = ~lvl & (limit[t] >= n)
    o = open_[exit_bar]
    reason, price, seen_high, seen_low = _resolve_bars(
        long_t, o, high[exit_bar], low[exit_bar], stop[t], target[t])
    # A triggered stop is a market order: it slips; so does a signal fill.
    price = np.where(reason == STOP_LOSS, price * (1.0 - d_t * slip), price)
    signal_fill = o * (1.0 - d_t * slip)
    price = np.where(lvl, price, np.where(ended, close[n - 1], signal_fill))
    reason = np.where(lvl, reason, np.where(ended, END, SIGNAL)).astype(np.int8)
    seen_high = np.where(lvl, seen_high, np.where(ended, np.nan, o))
    seen_low = np.where(lvl, seen_low, np.where(ended, np.nan, o))
    if progress is not None:
        progress(1.0)
    return Trades(
        direction=d_t, entry_bar=e[t].astype(np.int64), entry_price=entry[t],
        exit_bar=exit_bar.astype(np.int64), exit_price=price, reason=reason,
        seen_high=seen_high, seen_low=seen_low,
    )
