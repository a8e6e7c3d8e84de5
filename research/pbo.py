"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, Lopez de Prado and Zhu, "The Probability of Backtest Overfitting" (2015/2017):
a T x N matrix of per-period P&L (T periods, N combinations) is cut in time order into S equal
blocks; for every choice of S/2 blocks as the training set (the other S/2 the test set) the
combination with the best training statistic is found, and the relative rank w of its test
statistic among all N gives the logit ln(w / (1 - w)). PBO is the share of splits whose logit
is <= 0: how often the in-sample winner does no better than the median out of sample.

The statistic is the Sharpe ratio of the per-period P&L (mean / sample standard deviation; 0
for a combination without variation, e.g. no trade). Ranks are averaged over ties, w = rank /
(N + 1). Block statistics come from per-block sums, so each split costs O(S * N), chunked so
memory stays bounded for large grids. See docs/decisions/0153-pbo.md.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

PERIODS_PER_BLOCK = 32


class PBOError(ValueError):
    """Inputs the test cannot use; one line for the user."""


@dataclass(frozen=True)
class PBOResult:
    """The CSCV read-outs."""

    pbo: float
    logits: np.ndarray  # one per split
    splits: int
    partitions: int
    combos: int
    dropped_periods: int
    degradation_slope: float | None  # OOS on IS statistic of the winner, over the splits
    probability_of_loss: float  # share of splits whose winner has a negative OOS statistic


def period_marks(bars: int, partitions: int) -> tuple[tuple[int, ...], int]:
    """Bar positions closing T = partitions * k equal periods, and the bars dropped at the start.

    k is up to PERIODS_PER_BLOCK, fewer when the data is short (at least 2 bars a period).
    """
    if partitions < 2 or partitions % 2:
        raise PBOError(f"--partitions {partitions} must be an even number of at least 2"
                       " (e.g. 16)")
    per_block = min(PERIODS_PER_BLOCK, bars // (2 * partitions))
    if per_block < 1:
        raise PBOError(f"{bars:,} candles are too few for {partitions} partitions;"
                       f" need at least {4 * partitions} (use fewer --partitions)")
    periods = partitions * per_block
    length = bars // periods
    dropped = bars - periods * length
    marks = tuple(dropped + length * (k + 1) - 1 for k in range(periods))
    return marks, dropped


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1 = smallest) along the last axis."""
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty_like(values)
    n = values.shape[-1]
    np.put_along_axis(ranks, order, np.arange(1, n + 1, dtype=float), axis=-1)
    # Average over ties: mean rank of each group of equal values.
    sorted_values = np.take_along_axis(values, order, axis=-1)
    for row in range(values.shape[0]):
        v = sorted_values[row]
        if np.all(v[1:] != v[:-1]):
            continue
        starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
        ends = np.append(starts[1:], n)
        avg = (starts + ends + 1) / 2.0  # ranks start+1..end averaged
        ranks[row, order[row]] = np.repeat(avg, ends - starts)
    return ranks


def cscv(pnl: np.ndarray, partitions: int = 16, chunk: int = 512) -> PBOResult:
    """PBO of the T x N per-period P&L matrix ``pnl`` over ``partitions`` blocks."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if pnl.ndim != 2:
        raise PBOError("the P&L matrix must be periods x combinations")
    periods, combos = pnl.shape
    if combos < 2:
        raise PBOError(f"PBO needs at least 2 combinations; this sweep has {combos}")
    if partitions < 2 or partitions % 2:
        raise PBOError(f"--partitions {partitions} must be an even number of at least 2")
    if periods < 2 * partitions:
        raise PBOError(f"{periods} periods are too few for {partitions} partitions")
    size = periods // partitions
    dropped = periods - size * partitions
    blocks = pnl[dropped:].reshape(partitions, size, combos)
    sums = blocks.sum(axis=1)  # S x N
    squares = (blocks ** 2).sum(axis=1)
    splits = list(itertools.combinations(range(partitions), partitions // 2))
    logits = np.empty(len(splits))
    is_best = np.empty(len(splits))
    oos_best = np.empty(len(splits))
    count = size * (partitions // 2)
    for first in range(0, len(splits), chunk):
        part = splits[first:first + chunk]
        mask = np.zeros((len(part), partitions))
        for row, chosen in enumerate(part):
            mask[row, list(chosen)] = 1.0
        train = _sharpe(mask @ sums, mask @ squares, count)
        test = _sharpe((1 - mask) @ sums, (1 - mask) @ squares, count)
        winner = np.argmax(train, axis=1)
        rows = np.arange(len(part))
        w = _ranks(test)[rows, winner] / (combos + 1)
        logits[first:first + len(part)] = np.log(w / (1 - w))
        is_best[first:first + len(part)] = train[rows, winner]
        oos_best[first:first + len(part)] = test[rows, winner]
    slope = None
    if np.ptp(is_best) > 0:
        slope = float(np.polyfit(is_best, oos_best, 1)[0])
    return PBOResult(
        pbo=float(np.mean(logits <= 0)), logits=logits, splits=len(splits),
        partitions=partitions, combos=combos, dropped_periods=dropped,
        degradation_slope=slope, probability_of_loss=float(np.mean(oos_best < 0)),
    )


def _sharpe(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-period Sharpe (mean / sample sd) from sums; 0 where there is no variation."""
    mean = sums / count
    var = np.maximum(squares - count * mean ** 2, 0.0) / max(count - 1, 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sd > 1e-12 * (np.abs(mean) + 1e-300), mean / sd, 0.0)
    return np.where(np.isfinite(ratio), ratio, 0.0)


def text_histogram(logits: np.ndarray, bins: int = 12, width: int = 40) -> list[str]:
    """The logit distribution as console lines (``[lo, hi)  ####  count``)."""
    finite = logits[np.isfinite(logits)]
    if finite.size == 0:
        return ["(no finite logit)"]
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        high = low + 1.0
    counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    top = max(int(counts.max()), 1)
    lines = []
    for k, c in enumerate(counts):
        bar = "#" * int(math.ceil(width * c / top)) if c else ""
        lines.append(f"  [{edges[k]:7.2f}, {edges[k + 1]:7.2f})  {bar:<{width}} {c}")
    return lines
