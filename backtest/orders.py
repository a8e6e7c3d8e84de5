"""TradingView's broker emulator for entry orders: market and stop entries, OCA, reversals.

The signal engine (``backtest.engine``) fills one market order per signal; this broker runs
what ``strategies.orders.Intents`` asks for, bar by bar, the way TradingView's strategy
engine does (docs/decisions/0102-stop-entry-fills.md, 0103-order-sizing.md):

- Orders a bar's script places are active from the NEXT bar; they fill at the start of that
  bar, before its script runs (which then sees the new position).
- One order per entry id: a new entry with the id of a pending order replaces it; a cancel
  (applied before the same bar's entry) removes it. ``stop = na`` is a market order.
- Market orders fill at the open. Stops fill along the intrabar path (open -> high -> low ->
  close when the high is nearer the open, else open -> low -> high -> close): a buy stop when
  the price reaches it, at max(open, stop); a sell stop at min(open, stop). Stop levels are
  rounded to the tick first, buy stops up and sell stops down (a level within 1e-4 tick of
  the grid counts as on it).
- pyramiding 1: an entry in the held direction is not placed (stops) or not filled (market).
  An opposite entry reverses: one order of |position| + size (a stop's flip is fixed when it
  is placed, a market order's when it fills). OCA cancel: a fill cancels the group's others.
- long-only (the bot): a short entry only closes a long; when flat it does nothing.
- Sizing: a fixed quantity, or a percent of equity: floor to the lot of
  pct * equity / (close * (1 + commission)) at the placing bar's close, equity = capital +
  closed P&L + open P&L marked at that close.
- ``strategy.risk.max_intraday_loss``: when equity at a bar's close is down by pct % of the
  trading day's starting equity, pending orders are cancelled, the position is closed at that
  close and no order is placed until the next trading day.
- Stop-loss / take-profit (``--sl/--tp``) are exit orders on the same path, from the entry fill.

The loop runs once per bar in plain Python floats (about 0.1 s per 23k bars).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backtest.engine import (
    END,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    BacktestError,
    FillRules,
    Trades,
    protective_levels,
    trades_from_rows,
)
from strategies.orders import Intents

INTRADAY_LOSS = 4  # exit reason code, after backtest.engine's SIGNAL..END
# A level this close to a tick (in ticks) counts as on it (TradingView's measured rule).
_TICK_SNAP = 1e-4
_LONG, _SHORT = 1, -1


@dataclass(frozen=True)
class OrderRules:
    """What the order broker needs beyond ``FillRules``: sizing, price grid, risk and OCA.

    ``qty_percent`` (0 < p <= 100) sizes each order from equity, floored to ``lot``; None uses
    ``FillRules.qty`` contracts. ``intraday_loss`` is the max intraday loss in percent of the
    day's starting equity (None: no limit); ``day`` gives each bar's trading day number.
    """

    mintick: float
    lot: float = 1e-8
    qty_percent: float | None = None
    oca: bool = False
    intraday_loss: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mintick) and self.mintick > 0):
            raise BacktestError(f"mintick {self.mintick!r} must be a positive price step"
                                " (e.g. --mintick 0.01)")
        if not (math.isfinite(self.lot) and self.lot > 0):
            raise BacktestError(f"lot {self.lot!r} must be a positive quantity step"
                                " (e.g. --lot 0.00001)")
        if self.qty_percent is not None and not 0 < self.qty_percent <= 100:
            raise BacktestError(f"qty-percent {self.qty_percent!r} must be above 0 and at most"
                                " 100 (e.g. --qty-percent 15)")
        if self.intraday_loss is not None and not 0 < self.intraday_loss <= 100:
            raise BacktestError(f"max intraday loss {self.intraday_loss!r} must be a percent"
                                " above 0 and at most 100")


def ticks_per_unit(mintick: float) -> int:
    """The whole number of ticks in one price unit (100 for 0.01), or 0 when not whole."""
    per_unit = round(1.0 / mintick)
    return per_unit if per_unit >= 1 and abs(per_unit * mintick - 1.0) < 1e-12 else 0


def round_stop(level: float, side: int, mintick: float, per_unit: int | None = None) -> float:
    """A stop level on the tick grid: buy stops rounded up, sell stops down (NaN stays NaN).

    ``per_unit`` is ``ticks_per_unit(mintick)`` when the caller has it at hand.
    """
    if math.isnan(level):
        return level
    ticks = level / mintick
    whole = math.ceil(ticks - _TICK_SNAP) if side > 0 else math.floor(ticks + _TICK_SNAP)
    if per_unit is None:
        per_unit = ticks_per_unit(mintick)
    if per_unit:
        # Dividing by the integer ticks-per-unit gives the same double as the decimal price
        # parsed from a file (0.97961), so a level equals a candle price it touches.
        return whole / per_unit
    return whole * mintick


def percent_size(percent: float, equity: float, close: float, commission: float,
                 lot: float) -> float:
    """Contracts for ``percent`` of ``equity`` at ``close`` (fee included), floored to ``lot``."""
    if not (equity > 0 and close > 0):
        return 0.0
    per_lot = 1.0 / lot
    raw = percent * 0.01 * equity / (close * (1.0 + commission))
    # A whole number of lots, scaled back by the step (rounded to drop float dust).
    lots = math.floor(raw * per_lot + 1e-9)
    return float(round(lots / per_lot, 12))


class _Order:
    """A pending order: side (+1 buy / -1 sell), trigger level, quantity and kind."""

    __slots__ = ("side", "level", "qty", "seq", "kind", "rises")

    def __init__(self, side: int, level: float, qty: float, seq: int, kind: int) -> None:
        self.side = side
        self.level = level  # NaN for a market entry
        self.qty = qty
        self.seq = seq
        self.kind = kind  # SIGNAL (entry), STOP_LOSS or TAKE_PROFIT
        # Which way the price must move to reach the level: buy stops and sell limits rise.
        self.rises = (side > 0) == (kind != TAKE_PROFIT)


class _Book:
    """Position, pending orders and finished trades of one simulation."""

    def __init__(self, rules: FillRules, orules: OrderRules, capital: float) -> None:
        self.rules = rules
        self.orules = orules
        self.long_only = rules.mode == "long-only"
        self.capital = capital
        self.pos = 0.0  # signed contracts
        self.direction = 0  # sign of pos
        self.per_unit = ticks_per_unit(orules.mintick)
        self.entry_price = 0.0
        self.entry_bar = 0
        self.entry_range = (0.0, 0.0)  # the entry bar's high / low from the fill on
        self.closed = 0.0  # closed net P&L
        self.entries: dict[int, _Order] = {}  # by side: one order per entry id
        self.exits: list[_Order] = []
        self.seq = 0
        self.rows: list[tuple] = []

    def equity(self, price: float) -> float:
        """Capital + closed net P&L + open P&L at ``price`` (less the entry commission)."""
        value = self.capital + self.closed
        if self.pos:
            fee = self.rules.commission * abs(self.pos) * self.entry_price
            value += self.pos * (price - self.entry_price) - fee
        return value

    def size_at(self, close: float) -> float:
        o = self.orules
        if o.qty_percent is None:
            return self.rules.qty
        return percent_size(o.qty_percent, self.equity(close), close, self.rules.commission,
                            o.lot)

    # --- script side -------------------------------------------------------------------
    def place(self, side: int, level: float, close: float) -> None:
        """``strategy.entry`` on the side's id (replaces its pending order)."""
        market = level != level  # NaN: stop = na
        if not market and self.direction == side:
            return  # pyramiding 1: a stop is not placed; a pending one stays
        size = self.size_at(close)
        if size <= 0:
            return
        if not market:
            level = round_stop(level, side, self.orules.mintick, self.per_unit)
            if self.direction == -side and not (self.long_only and side < 0):
                size += abs(self.pos)  # the flip is fixed when a stop is placed
        self.seq += 1
        self.entries[side] = _Order(side, level, size, self.seq, SIGNAL)

    def cancel(self, side: int) -> None:
        """``strategy.cancel`` on the side's id."""
        self.entries.pop(side, None)

    # --- broker side -------------------------------------------------------------------
    def close_position(self, bar: int, price: float, reason: int, seen: tuple[float, float]
                       ) -> None:
        qty = abs(self.pos)
        d = self.direction
        fee = self.rules.commission * qty * (self.entry_price + price)
        self.closed += d * qty * (price - self.entry_price) - fee
        self.rows.append((d, self.entry_bar, self.entry_price, bar, price, reason, seen[0],
                          seen[1], qty, *self.entry_range))
        self.pos = 0.0
        self.direction = 0
        self.exits = []

    def open_position(self, side: int, qty: float, bar: int, price: float,
                      rest: tuple[float, float]) -> None:
        """Hold ``qty`` on ``side`` from ``price``; ``rest``: the bar's high/low after it."""
        self.entry_range = rest
        self.pos = side * qty
        self.direction = side
        self.entry_price = price
        self.entry_bar = bar
        self.exits = []
        rules = self.rules
        if rules.stop_loss is None and rules.take_profit is None:
            return
        stop, target = protective_levels(price, side, rules)
        if math.isfinite(stop):
            self.seq += 1
            self.exits.append(_Order(-side, stop, qty, self.seq, STOP_LOSS))
        if math.isfinite(target):
            self.seq += 1
            self.exits.append(_Order(-side, target, qty, self.seq, TAKE_PROFIT))

    def fill_entry(self, order: _Order, bar: int, price: float, seen: tuple[float, float],
                   rest: tuple[float, float]) -> None:
        """Fill an entry at ``price`` (already slipped): close, reverse or open.

        ``seen`` are the bar's extremes up to the fill, ``rest`` those from it to the close.
        """
        side = order.side
        self.entries.pop(side, None)
        d = self.direction
        if d == side or (self.long_only and side < 0 and d <= 0):
            return  # not filled: pyramiding 1, or a long-only short with no long to close
        if self.orules.oca:
            self.entries.clear()  # filled: its OCA cancel group's other orders go
        if self.long_only and side < 0:
            self.close_position(bar, price, SIGNAL, seen)
            return
        qty = order.qty
        if d:
            held = abs(self.pos)
            self.close_position(bar, price, SIGNAL, seen)
            qty = qty if math.isnan(order.level) else qty - held
        if qty > 1e-12:
            self.open_position(side, qty, bar, price, rest)


