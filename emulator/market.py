"""Markets the emulator trades on: a seeded price generator and a candle-file replay.

A market knows every candle of its base timeframe (1m by default) by index ``i``, the candle
that opens at ``i * timeframe_ms``. Rows are ``(open, high, low, close, volume)`` float arrays;
a row of NaN means "no candle" (a replay before its first row). The still-open candle and the
price at any instant come from the intrabar path (``intrabar.py``). Higher intervals are
aggregated by ``klines.py``.

A test can script the price: ``script(from_ms, closes)`` makes the candles from the one that
holds ``from_ms`` close at the given prices; ``force_price(price, at_ms)`` makes the whole
candle that holds ``at_ms`` trade flat at ``price``. After a script the market goes on from the
scripted level (the rest of the path is scaled), so the price never jumps back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emulator.intrabar import partial_candle, path_price

MINUTE_MS = 60_000


@dataclass(frozen=True)
class _Script:
    """A scripted stretch: full rows from index ``start``, then the path scaled by ``ratio``."""

    start: int
    rows: np.ndarray
    ratio: float

    @property
    def end(self) -> int:
        return self.start + len(self.rows)


class Market:
    """Base class: candles by index, the open candle and the price at any instant, scripts.

    Subclasses implement ``_base_rows(first, count)`` and may override ``first_index()``.
    Thread-safe: the emulator's request threads read it concurrently.
    """

    def __init__(self, timeframe_ms: int = MINUTE_MS, tick_size: float | None = 0.01) -> None:
        if timeframe_ms <= 0:
            raise ValueError(f"timeframe_ms must be > 0, got {timeframe_ms}")
        self.timeframe_ms = int(timeframe_ms)
        self.tick_size = tick_size
        self._scripts: list[_Script] = []
        self._lock = threading.RLock()

    # -- subclass hooks -------------------------------------------------------------------
    def _base_rows(self, first: int, count: int) -> np.ndarray:
        """Unscripted rows ``first .. first+count-1`` as a (count, 5) float array."""
        raise NotImplementedError

    def first_index(self) -> int | None:
        """Index of the first candle, or None when the market has no beginning."""
        return None

    # -- candles --------------------------------------------------------------------------
    def rows(self, first: int, count: int) -> np.ndarray:
        """Rows ``first .. first+count-1`` (scripts applied) as a (count, 5) float array."""
        with self._lock:
            return self._rows_locked(first, count, len(self._scripts))

    def _rows_locked(self, first: int, count: int, n_scripts: int) -> np.ndarray:
        rows = np.array(self._base_rows(first, count), dtype="float64", copy=True)
        for script in self._scripts[:n_scripts]:
            lo, hi = max(first, script.start), min(first + count, script.end)
            if lo < hi:
                rows[lo - first : hi - first] = script.rows[lo - script.start : hi - script.start]
            after = max(first, script.end)
            if after < first + count:
                rows[after - first :, :4] = self._round(rows[after - first :, :4] * script.ratio)
        return rows

    def _round(self, prices: np.ndarray) -> np.ndarray:
        if not self.tick_size:
            return prices
        return np.round(np.round(prices / self.tick_size) * self.tick_size, 8)

    def index_of(self, ms: int) -> int:
        """Index of the candle that holds the instant ``ms``."""
        return int(ms) // self.timeframe_ms

    def candle_at(self, open_ms: int) -> tuple[float, float, float, float, float] | None:
        """The full (open, high, low, close, volume) of the candle holding ``open_ms``.

        For the still-open candle this is where it will end; use ``partial_at`` for the candle
        so far. None when the market has no candle there (before a replay starts).
        """
        row = self.rows(self.index_of(open_ms), 1)[0]
        if np.isnan(row[0]):
            return None
        return tuple(float(x) for x in row)  # type: ignore[return-value]

    def partial_at(self, now_ms: int) -> tuple[float, float, float, float, float] | None:
        """The candle holding ``now_ms`` as it looks at ``now_ms`` (high/low/close so far)."""
        full = self.candle_at(now_ms)
        if full is None:
            return None
        o, h, low, c, v = partial_candle(*full, fraction=self._fraction(now_ms))
        # The current price is rounded to the tick; so are the extremes it may be one of.
        return (o, self._round_one(h), self._round_one(low), self._round_one(c), v)

    def price_at(self, ms: int) -> float:
        """The traded price at the instant ``ms``, on the intrabar path, rounded to the tick.

        Before a replay's first candle this is that candle's open.
        """
        full = self.candle_at(ms)
        if full is None:
            first = self.first_index()
            assert first is not None, "only a market with a beginning lacks candles"
            return float(self.rows(first, 1)[0][0])
        o, h, low, c, _ = full
        return self._round_one(path_price(o, h, low, c, self._fraction(ms)))

    def _fraction(self, ms: int) -> float:
        return (int(ms) - self.index_of(ms) * self.timeframe_ms) / self.timeframe_ms

    def _round_one(self, price: float) -> float:
        return float(self._round(np.array([price]))[0])

    # -- scripting ------------------------------------------------------------------------
    def script(self, from_ms: int, closes: Sequence[float], *, gap: bool = False) -> None:
        """Make the candles from the one holding ``from_ms`` close at ``closes``, in order.

        Each scripted candle opens at the previous close (or, with ``gap=True``, the first one
        opens at its own close: a jump), has no wicks and keeps its volume. Later candles
        continue from the last scripted close. Later scripts win where they overlap.
        """
        closes = [float(c) for c in closes]
        if not closes or min(closes) <= 0:
            raise ValueError("script needs at least one close and every close must be > 0")
        start = self.index_of(from_ms)
        with self._lock:
            n = len(self._scripts)
            current = self._rows_locked(start - 1, len(closes) + 1, n)
            prev_close = closes[0] if gap or np.isnan(current[0, 3]) else float(current[0, 3])
            opens = np.array([prev_close] + closes[:-1])
            shut = np.array(closes)
            rows = np.column_stack(
                [opens, np.maximum(opens, shut), np.minimum(opens, shut), shut, current[1:, 4]]
            )
            rows[:, :4] = self._round(rows[:, :4])
            rows[:, 4] = np.nan_to_num(rows[:, 4])
            last = float(current[-1, 3])
            ratio = 1.0 if np.isnan(last) or last <= 0 else closes[-1] / last
            self._scripts.append(_Script(start, rows, ratio))

    def force_price(self, price: float, at_ms: int) -> None:
        """Make the whole candle holding ``at_ms`` trade flat at ``price``; the market goes on
        from there."""
        self.script(at_ms, [price], gap=True)

    def clear_scripts(self) -> None:
        """Forget every script: the market is its unscripted self again."""
        with self._lock:
            self._scripts.clear()


class GeneratedMarket(Market):
    """A deterministic, seeded market with trending and ranging stretches.

    The log price at candle boundary ``i`` is ``log(start_price) + R(i) + N(i)``:

    * ``R`` is the regime: time is cut into cycles of ``cycle_candles``; cycle ``k`` has a
      level ``X_k`` (normal, std ``trend_size``) and a split ``f_k`` in [0.3, 0.7]. For the
      first ``f_k`` of the cycle the price trends linearly from ``X_k`` to ``X_(k+1)``, then
      it ranges (no drift) for the rest.
    * ``N`` is local noise: half a 24-hour and half a 6-hour moving sum of per-candle normal
      shocks (std ``volatility``). Step by step it moves like a random walk, but it stays
      bounded, so the market never wanders off.

    Every random number is drawn from a generator seeded by (seed, stream, block of 4096
    indices), so any candle, however far in the past or future, comes out the same whatever
    was asked before: no state, only a cache.
    """

    _BLOCK = 4096
    _OFFSET = 1 << 40  # keeps the seed-sequence entropy non-negative for indices near 0
    _W_LONG, _W_SHORT = 1440, 360
    _EPS, _WICK_HI, _WICK_LO, _VOLUME, _LEVEL, _SPLIT = range(6)

    def __init__(
        self,
        seed: int,
        start_price: float = 30_000.0,
        timeframe_ms: int = MINUTE_MS,
        *,
        volatility: float = 0.0007,
        trend_size: float = 0.03,
        cycle_candles: int = 360,
        volume: float = 10.0,
        tick_size: float | None = 0.01,
    ) -> None:
        super().__init__(timeframe_ms, tick_size)
        if start_price <= 0 or volatility < 0 or trend_size < 0 or cycle_candles < 2:
            raise ValueError(
                "GeneratedMarket needs start_price > 0, volatility >= 0, trend_size >= 0"
                " and cycle_candles >= 2"
            )
        self.seed = int(seed)
        self.start_price = float(start_price)
        self.volatility = float(volatility)
        self.trend_size = float(trend_size)
        self.cycle_candles = int(cycle_candles)
        self.volume = float(volume)
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _block(self, stream: int, block: int) -> np.ndarray:
        key = (stream, block)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, stream, block + self._OFFSET])
        values = rng.standard_normal(self._BLOCK)
        with self._cache_lock:
            self._cache[key] = values
            while len(self._cache) > 512:
                self._cache.popitem(last=False)
        return values

    def normals(self, stream: int, lo: int, hi: int) -> np.ndarray:
        """The standard normals of ``stream`` for indices ``lo .. hi-1`` (deterministic)."""
        first, last = lo // self._BLOCK, (hi - 1) // self._BLOCK
        parts = [self._block(stream, b) for b in range(first, last + 1)]
        joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return joined[lo - first * self._BLOCK : hi - first * self._BLOCK]

    def _regime(self, lo: int, hi: int) -> np.ndarray:
        """R(i) for boundaries ``lo .. hi-1``."""
        idx = np.arange(lo, hi)
        cycles = idx // self.cycle_candles
        c0, c1 = int(cycles[0]), int(cycles[-1]) + 2
        levels = self.trend_size * self.normals(self._LEVEL, c0, c1)
        split_z = self.normals(self._SPLIT, c0, c1)
        splits = 0.3 + 0.4 / (1.0 + np.exp(-1.7 * split_z))
        k = cycles - c0
        u = (idx - cycles * self.cycle_candles) / self.cycle_candles
        progress = np.minimum(u / splits[k], 1.0)
        return levels[k] + (levels[k + 1] - levels[k]) * progress

    def _noise(self, lo: int, hi: int) -> np.ndarray:
        """N(i) for boundaries ``lo .. hi-1``."""
        w_long, w_short = self._W_LONG, self._W_SHORT
        eps = self.normals(self._EPS, lo - w_long + 1, hi)
        csum = np.concatenate([[0.0], np.cumsum(eps)])
        ends = np.arange(w_long, w_long + hi - lo)
        long_sum = csum[ends] - csum[ends - w_long]
        short_sum = csum[ends] - csum[ends - w_short]
        return self.volatility * 0.5 * (long_sum + short_sum)

    def boundary_prices(self, lo: int, hi: int) -> np.ndarray:
        """The price at candle boundaries ``lo .. hi-1`` (boundary i = open of candle i)."""
        log_p = np.log(self.start_price) + self._regime(lo, hi) + self._noise(lo, hi)
        return np.exp(log_p)

    def _base_rows(self, first: int, count: int) -> np.ndarray:
        if count <= 0:
            return np.empty((0, 5))
        prices = self.boundary_prices(first, first + count + 1)
        o, c = prices[:-1], prices[1:]
        sigma = self.volatility
        up = np.abs(self.normals(self._WICK_HI, first, first + count)) * 0.6 * sigma
        down = np.abs(self.normals(self._WICK_LO, first, first + count)) * 0.6 * sigma
        h = np.maximum(o, c) * np.exp(up)
        low = np.minimum(o, c) * np.exp(-down)
        move = np.abs(np.log(c / o)) / sigma if sigma > 0 else np.zeros(count)
        vol_z = self.normals(self._VOLUME, first, first + count)
        v = np.round(self.volume * np.exp(0.35 * vol_z) * (1.0 + move), 5)
        prices4 = self._round(np.column_stack([o, h, low, c]))
        return np.column_stack([prices4, v])


class ReplayMarket(Market):
    """A market replaying a candle frame or any candle file ``storage.candle_formats`` reads.

    Candles are served exactly as stored. A missing candle inside the file trades flat at the
    previous close with zero volume; after the last row the price stays at the last close
    (flat, zero-volume candles), or, with ``then`` (a market of the same timeframe), goes on
    as that market does, scaled so that it opens at the last close; before the first row there
    are no candles.
    """

    def __init__(
        self,
        source: pd.DataFrame | str | Path,
        *,
        timeframe_ms: int | None = None,
        tick_size: float | None = 0.01,
        then: Market | None = None,
    ) -> None:
        frame = self._load(source)
        stamps = frame["timestamp"].to_numpy(dtype="int64")
        if len(stamps) == 0:
            raise ValueError("ReplayMarket needs at least one candle; the source is empty")
        if timeframe_ms is None:
            timeframe_ms = int(np.diff(stamps).min()) if len(stamps) > 1 else MINUTE_MS
        super().__init__(timeframe_ms, tick_size)
        off_grid = stamps % self.timeframe_ms != 0
        if off_grid.any():
            bad = int(stamps[np.flatnonzero(off_grid)[0]])
            raise ValueError(
                f"replay candle at {bad} is not on the {self.timeframe_ms} ms grid;"
                " candle open times must be whole multiples of the timeframe"
            )
        self._first = int(stamps[0] // self.timeframe_ms)
        n = int(stamps[-1] // self.timeframe_ms) - self._first + 1
        dense = np.full((n, 5), np.nan)
        values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
        dense[stamps // self.timeframe_ms - self._first] = values
        missing = np.flatnonzero(np.isnan(dense[:, 0]))
        for row in missing:  # gaps: flat at the previous close
            prev = dense[row - 1, 3]
            dense[row] = (prev, prev, prev, prev, 0.0)
        self._dense = dense
        self.frame = frame
        self._then = then
        self._then_ratio = 1.0
        if then is not None:
            if then.timeframe_ms != self.timeframe_ms:
                raise ValueError(f"the market after the replay must have its {self.timeframe_ms}"
                                 f" ms timeframe, not {then.timeframe_ms}")
            after = then.rows(self._first + n, 1)[0]
            self._then_ratio = float(dense[-1, 3] / after[0])

    @staticmethod
    def _load(source: pd.DataFrame | str | Path) -> pd.DataFrame:
        from core.candles import candle_problem
        from storage.candle_formats import read_any

        if isinstance(source, str | Path):
            return read_any(source)
        problem = candle_problem(source)
        if problem is not None:
            raise ValueError(f"replay frame row {problem[0]}: {problem[1]}")
        return source.reset_index(drop=True)

    def first_index(self) -> int:
        """Index of the file's first candle."""
        return self._first

    @property
    def start_ms(self) -> int:
        """Open time of the first candle."""
        return self._first * self.timeframe_ms

    @property
    def end_ms(self) -> int:
        """Close time (exclusive) of the last candle in the file."""
        return (self._first + len(self._dense)) * self.timeframe_ms

    def default_start_ms(self, history: int = 200) -> int:
        """A clock start at which ``history`` candles are already closed (open of the next)."""
        if history < 0 or history >= len(self._dense):
            raise ValueError(
                f"the replay holds {len(self._dense)} candles; history={history} must be"
                " between 0 and that count minus one"
            )
        return (self._first + history) * self.timeframe_ms

    def _base_rows(self, first: int, count: int) -> np.ndarray:
        rows = np.full((max(count, 0), 5), np.nan)
        n = len(self._dense)
        lo, hi = max(first, self._first), min(first + count, self._first + n)
        if lo < hi:
            rows[lo - first : hi - first] = self._dense[lo - self._first : hi - self._first]
        after = max(first, self._first + n)
        if after < first + count and self._then is not None:
            tail = self._then.rows(after, first + count - after)
            tail[:, :4] = self._round(tail[:, :4] * self._then_ratio)
            rows[after - first :] = tail
        elif after < first + count:
            last = self._dense[-1, 3]
            rows[after - first :] = (last, last, last, last, 0.0)
        return rows
