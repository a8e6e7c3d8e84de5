"""Pine's band, range and channel built-ins as whole-series numpy functions.

``ta.stdev``, ``ta.bb``, ``ta.tr``, ``ta.atr``, ``ta.supertrend``, ``ta.kc``, ``ta.highest`` /
``ta.lowest`` (and their ``*bars`` offsets) and ``ta.change``, with TradingView's warm-up and
quirks (docs/decisions/0100-band-and-channel-indicators.md):

* ``stdev`` is the biased deviation TradingView computes from two window sums,
  ``sqrt(max(0, sum(x*x)/n - mean*mean))``, each sum exact before its one rounding;
* ``tr(False)`` is na on bar 0 (no previous close), ``tr(True)`` is ``high - low`` there;
  ``atr`` is ``rma(tr(True), n)``;
* ``supertrend`` returns ``(0.0, 1)`` on bar 0 whatever the data (TradingView's bar-0 quirk),
  na with direction 1 until the ATR is defined, then the ratcheting bands;
* ``highest`` / ``lowest`` are na before bar ``n - 1``; on ties ``*bars`` points at the oldest
  bar of the window holding the extreme.

No per-bar Python loop: the band ratchets run once per reset (a close through the band) and
the direction once per flip.
"""

from __future__ import annotations

import numpy as np

from strategies.exact_sum import window_sums_many
from strategies.indicators import (
    ArrayLike,
    _length,
    _on_defined,
    as_series_array,
    ema,
    rma,
    sma,
)

# First scan window of the ratchet searches; grows 4x per miss (see backtest.engine).
_FIRST_WINDOW = 64


def stdev(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.stdev(x, n)`` (biased): na until ``n`` non-na values, na on na bars.

    ``sqrt(max(0, q / n - m * m))`` with ``m = sum(x) / n`` and ``q = sum(x * x)``, the form
    TradingView evaluates (not the textbook sum of squared deviations, which differs in the
    last bits).
    """
    x = as_series_array(x, "stdev source")
    n = _length(n)

    def deviation(values: np.ndarray) -> np.ndarray:
        out = np.full(values.size, np.nan)
        if values.size < n:
            return out
        sums, squares = window_sums_many(values, [n])[0], window_sums_many(values * values, [n])[0]
        mean = sums / n
        out[n - 1:] = np.sqrt(np.maximum(0.0, squares / n - mean * mean))
        return out

    return _on_defined(x, deviation)[0]


def bb(x: ArrayLike, n: int, mult: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ta.bb(x, n, mult)`` -> (basis, upper, lower): ``sma`` -+ ``mult * stdev``."""
    basis = sma(x, n)
    dev = mult * stdev(x, n)
    return basis, basis + dev, basis - dev


def tr(high: ArrayLike, low: ArrayLike, close: ArrayLike, handle_na: bool = False) -> np.ndarray:
    """``ta.tr(handle_na)``: ``max(high - low, |high - close[1]|, |low - close[1]|)``.

    Where ``close[1]`` is na (bar 0) the value is na, or ``high - low`` with ``handle_na``.
    """
    h = as_series_array(high, "high")
    lo = as_series_array(low, "low")
    c = as_series_array(close, "close")
    prev = np.empty_like(c)
    prev[:1] = np.nan
    prev[1:] = c[:-1]
    span = h - lo
    with np.errstate(invalid="ignore"):
        out = np.maximum(np.maximum(span, np.abs(h - prev)), np.abs(lo - prev))
    if handle_na:
        out = np.where(np.isnan(prev), span, out)
    return out


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int) -> np.ndarray:
    """``ta.atr(n)`` = ``ta.rma(ta.tr(true), n)``: first value on bar ``n - 1``."""
    return rma(tr(high, low, close, handle_na=True), _length(n))


