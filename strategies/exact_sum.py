"""Sliding-window sums that are exact before their one final rounding.

A running sum (add the new value, subtract the one leaving) drifts by a few ulps over a long
series, so two windows holding the same values can end up with different sums: on an exact
tie (SMA9 == SMA18) that drift fires a crossover a bar early. Here every window sum is the
correctly rounded value of the exact sum, the same number ``math.fsum`` gives for that window,
so it depends only on the window's values and never on the history before it.

How, without a per-window loop: every finite float64 is an integer multiple of a power of two.
The values are cut into at most two integer "limbs" narrow enough that a window's sum of limbs
stays below 2**53; the limb prefix sums run in int64 (wrapping arithmetic is exact modulo
2**64 and a window difference fits), so each window's limb sums are exact and exactly
representable as floats. With one limb the sum is exact; with two, the single float addition
of the two exact parts is the correctly rounded total. A series needing a third limb (values
spread over more than ~2**40 in magnitude inside one series) falls back to ``math.fsum`` per
window, as do non-finite values.
"""

from __future__ import annotations

import math

import numpy as np


def window_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Correctly rounded sum of every full window of ``n`` consecutive values.

    ``values`` is a 1-D float64 array without NaN; the result has ``len(values) - n + 1``
    entries (none when the series is shorter than ``n``); entry ``i`` is the sum of
    ``values[i:i + n]``.
    """
    return window_sums_many(values, [n])[0]


def window_sums_many(values: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """``window_sums`` for several window lengths, sharing the one split of the values."""
    for n in lengths:
        if n < 1:
            raise ValueError(f"window length must be at least 1, got {n}")
    split = WindowSums(values, max(lengths))
    return [split.sums(n) for n in lengths]


class WindowSums:
    """The integer-limb split and prefix sums of one series, for windows up to ``longest``.

    Building it is the expensive part (the split and the int64 prefix sums); each
    ``sums(n)`` after that is a prefix difference. Every result is the correctly rounded
    window sum whatever ``longest`` was, so one split serves many lengths bit for bit.
    """

    def __init__(self, values: np.ndarray, longest: int) -> None:
        x = np.ascontiguousarray(values, dtype=np.float64)
        self.x = x
        self.longest = int(longest)
        self.mode = "simple"
        if x.size < longest or longest == 1 or not np.isfinite(x).all():
            return
        biggest = float(np.max(np.abs(x)))
        if biggest == 0.0:
            self.mode = "zero"
            return
        # Each nonzero x is a multiple of 2**(exponent - 53): its 53-bit mantissa made integer.
        low = _lowest_exponent(x) - 53
        top = math.frexp(biggest)[1]
        # A window sums n limbs, so a limb may carry 53 - bits(n) bits and its sum stays exact.
        width = 53 - int(longest).bit_length()
        self.low = low
        if top - low <= width:
            self.mode = "one"
            self.prefix = _prefix(_scaled(x, -low))
        elif top - low <= 2 * width:
            self.mode = "two"
            cut = low + width
            high_part = np.trunc(_scaled(x, -cut))
            low_part = x - _scaled(high_part, cut)  # exact: the bits of x below 2**cut
            self.cut = cut
            self.high_prefix = _prefix(high_part)
            self.low_prefix = _prefix(_scaled(low_part, -low))
        else:
            self.mode = "fsum"

    def sums(self, n: int) -> np.ndarray:
        """The correctly rounded sum of every window of ``n`` values (``n <= longest``)."""
        if n < 1:
            raise ValueError(f"window length must be at least 1, got {n}")
        if n > self.longest:
            raise ValueError(f"window length {n} is above this split's {self.longest}")
        x = self.x
        if self.mode == "simple":
            return _simple_cases(x, n)
        if self.mode == "zero":
            return np.zeros(x.size - n + 1)
        if self.mode == "one":
            return _scaled(_windows(self.prefix, n), self.low)
        if self.mode == "two":
            # Both parts are exact, so their one float addition is the correctly rounded sum.
            return (_scaled(_windows(self.high_prefix, n), self.cut)
                    + _scaled(_windows(self.low_prefix, n), self.low))
        return _fsum_windows(x, n)


def _simple_cases(x: np.ndarray, n: int) -> np.ndarray:
    """Short series, n == 1, and series holding inf."""
    if x.size < n:
        return np.empty(0, dtype=np.float64)
    if n == 1:
        return x.copy()
    return _fsum_windows(x, n)


def _lowest_exponent(x: np.ndarray) -> int:
    """The smallest binary exponent (as ``math.frexp`` gives it) among the nonzero values."""
    biased = (x.view(np.int64) >> 52) & 0x7FF
    nonzero = x != 0.0
    smallest = int(biased[nonzero].min())
    if smallest == 0:  # a subnormal is there; frexp normalises it
        return int(np.frexp(x[nonzero & (biased == 0)])[1].min())
    return smallest - 1022


def _prefix(limbs: np.ndarray) -> np.ndarray:
    """Running int64 sums of integer-valued floats (may wrap; differences stay exact)."""
    return np.cumsum(limbs.astype(np.int64))


def _windows(prefix: np.ndarray, n: int) -> np.ndarray:
    """Window sums from a prefix; exact while each true window sum stays below 2**53."""
    sums = prefix[n - 1:].copy()
    sums[1:] -= prefix[:-n]
    return sums.astype(np.float64)


def _scaled(x: np.ndarray, power: int) -> np.ndarray:
    """``x * 2**power``, exact; a multiplication is ten times faster than ``np.ldexp``."""
    if -1000 < power < 1000:
        return x * (2.0 ** power)
    return np.ldexp(x, power)


def _fsum_windows(x: np.ndarray, n: int) -> np.ndarray:
    """Window sums by ``math.fsum`` one window at a time (slow; rare inputs only)."""
    count = x.size - n + 1
    out = np.empty(count, dtype=np.float64)
    items = x.tolist()
    for i in range(count):
        window = items[i:i + n]
        try:
            out[i] = math.fsum(window)
        except (OverflowError, ValueError):  # inf and -inf together, or an overflow
            out[i] = float(np.sum(window))
    return out
