"""Pine Script's ``ta.*`` indicators as whole-series numpy functions.

Every function takes 1-D float arrays (numpy or pandas; NaN is Pine's na) and returns a numpy
float64 array of the same length (NaN = na) or a bool array. Semantics follow TradingView, see
``docs/decisions/0010-indicator-computation.md``:

* warm-up bars are na; ``sma``/``ema``/``rma`` skip na inputs, so their window is the last
  ``n`` non-na values (``ema(macd_line, 9)`` first has a value 8 non-na bars after the line);
* ``ema``/``rma`` are seeded with the SMA of their first ``n`` non-na values and then follow
  Pine's own update expressions bit for bit (``strategies.recurrence``);
* ``sma`` sums every window exactly before one rounding (``strategies.exact_sum``), so equal
  windows give equal averages and ties never fire a crossover early;
* ``crossover``/``crossunder`` compare exactly, against the last bar where both were defined.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import pandas as pd

from strategies.exact_sum import WindowSums, window_sums_many
from strategies.params import MAX_PERIOD
from strategies.recurrence import seeded_recursion
from strategies.shared import kept, reusable, reusable_each

# Pine's absolute tolerance for comparisons written in a script (``rsi < 70``); the ta.*
# built-ins above compare exactly. See docs/decisions/0013-comparison-tolerance.md.
PINE_EPSILON = 1e-10

ArrayLike: TypeAlias = np.ndarray | pd.Series


def as_series_array(x: ArrayLike | list[float], name: str = "series") -> np.ndarray:
    """A contiguous float64 copy-or-view of a 1-D input, NaN for na; ValueError otherwise."""
    if isinstance(x, pd.Series):
        values = x.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.asarray(x, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    return np.ascontiguousarray(values)


def _length(n: int, name: str = "length") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {n!r}")
    return int(n)


def _on_defined(x: np.ndarray, compute) -> tuple[np.ndarray, np.ndarray]:
    """``compute`` run on the non-na values only, scattered back (na where the input is na)."""
    defined = ~np.isnan(x)
    out = np.full(x.size, np.nan)
    if defined.all():
        out[:] = compute(x)
    else:
        out[defined] = compute(x[defined])
    return out, defined


def sma(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.sma(x, n)``: mean of the last ``n`` non-na values, na until there are ``n``.

    The window sum is exact before its single rounding (``math.fsum`` per window). On an na
    bar after the window has filled the last average is held, as Pine's rolling sum does.
    """
    return smas(x, n)[0]


def shared_split(x: np.ndarray, values: np.ndarray, longest: int) -> WindowSums | None:
    """The window-sum split of a shared source series (``strategies.shared``), built once for
    every length up to the longest period a strategy may use; None outside a shared block."""
    if longest > values.size:
        return None
    reach = min(max(MAX_PERIOD, longest), values.size)
    split = kept("window sums", x, lambda: WindowSums(values, reach))
    return split if split is not None and split.longest >= longest else None


@reusable_each
def smas(x: ArrayLike, *lengths: int) -> list[np.ndarray]:
    """``[sma(x, n) for n in lengths]``, sharing the work of splitting the values."""
    x = as_series_array(x, "sma source")
    sizes = [_length(n) for n in lengths]
    defined = ~np.isnan(x)
    dense = bool(defined.all())
    values = x if dense else x[defined]
    results = []
    split = shared_split(x, values, max(sizes)) if dense else None
    all_sums = ([split.sums(n) for n in sizes] if split is not None
                else window_sums_many(values, sizes))
    for n, sums in zip(sizes, all_sums, strict=True):
        compact = np.full(values.size, np.nan)
        compact[n - 1:] = sums / n
        if dense:
            results.append(compact)
            continue
        out = np.full(x.size, np.nan)
        out[defined] = compact
        out = pd.Series(out).ffill().to_numpy()
        out[np.cumsum(defined) < n] = np.nan
        results.append(out)
    return results


