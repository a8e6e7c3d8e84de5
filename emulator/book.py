"""The public side of a market: its trade tape and its order book, both generated from the
candles and the intrabar path (decision 0141).

Trade tape: every candle with volume prints ``TRADES_PER_CANDLE`` (22) trades along its path:
trade ``j`` at fraction ``j/21`` of the candle (the last one at its close time), at the path
price there, so the first trade is the open, trades 7 and 14 are the path's corners (high and
low) and the last is the close. Quantities split the candle's volume exactly (cumulative
8-decimal floors); a trade on a rising leg was a taker buy (``isBuyerMaker`` false). Trade ``j``
of candle ``i`` has id ``22*i + j``. Klines, tickers, ``trades``, ``historicalTrades``,
``aggTrades`` and ``avgPrice`` all read this tape, so their counts, volumes and prices agree.

Order book: the market has one price at each instant (the path price ``p``), so the book is
centred on it with no spread: level ``k`` (0, 1, ...) bids at ``p - k*tick`` and asks at
``p + k*tick``. A level holds about half a candle's volume, growing 10 % per level, with a
deterministic jitter per candle, side and level. A taker order walks these levels (so a small
market order fills at ``p``, as the ticker and the backtester assume, and a large one pays the
levels it eats); the account's own resting orders are shown at their prices on top.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from emulator.intrabar import intrabar_path, path_price
from emulator.market import Market

TRADES_PER_CANDLE = 22
_PER_LEG = 7
_FRACTIONS = np.arange(TRADES_PER_CANDLE) / (TRADES_PER_CANDLE - 1)
_LEGS = np.minimum(np.arange(TRADES_PER_CANDLE) // _PER_LEG, 2)
_SEGMENT_LEGS = np.minimum(np.maximum(np.arange(TRADES_PER_CANDLE) - 1, 0) // _PER_LEG, 2)
MAX_LEVELS = 5000


@dataclass(frozen=True)
class Tape:
    """Trades as parallel arrays, oldest first."""

    ids: np.ndarray
    times: np.ndarray
    prices: np.ndarray
    qtys: np.ndarray
    buyer_maker: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask: np.ndarray | slice) -> Tape:
        """The trades selected by ``mask``."""
        return Tape(self.ids[mask], self.times[mask], self.prices[mask], self.qtys[mask],
                    self.buyer_maker[mask])


def _floor8(values: np.ndarray) -> np.ndarray:
    return np.floor(np.round(values * 1e8, 3)) / 1e8


def _matrices(market: Market, first: int, count: int) -> tuple[np.ndarray, ...]:
    """Per candle ``first .. first+count-1`` (rows) and trade ``j`` (columns): prices,
    quantities, buyer-is-maker flags and times; plus the mask of candles that trade."""
    rows = market.rows(first, count) if count > 0 else np.empty((0, 5))
    period = market.timeframe_ms
    valid = ~np.isnan(rows[:, 0]) & (np.nan_to_num(rows[:, 4]) > 0)
    filled = np.where(valid[:, None], rows, 0.0)
    o, h, low, c, v = filled.T
    high_first = (h - o) < (o - low)
    corners = np.column_stack([o, np.where(high_first, h, low), np.where(high_first, low, h), c])
    start, end = corners[:, _LEGS], corners[:, _LEGS + 1]
    prices = market._round(start + (end - start) * (_FRACTIONS * 3 - _LEGS))
    rising = corners[:, 1:] > corners[:, :-1]  # (n, 3): leg k goes up
    buyer_maker = ~rising[:, _SEGMENT_LEGS]
    cumulative = _floor8(v[:, None] * np.arange(TRADES_PER_CANDLE + 1) / TRADES_PER_CANDLE)
    qtys = np.round(np.diff(cumulative, axis=1), 8)
    offsets = (np.arange(TRADES_PER_CANDLE) * period) // (TRADES_PER_CANDLE - 1)
    offsets[-1] = period - 1
    times = (np.arange(first, first + count) * period)[:, None] + offsets[None, :]
    return prices, qtys, buyer_maker, times, valid


_SUM_BLOCK = 256
_SUM_CACHE_BLOCKS = 256  # 256 x 5 x 256 floats: 2.6 MB per market at most


def candle_sums(market: Market, first: int, count: int, now_ms: int) -> np.ndarray:
    """Per candle: trade count, base volume, quote volume, taker-buy base and taker-buy quote
    volume of its trades up to ``now_ms``; shape (5, count). Aligned blocks of 256 candles
    that are wholly in the past are cached per market (and per script count: a script
    changes candles), so repeated tickers and klines cost little."""
    if count <= 0:
        return np.zeros((5, 0))
    period = market.timeframe_ms
    lo, hi = first // _SUM_BLOCK, (first + count - 1) // _SUM_BLOCK
    parts = []
    for block in range(lo, hi + 1):
        start = block * _SUM_BLOCK
        if (start + _SUM_BLOCK) * period - 1 <= now_ms:
            parts.append(_closed_block_sums(market, block))
        else:
            parts.append(_sums(market, start, _SUM_BLOCK, now_ms))
    joined = np.hstack(parts) if len(parts) > 1 else parts[0]
    offset = first - lo * _SUM_BLOCK
    return joined[:, offset:offset + count]


def _closed_block_sums(market: Market, block: int) -> np.ndarray:
    with market._lock:  # request threads share the market
        cache = market.__dict__.setdefault("_candle_sums_cache", OrderedDict())
        key = (block, len(market._scripts))
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
    hit = _sums(market, block * _SUM_BLOCK, _SUM_BLOCK, None)
    with market._lock:
        cache[key] = hit
        while len(cache) > _SUM_CACHE_BLOCKS:
            cache.popitem(last=False)
    return hit


def _sums(market: Market, first: int, count: int, now_ms: int | None) -> np.ndarray:
    prices, qtys, buyer_maker, times, valid = _matrices(market, first, count)
    if now_ms is None:
        now_ms = int(times.max()) if times.size else 0
    printed = valid[:, None] & (times <= now_ms)
    qtys = np.where(printed, qtys, 0.0)
    quote = prices * qtys
    taker = ~buyer_maker
    return np.vstack([printed.sum(axis=1), qtys.sum(axis=1), quote.sum(axis=1),
                      (qtys * taker).sum(axis=1), (quote * taker).sum(axis=1)])


def candle_trades(market: Market, first: int, count: int, now_ms: int | None = None) -> Tape:
    """The tape of candles ``first .. first+count-1`` (trades after ``now_ms`` left out)."""
    prices, qtys, buyer_maker, times, valid = _matrices(market, first, count)
    ids = (np.arange(first, first + count) * TRADES_PER_CANDLE)[:, None] + np.arange(
        TRADES_PER_CANDLE)[None, :]
    printed = valid[:, None] & (True if now_ms is None else times <= now_ms)
    keep = printed.ravel()
    if keep.all():
        return Tape(ids.ravel(), times.ravel(), prices.ravel(), qtys.ravel(),
                    buyer_maker.ravel())
    return Tape(ids.ravel()[keep], times.ravel()[keep], prices.ravel()[keep],
                qtys.ravel()[keep], buyer_maker.ravel()[keep])


def trades_between(market: Market, start_ms: int, end_ms: int, now_ms: int) -> Tape:
    """Every trade with ``start_ms <= time <= min(end_ms, now_ms)``."""
    end_ms = min(end_ms, now_ms)
    if end_ms < start_ms:
        return candle_trades(market, 0, 0)
    first, last = market.index_of(start_ms), market.index_of(end_ms)
    tape = candle_trades(market, first, last - first + 1, now_ms)
    return tape.take((tape.times >= start_ms) & (tape.times <= end_ms))


def recent_trades(market: Market, now_ms: int, limit: int) -> Tape:
    """The last ``limit`` trades up to ``now_ms`` (looking back at most a day of candles)."""
    per_day = max(1, 86_400_000 // market.timeframe_ms)
    span = -(-limit // TRADES_PER_CANDLE) + 1
    last = market.index_of(now_ms)
    while True:
        tape = candle_trades(market, last - span + 1, span, now_ms)
        if len(tape) >= limit or span >= per_day:
            return tape.take(slice(max(0, len(tape) - limit), None))
        span = min(per_day, span * 4)


def trades_from_id(market: Market, from_id: int, now_ms: int, limit: int) -> Tape:
    """Up to ``limit`` trades with id ``>= from_id`` up to ``now_ms``."""
    first = from_id // TRADES_PER_CANDLE
    last = market.index_of(now_ms)
    span = -(-limit // TRADES_PER_CANDLE) + 1
    tape = candle_trades(market, first, max(0, min(span, last - first + 1)), now_ms)
    tape = tape.take(tape.ids >= from_id)
    return tape.take(slice(0, limit))


def trade_json(tape: Tape, i: int) -> dict:
    """One trade as ``GET /api/v3/trades`` writes it."""
    price, qty = float(tape.prices[i]), float(tape.qtys[i])
    return {
        "id": int(tape.ids[i]),
        "price": f"{price:.8f}",
        "qty": f"{qty:.8f}",
        "quoteQty": f"{price * qty:.8f}",
        "time": int(tape.times[i]),
        "isBuyerMaker": bool(tape.buyer_maker[i]),
        "isBestMatch": True,
    }


def agg_trade_json(tape: Tape, i: int) -> dict:
    """One trade as ``GET /api/v3/aggTrades`` writes it (each taker here fills one level)."""
    return {
        "a": int(tape.ids[i]),
        "p": f"{float(tape.prices[i]):.8f}",
        "q": f"{float(tape.qtys[i]):.8f}",
        "f": int(tape.ids[i]),
        "l": int(tape.ids[i]),
        "T": int(tape.times[i]),
        "m": bool(tape.buyer_maker[i]),
        "M": True,
    }


# -- order book ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Book:
    """The generated book of one symbol at one instant: level ``k`` of each side."""

    price: Decimal
    tick: Decimal
    step: Decimal
    scale: float
    seed: int

    @classmethod
    def of(cls, market: Market, symbol: str, now_ms: int, tick: Decimal, step: Decimal) -> Book:
        """The book of ``market`` at ``now_ms``."""
        price = Decimal(repr(market.price_at(now_ms)))
        candle = market.candle_at(now_ms)
        volume = candle[4] if candle is not None else 0.0
        scale = max(volume / 2.0, float(step) * 1000)
        seed = zlib.crc32(f"{symbol}:{market.index_of(now_ms)}".encode())
        return cls(price, tick, step, scale, seed)

    def levels(self, side: str, count: int) -> list[tuple[Decimal, Decimal]]:
        """``count`` levels of ``side`` ("bids" or "asks"), best first: (price, quantity)."""
        count = max(0, min(count, MAX_LEVELS))
        if side == "bids":
            count = min(count, int(self.price / self.tick))  # no level at or below zero
        rng = np.random.default_rng([self.seed, 0 if side == "bids" else 1])
        jitter = np.exp(0.3 * rng.standard_normal(count))
        sizes = self.scale * (1.0 + 0.1 * np.arange(count)) * jitter
        sign = -1 if side == "bids" else 1
        answer = []
        for k in range(count):
            qty = (Decimal(repr(float(sizes[k]))) / self.step).to_integral_value() * self.step
            answer.append((self.price + sign * k * self.tick, max(qty, self.step)))
        return answer

    def _lazy_levels(self, side: str) -> Iterator[tuple[Decimal, Decimal]]:
        """The levels of ``side`` best first, generated in growing chunks."""
        done = 0
        for count in (16, 256, MAX_LEVELS):
            yield from self.levels(side, count)[done:]
            done = count

    def walk(self, side: str, qty: Decimal | None, quote: Decimal | None,
             limit_price: Decimal | None, step: Decimal) -> list[tuple[Decimal, Decimal]]:
        """The fills of a taker eating ``side`` for ``qty`` base (or ``quote`` of the quote
        asset), not past ``limit_price``: [(price, qty)], each qty a whole number of steps."""
        fills = []
        left_qty, left_quote = qty, quote
        for price, size in self._lazy_levels(side):
            if limit_price is not None and (
                (side == "asks" and price > limit_price)
                or (side == "bids" and price < limit_price)
            ):
                break
            if left_qty is not None:
                take = min(size, left_qty)
            else:
                assert left_quote is not None
                take = min(size, (left_quote / price / step).to_integral_value(
                    rounding="ROUND_DOWN") * step)
            if take <= 0:
                break
            fills.append((price, take))
            if left_qty is not None:
                left_qty -= take
                if left_qty <= 0:
                    break
            else:
                assert left_quote is not None
                left_quote -= take * price
        return fills


# -- when the path reaches a price --------------------------------------------------------------
def first_touch(market: Market, start_ms: int, end_ms: int, level: float, *, below: bool,
                chunk: int = 50_000) -> int | None:
    """The first millisecond in ``[start_ms, end_ms]`` at which the intrabar path is at or
    below ``level`` (``below``) or at or above it; None if it never is."""
    if end_ms < start_ms:
        return None
    period = market.timeframe_ms
    index, last = market.index_of(start_ms), market.index_of(end_ms)
    while index <= last:
        count = min(chunk, last - index + 1)
        rows = market.rows(index, count)
        extreme = rows[:, 2] if below else rows[:, 1]
        with np.errstate(invalid="ignore"):
            hit = (extreme <= level) if below else (extreme >= level)
        for offset in (int(i) for i in np.flatnonzero(hit)):
            open_ms = (index + offset) * period
            at = _touch_in_candle(rows[offset], open_ms, period, max(start_ms, open_ms),
                                  min(end_ms, open_ms + period - 1), level, below)
            if at is not None:
                return at
        index += count
    return None


def _touch_in_candle(row: np.ndarray, open_ms: int, period: int, from_ms: int, to_ms: int,
                     level: float, below: bool) -> int | None:
    """First ms in ``[from_ms, to_ms]`` of one candle at which its path reaches ``level``."""
    o, h, low, c = (float(x) for x in row[:4])
    points = intrabar_path(o, h, low, c)
    lo_f, hi_f = (from_ms - open_ms) / period, (to_ms - open_ms) / period
    for leg in range(3):
        a, b = max(leg / 3, lo_f), min((leg + 1) / 3, hi_f)
        if a > b:
            continue
        pa = path_price(o, h, low, c, a) if a > leg / 3 else points[leg]
        pb = path_price(o, h, low, c, b)
        reached_a = pa <= level if below else pa >= level
        reached_b = pb <= level if below else pb >= level
        if reached_a:
            fraction = a
        elif reached_b:
            fraction = a + (pa - level) / (pa - pb) * (b - a)
        else:
            continue
        return max(from_ms, min(to_ms, open_ms + math.ceil(fraction * period)))
    return None
