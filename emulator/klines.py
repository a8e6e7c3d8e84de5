"""Binance ``klines`` and ``ticker/24hr`` answers computed from a market's base candles.

Higher intervals are aggregated from the base timeframe (1m): open of the first, highest
high, lowest low, close of the last, summed volume. The last bar is the still-open one, built
from the intrabar path up to the clock's now, exactly as Binance serves it.
"""

from __future__ import annotations

import numpy as np

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
}
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
) -> list[list]:
    """The ``GET /api/v3/klines`` answer: 12-field rows, oldest first, last one still open.

    ``interval_ms`` must be a whole multiple of the market's timeframe (ValueError otherwise).
    """
    base = market.timeframe_ms
    if interval_ms % base:
        raise ValueError(f"interval {interval_ms} ms is not a multiple of the market's {base} ms")
    per = interval_ms // base
    k0, k1 = _bucket_range(interval_ms, now_ms, start_ms, end_ms, limit)
    first = market.first_index()
    if first is not None:
        k0 = max(k0, first * base // interval_ms)
    if k1 < k0:
        return []
    rows = base_rows_until(market, k0 * per, (k1 - k0 + 1) * per, now_ms)
    bars = aggregate(rows, per)
    answer = []
    for offset, (o, h, low, c, v) in enumerate(bars):
        if np.isnan(o):
            continue
        open_ms = (k0 + offset) * interval_ms
        quote = v * (o + c) / 2.0
        answer.append(
            [
                open_ms,
                fmt8(o),
                fmt8(h),
                fmt8(low),
                fmt8(c),
                fmt8(v),
                open_ms + interval_ms - 1,
                fmt8(quote),
                int(round(v * 20)),
                fmt8(v / 2.0),
                fmt8(quote / 2.0),
                "0",
            ]
        )
    return answer


def ticker_24hr(market: Market, symbol: str, now_ms: int) -> dict:
    """The ``GET /api/v3/ticker/24hr`` object for ``symbol`` over the 24 hours up to now."""
    base = market.timeframe_ms
    first = market.index_of(now_ms - DAY_MS)
    count = market.index_of(now_ms) - first + 1
    rows = base_rows_until(market, first, count, now_ms)
    valid = rows[~np.isnan(rows[:, 0])]
    last = market.price_at(now_ms)
    if len(valid) == 0:
        valid = np.array([[last, last, last, last, 0.0]])
    open_price = float(valid[0, 0])
    volume = float(valid[:, 4].sum())
    quote = float((valid[:, 4] * (valid[:, 0] + valid[:, 3]) / 2.0).sum())
    change = last - open_price
    trades = int(round(volume * 20))
    first_id = (now_ms - DAY_MS) // base
    return {
        "symbol": symbol,
        "priceChange": fmt8(change),
        "priceChangePercent": f"{100.0 * change / open_price:.3f}",
        "weightedAvgPrice": fmt8(quote / volume if volume > 0 else last),
        "prevClosePrice": fmt8(open_price),
        "lastPrice": fmt8(last),
        "lastQty": fmt8(0.001),
        "bidPrice": fmt8(last),
        "bidQty": fmt8(1.0),
        "askPrice": fmt8(last),
        "askQty": fmt8(1.0),
        "openPrice": fmt8(open_price),
        "highPrice": fmt8(float(valid[:, 1].max())),
        "lowPrice": fmt8(float(valid[:, 2].min())),
        "volume": fmt8(volume),
        "quoteVolume": fmt8(quote),
        "openTime": int(now_ms - DAY_MS),
        "closeTime": int(now_ms),
        "firstId": int(first_id),
        "lastId": int(first_id + trades),
        "count": trades,
    }