@reusable
def ema(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.ema(x, n)``: seeded with the SMA of the first ``n`` non-na values, then
    ``prev + alpha * (x - prev)`` with ``alpha = 2 / (n + 1)``; na bars are skipped (na out).
    """
    x = as_series_array(x, "ema source")
    n = _length(n)
    return _on_defined(x, lambda values: seeded_recursion(values, n, "ema"))[0]


@reusable
def rma(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.rma(x, n)`` (Wilder): seeded with the SMA of the first ``n`` non-na values, then
    ``(prev * (n - 1) + x) / n``; na bars are skipped (na out).
    """
    x = as_series_array(x, "rma source")
    n = _length(n)
    return _on_defined(x, lambda values: seeded_recursion(values, n, "rma"))[0]


@reusable
def rsi(x: ArrayLike, n: int) -> np.ndarray:
    """``ta.rsi(x, n)``: ``100 - 100 / (1 + rma(up, n) / rma(down, n))``, first value at bar n.

    ``up``/``down`` are the positive/negative changes from the previous non-na value. Only
    falls give 0, only rises give 100; a perfectly flat start (both averages exactly 0) is na,
    the IEEE result of Pine's own formula (docs/decisions/0012-rsi-flat-warm-up.md).
    """
    x = as_series_array(x, "rsi source")
    n = _length(n)

    def relative_strength(values: np.ndarray) -> np.ndarray:
        out = np.full(values.size, np.nan)
        if values.size <= n:
            return out
        change = np.diff(values)
        up = seeded_recursion(np.maximum(change, 0.0), n, "rma")
        down = seeded_recursion(np.maximum(-change, 0.0), n, "rma")
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = 100.0 - 100.0 / (1.0 + up / down)
        return out

    return _on_defined(x, relative_strength)[0]


@reusable
def macd(
    x: ArrayLike, fast: int, slow: int, signal: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ta.macd(x, fast, slow, signal)`` -> (macd line, signal line, histogram).

    line = ema(x, fast) - ema(x, slow); signal = ema(line, signal) over the line's non-na
    values; histogram = line - signal. With 12/26/9 the line starts at bar 25, the rest at 33.
    """
    x = as_series_array(x, "macd source")
    line = ema(x, _length(fast, "fast length")) - ema(x, _length(slow, "slow length"))
    signal_line = ema(line, _length(signal, "signal length"))
    return line, signal_line, line - signal_line


def _pair(a: ArrayLike | float, b: ArrayLike | float) -> tuple[np.ndarray, np.ndarray]:
    first = as_series_array(np.atleast_1d(a) if np.isscalar(a) else a, "first series")
    second = as_series_array(np.atleast_1d(b) if np.isscalar(b) else b, "second series")
    first, second = np.broadcast_arrays(first, second)
    return first, second


def _previous_defined(flags: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """``flags`` as of the last earlier bar where ``defined`` holds (False before any)."""
    out = np.zeros(defined.size, dtype=bool)
    missing = np.flatnonzero(~defined)
    if missing.size == 0 or missing[-1] == missing.size - 1:
        # Only a leading warm-up is na (the usual case): the previous bar is the last one.
        out[1:] = flags[:-1]
        out[: missing.size + 1] = False
        return out
    positions = np.where(defined, np.arange(defined.size), -1)
    last = np.maximum.accumulate(positions)
    before = np.empty_like(last)
    before[0] = -1
    before[1:] = last[:-1]
    known = before >= 0
    out[known] = flags[before[known]]
    return out


def crossover(a: ArrayLike | float, b: ArrayLike | float) -> np.ndarray:
    """``ta.crossover(a, b)``: ``a > b`` now and ``a <= b`` on the last bar both were defined.

    Exact comparisons; False while either side is na. ``b`` (or ``a``) may be a number.
    """
    a, b = _pair(a, b)
    defined = ~(np.isnan(a) | np.isnan(b))
    return (a > b) & _previous_defined(a <= b, defined)


def crossunder(a: ArrayLike | float, b: ArrayLike | float) -> np.ndarray:
    """``ta.crossunder(a, b)``: ``a < b`` now and ``a >= b`` on the last bar both were defined."""
    a, b = _pair(a, b)
    defined = ~(np.isnan(a) | np.isnan(b))
    return (a < b) & _previous_defined(a >= b, defined)


def pine_less(a: ArrayLike, level: float) -> np.ndarray:
    """A script's ``a < level`` on TradingView: true only below ``level - 1e-10``; na is false."""
    a = as_series_array(a, "compared series")
    with np.errstate(invalid="ignore"):
        return (a - level) < -PINE_EPSILON


def pine_greater(a: ArrayLike, level: float) -> np.ndarray:
    """A script's ``a > level`` on TradingView: true only above ``level + 1e-10``; na is false."""
    a = as_series_array(a, "compared series")
    with np.errstate(invalid="ignore"):
        return (a - level) > PINE_EPSILON