def _fraction(path: tuple[float, float, float, float], leg: int, price: float) -> float:
    """How far along ``leg`` (0-2; -1 is the open) ``price`` lies, 0 at its start, 1 at its end."""
    if leg < 0:
        return 0.0
    span = path[leg + 1] - path[leg]
    return (price - path[leg]) / span if span else 0.0


def _trigger(order: _Order, leg: int, price_now: float,
             path: tuple[float, float, float, float]) -> tuple[int, float, float] | None:
    """Where on the rest of the bar's path the order's level is reached, as (leg, fraction,
    unslipped fill price); None when it is not. The price is now ``price_now`` on ``leg``."""
    level = order.level
    if (price_now >= level) if order.rises else (price_now <= level):
        return leg, _fraction(path, leg, price_now), price_now  # beyond already: fills now
    first = max(leg, 0)
    for k in range(first, 3):
        a = price_now if k == first else path[k]
        b = path[k + 1]
        if (a < level <= b) if order.rises else (a > level >= b):
            return k, _fraction(path, k, level), level
    return None


def _seen(path: tuple[float, float, float, float], leg: int, price: float) -> tuple[float, float]:
    """Highest and lowest prices the path met up to ``price`` on ``leg`` (-1: the open)."""
    points = path[: max(leg, 0) + 1] + (price,)
    return max(points), min(points)


