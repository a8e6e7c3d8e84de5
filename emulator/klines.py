"""Binance ``klines`` and ``ticker/24hr`` answers computed from a market's base candles.

Higher intervals are aggregated from the base timeframe (1m): open of the first, highest
high, lowest low, close of the last, summed volume. The last bar is the still-open one, built
from the intrabar path up to the clock's now, exactly as Binance serves it.
"""

from __future__ import annotations

import numpy as np

from emulator.book import (
    TRADES_PER_CANDLE,
    candle_sums,
    candle_trades,
    recent_trades,
    trades_between,
)
from emulator.market import Market
from emulator.wire import fmt8

INTERVALS_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 7 * 86_400_000,
}
WEEK_SHIFT_MS = 3 * 86_400_000  # 1970-01-01 was a Thursday: weeks open on Monday 00:00
DAY_MS = 86_400_000


def base_rows_until(market: Market, first: int, count: int, now_ms: int) -> np.ndarray:
    """Base rows ``first .. first+count-1`` as seen at ``now_ms``.

    Candles after the one holding ``now_ms`` are NaN (not yet traded); that one is replaced
    by the candle so far.
    """
    rows = market.rows(first, count)
    now_index = market.index_of(now_ms)
    if now_index < first:
        rows[:] = np.nan
    elif now_index < first + count:
        rows[now_index - first + 1 :] = np.nan
        partial = market.partial_at(now_ms)
        rows[now_index - first] = np.nan if partial is None else partial
    return rows