def kc(x: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int, mult: float,
       use_true_range: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ta.kc(x, n, mult, useTrueRange)`` -> (basis, upper, lower).

    basis = ``ema(x, n)``; the range is ``ema(tr(false), n)`` (or of ``high - low``), so the
    bands start a bar after the basis when the true range is used.
    """
    n = _length(n)
    basis = ema(x, n)
    if use_true_range:
        span = tr(high, low, close, handle_na=False)
    else:
        span = as_series_array(high, "high") - as_series_array(low, "low")
    width = ema(span, n) * mult
    return basis, basis + width, basis - width


def change(x: ArrayLike, length: int = 1) -> np.ndarray:
    """``ta.change(x, length)``: ``x - x[length]``, na on the first ``length`` bars."""
    x = as_series_array(x, "change source")
    length = _length(length)
    out = np.full(x.size, np.nan)
    out[length:] = x[length:] - x[:-length]
    return out


def _rolling(x: np.ndarray, n: int, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc`` (np.fmax / np.fmin) over every window of ``n`` bars ending at each bar.

    Van Herk / Gil-Werman: block-wise running extremes from both ends, O(N) numpy work for any
    ``n``. Entries before bar ``n - 1`` are left as computed (the caller masks them).
    """
    size = x.size
    if size == 0:
        return x.copy()
    blocks = -(-size // n)
    fill = np.nan
    padded = np.full(blocks * n, fill)
    padded[:size] = x
    grid = padded.reshape(blocks, n)
    forward = ufunc.accumulate(grid, axis=1).ravel()
    backward = ufunc.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    out = np.full(size, np.nan)
    end = np.arange(n - 1, size)
    out[n - 1:] = ufunc(backward[end - n + 1], forward[end])
    return out


def highest(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.highest(x, n)``: the largest of the last ``n`` values, na before bar ``n - 1``."""
    x = as_series_array(x, "highest source")
    n = _length(n)
    return _rolling(x, n, np.fmax)


def lowest(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.lowest(x, n)``: the smallest of the last ``n`` values, na before bar ``n - 1``."""
    x = as_series_array(x, "lowest source")
    n = _length(n)
    return _rolling(x, n, np.fmin)


def _extreme_offset(x: np.ndarray, n: int, pick) -> np.ndarray:
    out = np.full(x.size, np.nan)
    if x.size < n:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, n)
    # argmax/argmin return the first hit, i.e. the oldest bar among equal extremes.
    out[n - 1:] = pick(windows, axis=1) - (n - 1)
    return out


def highestbars(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.highestbars(x, n)``: offset (0 or negative) to the highest bar; ties: the oldest."""
    x = as_series_array(x, "highestbars source")
    return _extreme_offset(x, _length(n), np.argmax)


def lowestbars(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.lowestbars(x, n)``: offset (0 or negative) to the lowest bar; ties: the oldest."""
    x = as_series_array(x, "lowestbars source")
    return _extreme_offset(x, _length(n), np.argmin)


def _ratchet(raw: np.ndarray, close: np.ndarray, start: int, lower: bool) -> np.ndarray:
    """Supertrend's carried band from bar ``start`` on (bars before are na).

    Lower band: ``raw`` when ``raw > band[1]`` or ``close[1] < band[1]``, else ``band[1]``;
    so between resets (a close below the band) the band is the running max of ``raw`` since
    the reset. The upper band mirrors it (running min, reset on a close above). Each reset is
    found with a numpy scan, so the work is per reset, not per bar.
    """
    size = raw.size
    band = np.full(size, np.nan)
    accumulate = np.maximum.accumulate if lower else np.minimum.accumulate
    s, window = start, _FIRST_WINDOW
    while s < size:
        end = min(size, s + window)
        segment = accumulate(raw[s:end])
        # close[t] breaking band[t] resets the band on bar t + 1.
        broken = (close[s:end] < segment) if lower else (close[s:end] > segment)
        k = int(broken.argmax())
        if broken[k]:
            band[s:s + k + 1] = segment[:k + 1]
            s, window = s + k + 1, _FIRST_WINDOW
        elif end >= size:
            band[s:] = segment
            break
        else:
            window *= 4  # no reset yet: scan again from s over a longer stretch
    return band


def supertrend(high: ArrayLike, low: ArrayLike, close: ArrayLike, factor: float,
               atr_period: int) -> tuple[np.ndarray, np.ndarray]:
    """``ta.supertrend(factor, atrPeriod)`` -> (line, direction); direction -1 up, 1 down.

    Bar 0 is ``(0.0, 1)`` (TradingView's quirk); until the ATR is defined the line is na with
    direction 1; on the ATR's first bar the direction is 1 and the line the upper band. Then
    from direction 1 (line on the upper band) a close above the upper band turns it to -1;
    from -1 a close below the lower band turns it to 1, both against the carried bands.
    """
    h = as_series_array(high, "high")
    lo = as_series_array(low, "low")
    c = as_series_array(close, "close")
    size = c.size
    line = np.full(size, np.nan)
    direction = np.ones(size)
    if size == 0:
        return line, direction
    volatility = atr(h, lo, c, atr_period)
    src = (h + lo) / 2
    upper_raw = src + factor * volatility
    lower_raw = src - factor * volatility
    defined = np.flatnonzero(~np.isnan(volatility[1:])) + 1
    if defined.size:
        first = int(defined[0])
        upper = _ratchet(upper_raw, c, first, lower=False)
        lower = _ratchet(lower_raw, c, first, lower=True)
        with np.errstate(invalid="ignore"):
            turn_up = c > upper  # from 1 to -1
            # From -1 the rule compares with the upper band when the line (the lower band)
            # equalled the upper band on the previous bar, as Pine's branch does.
            same = np.zeros(size, dtype=bool)
            same[1:] = lower[:-1] == upper[:-1]
            turn_down = np.where(same, ~(c > upper), c < lower)
        ups = np.flatnonzero(turn_up[first + 1:]) + first + 1
        downs = np.flatnonzero(turn_down[first + 1:]) + first + 1
        state, t = 1, first + 1
        while t < size:
            points = ups if state == 1 else downs
            k = int(np.searchsorted(points, t))
            nxt = int(points[k]) if k < points.size else size
            direction[t:nxt] = state
            if nxt >= size:
                break
            state = -state
            t = nxt
            direction[t] = state
            t += 1
        line[first:] = np.where(direction[first:] == 1, upper[first:], lower[first:])
    line[0] = 0.0
    direction[0] = 1
    return line, direction