def _rest(path: tuple[float, float, float, float], leg: int, price: float) -> tuple[float, float]:
    """Highest and lowest prices the path meets from ``price`` on ``leg`` to the close."""
    points = (price,) + path[max(leg, 0) + 1:]
    return max(points), min(points)


def _fill_bar(book: _Book, bar: int, o: float, h: float, lo: float, c: float) -> None:
    """Market orders at the open, then stops and exits along the intrabar path."""
    slip = book.rules.slippage
    markets = [x for x in book.entries.values() if x.level != x.level]
    if not markets:
        for x in (*book.exits, *book.entries.values()):
            if (h >= x.level) if x.rises else (lo <= x.level):
                break
        else:
            return  # no level inside the bar's range: nothing can fill (the usual bar)
    elif len(markets) > 1:
        markets.sort(key=lambda x: x.seq)
    for order in markets:
        if book.entries.get(order.side) is order:
            book.fill_entry(order, bar, o * (1.0 + order.side * slip), (o, o), (h, lo))
    path = (o, h, lo, c) if (h - o) < (o - lo) else (o, lo, h, c)
    leg, price_now = -1, o
    while True:
        best = None
        for order in [*book.exits, *book.entries.values()]:
            if math.isnan(order.level):
                continue
            hit = _trigger(order, leg, price_now, path)
            if hit is None:
                continue
            # Earlier on the path first; exits before entries, then by placing order.
            key = (hit[0], hit[1], order.kind == SIGNAL, order.seq)
            if best is None or key < best[0]:
                best = (key, order, hit)
        if best is None:
            return
        _, order, (leg, _, price) = best
        price_now = price
        seen = _seen(path, leg, price)
        if order.kind == SIGNAL:
            book.fill_entry(order, bar, price * (1.0 + order.side * slip), seen,
                            _rest(path, leg, price))
        else:
            slipped = price * (1.0 + order.side * slip) if order.kind == STOP_LOSS else price
            book.close_position(bar, slipped, order.kind, seen)