def _bucket_range(
    interval_ms: int, now_ms: int, start_ms: int | None, end_ms: int | None, limit: int
) -> tuple[int, int]:
    """First and last bar index (of ``interval_ms``) Binance would answer with."""
    last_allowed = now_ms // interval_ms
    if start_ms is not None:
        k0 = -(-int(start_ms) // interval_ms)  # first bar opening at or after startTime
        k1 = min(last_allowed, k0 + limit - 1)
        if end_ms is not None:
            k1 = min(k1, int(end_ms) // interval_ms)
        return k0, k1
    k1 = last_allowed if end_ms is None else min(last_allowed, int(end_ms) // interval_ms)
    return k1 - limit + 1, k1


def aggregate(rows: np.ndarray, per: int) -> np.ndarray:
    """Aggregate base rows (n*per, 5) into (n, 5) bars, ignoring NaN rows; all-NaN bars stay NaN."""
    n = len(rows) // per
    blocks = rows[: n * per].reshape(n, per, 5)
    valid = ~np.isnan(blocks[:, :, 0])
    has_any = valid.any(axis=1)
    first = np.argmax(valid, axis=1)
    last = per - 1 - np.argmax(valid[:, ::-1], axis=1)
    out = np.full((n, 5), np.nan)
    take = np.arange(n)
    with np.errstate(all="ignore"):
        out[:, 0] = blocks[take, first, 0]
        out[:, 3] = blocks[take, last, 3]
        filled_h = np.where(valid, blocks[:, :, 1], -np.inf)
        filled_l = np.where(valid, blocks[:, :, 2], np.inf)
        out[:, 1] = filled_h.max(axis=1)
        out[:, 2] = filled_l.min(axis=1)
        out[:, 4] = np.where(valid, blocks[:, :, 4], 0.0).sum(axis=1)
    out[~has_any] = np.nan
    return out


def klines(
    market: Market,
    interval_ms: int,
    now_ms: int,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 500,
    shift_ms: int = 0,
) -> list[list]:
    """The ``GET /api/v3/klines`` answer: 12-field rows, oldest first, last one still open.

    ``interval_ms`` must be a whole multiple of the market's timeframe (ValueError otherwise).
    ``shift_ms`` is the ``timeZone`` offset (bars open at whole intervals of local time) plus
    the week's alignment (``1w`` bars open on Mondays); a multiple of the timeframe.
    """
    base = market.timeframe_ms
    if interval_ms % base or shift_ms % base:
        raise ValueError(f"interval {interval_ms} ms is not a multiple of the market's {base} ms")
    per = interval_ms // base
    local = lambda t: None if t is None else t + shift_ms  # noqa: E731
    k0, k1 = _bucket_range(interval_ms, now_ms + shift_ms, local(start_ms), local(end_ms), limit)
    first = market.first_index()
    if first is not None:
        k0 = max(k0, (first * base + shift_ms) // interval_ms)
    if k1 < k0:
        return []
    first_row = (k0 * interval_ms - shift_ms) // base
    rows = base_rows_until(market, first_row, (k1 - k0 + 1) * per, now_ms)
    bars = aggregate(rows, per)
    tape = tape_sums(market, first_row, (k1 - k0 + 1) * per, now_ms, interval_ms, k0, shift_ms)
    answer = []
    for offset, (o, h, low, c, v, count, volume, quote, taker, taker_quote) in enumerate(
        np.column_stack([bars, tape.T]).tolist()
    ):
        if o != o:  # NaN: no candle there
            continue
        open_ms = (k0 + offset) * interval_ms - shift_ms
        scale = v / volume if volume > 0 else 0.0  # the open bar: linear volume, tape's mix
        answer.append(
            [
                open_ms,
                fmt8(o),
                fmt8(h),
                fmt8(low),
                fmt8(c),
                fmt8(v),
                open_ms + interval_ms - 1,
                fmt8(quote * scale),
                int(count),
                fmt8(taker * scale),
                fmt8(taker_quote * scale),
                "0",
            ]
        )
    return answer


def tape_sums(market: Market, first: int, count: int, now_ms: int, interval_ms: int,
              first_bar: int, shift_ms: int = 0) -> np.ndarray:
    """Per bar of ``interval_ms`` (``count`` base candles from ``first``, whole bars): trade
    count, base volume, quote volume, taker-buy base and quote volume up to ``now_ms``;
    shape (5, bars)."""
    per = interval_ms // market.timeframe_ms
    sums = candle_sums(market, first, count, now_ms)
    return sums.reshape(5, -1, per).sum(axis=2)


def second_klines(market: Market, now_ms: int, *, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 500) -> list[list]:
    """``1s`` klines from the trade tape: a second with trades has their open, high, low,
    close and volume; a second without any is flat at the last trade before it, volume 0."""
    k0, k1 = _bucket_range(1000, now_ms, start_ms, end_ms, limit)
    first = market.first_index()
    if first is not None:
        k0 = max(k0, first * market.timeframe_ms // 1000)
    if k1 < k0:
        return []
    tape = trades_between(market, k0 * 1000, k1 * 1000 + 999, now_ms)
    before = recent_trades(market, k0 * 1000 - 1, 1)
    last = float(before.prices[-1]) if len(before) else (
        float(tape.prices[0]) if len(tape) else market.price_at(k0 * 1000))
    seconds = (tape.times // 1000 - k0).tolist()
    prices, qtys, makers = tape.prices.tolist(), tape.qtys.tolist(), tape.buyer_maker.tolist()
    answer, i = [], 0
    for k in range(k1 - k0 + 1):
        o = h = low = c = last
        volume = quote = taker = taker_quote = 0.0
        count = 0
        while i < len(seconds) and seconds[i] == k:
            p, q = prices[i], qtys[i]
            if count == 0:
                o = h = low = p
            h, low, c = max(h, p), min(low, p), p
            volume, quote, count = volume + q, quote + p * q, count + 1
            if not makers[i]:
                taker, taker_quote = taker + q, taker_quote + p * q
            i += 1
        last = c
        open_ms = (k0 + k) * 1000
        answer.append([open_ms, fmt8(o), fmt8(h), fmt8(low), fmt8(c), fmt8(volume),
                       open_ms + 999, fmt8(quote), count, fmt8(taker), fmt8(taker_quote), "0"])
    return answer


MINI_FIELDS = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume",
               "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count")
WINDOW_FIELDS = ("symbol", "priceChange", "priceChangePercent", "weightedAvgPrice",
                 *MINI_FIELDS[1:])


def ticker_24hr(market: Market, symbol: str, now_ms: int, book: object | None = None) -> dict:
    """The ``GET /api/v3/ticker/24hr`` object for ``symbol`` over the 24 hours up to now.

    ``book`` (an ``emulator.book.Book``) gives the best bid and ask; without one both are
    the last price with quantity 1.
    """
    stats = window_stats(market, symbol, now_ms - DAY_MS, now_ms)
    last = market.price_at(now_ms)
    bid = ask = (last, 1.0)
    if book is not None:
        bids, asks = book.levels("bids", 1), book.levels("asks", 1)  # type: ignore[attr-defined]
        if bids and asks:
            bid, ask = (float(bids[0][0]), float(bids[0][1])), (float(asks[0][0]),
                                                                  float(asks[0][1]))
    return {
        "symbol": symbol,
        "priceChange": stats["priceChange"],
        "priceChangePercent": stats["priceChangePercent"],
        "weightedAvgPrice": stats["weightedAvgPrice"],
        "prevClosePrice": stats["openPrice"],
        "lastPrice": stats["lastPrice"],
        "lastQty": stats.pop("_lastQty"),
        "bidPrice": fmt8(bid[0]),
        "bidQty": fmt8(bid[1]),
        "askPrice": fmt8(ask[0]),
        "askQty": fmt8(ask[1]),
        **{k: stats[k] for k in MINI_FIELDS[1:]},
    }


def window_stats(market: Market, symbol: str, open_ms: int, now_ms: int,
                 close_ms: int | None = None) -> dict:
    """Price-change statistics of the candles from the one holding ``open_ms`` up to now,
    in the rolling-window ticker's fields (plus ``_lastQty``); trades from the tape."""
    first = market.index_of(open_ms)
    count = max(1, market.index_of(now_ms) - first + 1)
    rows = base_rows_until(market, first, count, now_ms)
    valid = rows[~np.isnan(rows[:, 0])]
    last = market.price_at(now_ms)
    if len(valid) == 0:
        valid = np.array([[last, last, last, last, 0.0]])
    open_price = float(valid[0, 0])
    volume = float(valid[:, 4].sum())
    sums = candle_sums(market, first, count, now_ms)
    tape_volume = float(sums[1].sum())
    vwap = float(sums[2].sum()) / tape_volume if tape_volume > 0 else last
    change = last - open_price
    printed = np.flatnonzero(sums[0] > 0)
    trades = int(sums[0].sum())
    last_trades = (candle_trades(market, first + int(printed[-1]), 1, now_ms) if trades
                   else None)
    return {
        "symbol": symbol,
        "priceChange": fmt8(change),
        "priceChangePercent": f"{100.0 * change / open_price:.3f}",
        "weightedAvgPrice": fmt8(vwap),
        "openPrice": fmt8(open_price),
        "highPrice": fmt8(float(max(valid[:, 1].max(), last))),
        "lowPrice": fmt8(float(min(valid[:, 2].min(), last))),
        "lastPrice": fmt8(last),
        "volume": fmt8(volume),
        "quoteVolume": fmt8(vwap * volume),
        "openTime": int(open_ms),
        "closeTime": int(now_ms if close_ms is None else close_ms),
        "firstId": (first + int(printed[0])) * TRADES_PER_CANDLE if trades else -1,
        "lastId": int(last_trades.ids[-1]) if last_trades is not None else -1,
        "count": trades,
        "_lastQty": fmt8(float(last_trades.qtys[-1])) if last_trades is not None else fmt8(0.0),
    }
