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
- The loop runs once per TRADE, never per bar: the next signal is a bisection in the sorted
  signal positions and the first SL/TP bar is a numpy scan over that trade's bars only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from risk.rules import stop_loss_price, take_profit_price

MODES = ("long-only", "long-short")

# Exit reason codes stored per trade; names as the report prints them.
SIGNAL, STOP_LOSS, TAKE_PROFIT, END = 0, 1, 2, 3
# 4: strategy.risk.max_intraday_loss closed the position (backtest.orders).
REASONS = ("signal", "stop_loss", "take_profit", "end", "max_intraday_loss")

# First scan window of the SL/TP search; it grows 4x per miss so a long trade costs a few
# numpy calls while a trade stopped out after a few bars does not scan the rest of its bars.
_FIRST_WINDOW = 64


class BacktestError(ValueError):
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


def _to_trades(rows: list[tuple[int, int, float, int, float, int, float, float]]) -> Trades:
    if rows:
        cols = list(zip(*rows, strict=True))
    else:
        cols = [()] * 8
    return Trades(
        direction=np.array(cols[0], dtype=np.int8),
        entry_bar=np.array(cols[1], dtype=np.int64),
        entry_price=np.array(cols[2], dtype=np.float64),
        exit_bar=np.array(cols[3], dtype=np.int64),
        exit_price=np.array(cols[4], dtype=np.float64),
        reason=np.array(cols[5], dtype=np.int8),
        seen_high=np.array(cols[6], dtype=np.float64),
        seen_low=np.array(cols[7], dtype=np.float64),
    )