def simulate_orders(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    intents: Intents, rules: FillRules, orules: OrderRules, capital: float,
    day: np.ndarray | None = None, progress: Callable[[float], None] | None = None,
) -> Trades:
    """Run the strategy's per-bar ``intents`` through the broker; the trades with quantities.

    ``day`` (int per bar) is the trading day for the intraday loss rule (None: one day).
    """
    n = len(open_)
    if not (len(high) == len(low) == len(close) == len(intents) == n):
        raise BacktestError("candles and orders differ in length; compute them on the frame")
    if not capital > 0:
        raise BacktestError(f"capital {capital!r} must be a positive amount (e.g. 10000)")
    o, h, lo, c = (np.asarray(x, dtype=np.float64).tolist() for x in (open_, high, low, close))
    le, ls, lc = (intents.long_entry.tolist(), intents.long_stop.tolist(),
                  intents.long_cancel.tolist())
    se, ss, sc = (intents.short_entry.tolist(), intents.short_stop.tolist(),
                  intents.short_cancel.tolist())
    days = np.zeros(n, dtype=np.int64).tolist() if day is None else np.asarray(day).tolist()
    book = _Book(rules, orules, capital)
    limit = orules.intraday_loss
    anchor, halted = capital, False
    step = max(n // 100, 1)
    for t in range(n):
        if t:
            if limit is not None and days[t] != days[t - 1]:
                anchor, halted = book.equity(c[t - 1]), False
            if book.entries or book.exits:
                _fill_bar(book, t, o[t], h[t], lo[t], c[t])
        if limit is not None and not halted:
            loss = anchor - book.equity(c[t])
            if loss > 0 and loss >= anchor * limit * 0.01:
                book.entries.clear()
                if book.pos:
                    book.close_position(t, c[t], INTRADAY_LOSS, (h[t], lo[t]))
                halted = True
        if not halted:
            if lc[t]:
                book.cancel(_LONG)
            if le[t]:
                book.place(_LONG, ls[t], c[t])
            if sc[t]:
                book.cancel(_SHORT)
            if se[t]:
                book.place(_SHORT, ss[t], c[t])
        if progress is not None and t % step == 0:
            progress(t / n)
    if book.pos:
        d = book.direction
        book.rows.append((d, book.entry_bar, book.entry_price, n - 1, c[n - 1], END, np.nan,
                          np.nan, abs(book.pos), *book.entry_range))
    if progress is not None:
        progress(1.0)
    return _to_trades(book.rows)


def _to_trades(rows: list[tuple]) -> Trades:
    return trades_from_rows(rows, width=11)
