"""Pine's EMA and RMA recursions, bit for bit, without a Python loop per bar.

Pine computes ``ta.ema`` as ``prev + alpha * (x - prev)`` and ``ta.rma`` as
``(prev * (n - 1) + x) / n``, each seeded with the SMA of the first ``n`` values. The float
rounding of those exact expressions is part of the result: an algebraically equal form
(``alpha * x + (1 - alpha) * prev``, pandas' ``ewm``) lands a few ulps away on most bars, and
on a flat stretch the two forms get stuck at different neighbours of the price, which can flip
a crossover between two averages.

The recursion is solved as a fixed point. The bars are cut into about sqrt(N) lanes that run
the exact Pine step side by side (one numpy operation per column of lanes, not per bar), each
lane starting from a close guess of its predecessor (a truncated weighted sum, a few ulps
off). Then every lane start is recomputed from its predecessor's value, and only bars whose
predecessor changed are recomputed in the next round. When nothing changes,
``y[t] == step(y[t-1], x[t])`` holds for every bar, which with the fixed seed is exactly the
sequential Pine result. The few stubborn chains left after the vector rounds (e.g. a long
perfectly flat stretch) finish in a short sequential walk that visits only the bars that
still change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

# Below this many unsettled bars a sequential walk is cheaper than another numpy round.
_SEQUENTIAL_BELOW = 256
# Vector rounds before the walk takes over whatever is left, whatever its size.
_MAX_ROUNDS = 64

# Applied to whole arrays (vectorised rounds) and to single floats (the sequential walk).
Step = Callable[[Any, Any], Any]


def ema_step(alpha: float) -> Step:
    """Pine's ``ta.ema`` update: ``prev + alpha * (x - prev)`` (works on arrays and floats)."""

    def step(prev, x):
        return prev + alpha * (x - prev)

    return step


def rma_step(n: int) -> Step:
    """Pine's ``ta.rma`` update: ``(prev * (n - 1) + x) / n`` (works on arrays and floats)."""
    keep = n - 1

    def step(prev, x):
        return (prev * keep + x) / n

    return step


def seeded_recursion(x: np.ndarray, n: int, kind: str) -> np.ndarray:
    """Pine's ``ta.ema`` (kind "ema") or ``ta.rma`` (kind "rma") of a series without na.

    Bars ``0 .. n-2`` are NaN, bar ``n-1`` is the seed ``fsum(x[:n]) / n``, later bars follow
    the Pine step exactly. ``n == 1`` returns the series itself, as Pine does.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.full(x.size, np.nan)
    if n == 1:
        out[:] = x
        return out
    if x.size < n:
        return out
    if kind == "ema":
        alpha = 2 / (n + 1)
        step = ema_step(alpha)
    elif kind == "rma":
        alpha = 1 / n
        step = rma_step(n)
    else:
        raise ValueError(f"unknown recursion {kind!r}; use 'ema' or 'rma'")
    tail = x[n - 1:]
    y = np.empty(tail.size)
    y[0] = math.fsum(x[:n].tolist()) / n
    if tail.size > 1 and np.isfinite(tail).all() and math.isfinite(y[0]):
        _lanes(y, tail, step, alpha)
    else:
        _plain_loop(y, tail, step)
    out[n - 1:] = y
    return out


def _lanes(y: np.ndarray, x: np.ndarray, step: Step, alpha: float) -> None:
    """Fill ``y[1:]`` with the exact recursion from ``y[0]``.

    The bars are cut into about sqrt(N) consecutive lanes that all run the exact step in
    lockstep (one numpy operation per column, not per bar). Each lane starts from a close
    guess of its predecessor, so only lane starts can be wrong; ``settle`` then repairs the
    chains that a wrong start sets off, which die out within a few periods.
    """
    count = y.size - 1
    # Fewer, longer lanes for slow averages: a wrong start costs a repair chain ~1/alpha long.
    lanes = max(1, int(2 * math.isqrt(count) * min(1.0, 8 * alpha)))
    width = -(-count // lanes)
    lanes = -(-count // width)
    padded = np.empty(lanes * width)
    padded[:count] = x[1:]
    padded[count:] = x[-1]
    columns = np.ascontiguousarray(padded.reshape(lanes, width).T)
    prev = _start_guesses(y[0], x, alpha, np.arange(0, lanes * width, width))
    grid = np.empty_like(columns)
    for j in range(width):
        prev = step(prev, columns[j])
        grid[j] = prev
    y[1:] = grid.T.ravel()[:count]
    settle(y, x, step, np.arange(1 + width, count + 1, width))


def _start_guesses(seed: float, x: np.ndarray, alpha: float, at: np.ndarray) -> np.ndarray:
    """Approximate recursion values at bars ``at`` (``at[0] == 0`` is the seed bar).

    ``y[q] = (1-a)**q * seed + sum(a * (1-a)**j * x[q-j], j < q)``, cut after the terms whose
    weight falls below 1e-16 of the total; a guess a few ulps off only lengthens the repair.
    """
    keep = 1.0 - alpha
    terms = min(int(math.ceil(37.0 / -math.log1p(-alpha))) if alpha < 1 else 1, x.size)
    weights = (alpha * keep ** np.arange(terms))[::-1]  # oldest first, like the window
    out = np.empty(at.size)
    out[0] = seed
    early = (at > 0) & (at <= terms)
    for k in np.flatnonzero(early):
        q = int(at[k])
        out[k] = float(np.dot(x[1:q + 1], weights[terms - q:])) + keep ** q * seed
    late = np.flatnonzero(at > terms)
    if late.size:
        windows = np.lib.stride_tricks.sliding_window_view(x, terms)
        rows = max(1, 2_000_000 // terms)  # keeps the gathered block near 16 MB
        for first in range(0, late.size, rows):
            chunk = late[first:first + rows]
            ends = at[chunk]
            out[chunk] = windows[ends - terms + 1] @ weights + keep ** terms * x[ends - terms]
    return out


def settle(y: np.ndarray, x: np.ndarray, step: Step, active: np.ndarray | None = None) -> None:
    """Make ``y[t] == step(y[t-1], x[t])`` hold for every ``t >= 1``, in place (``y[0]`` kept).

    ``active`` lists (ascending) the only bars that may break the rule; by default all do.
    """
    size = y.size
    if active is None:
        active = np.arange(1, size)
    rounds = 0
    while active.size > _SEQUENTIAL_BELOW and rounds < _MAX_ROUNDS:
        fresh = step(y[active - 1], x[active])
        changed = fresh != y[active]
        moved = active[changed]
        y[moved] = fresh[changed]
        active = moved + 1
        active = active[active < size]
        rounds += 1
    _walk(y, x, step, active.tolist())


def _walk(y: np.ndarray, x: np.ndarray, step: Step, pending: list[int]) -> None:
    """Sequentially settle the bars in ``pending`` (ascending) and every bar their change reaches.

    Invariant: every bar outside ``pending`` already satisfies the step from its predecessor,
    so a walk may stop at the first bar whose value does not change. On a run of equal inputs
    a value that maps onto itself stays put for the rest of the run, which is filled at once.
    """
    size = y.size
    reached = 0
    run_end: np.ndarray | None = None
    for start in pending:
        if start <= reached:
            continue
        t = start
        prev = float(y[t - 1])
        while t < size:
            value = float(x[t])
            fresh = step(prev, value)
            if fresh == y[t]:
                break
            y[t] = fresh
            if fresh == prev and t + 1 < size and x[t + 1] == value:
                if run_end is None:
                    run_end = _run_ends(x)
                end = int(run_end[t])
                y[t + 1:end] = fresh
                t = end
            else:
                t += 1
            prev = fresh
        reached = t


def _run_ends(x: np.ndarray) -> np.ndarray:
    """For each bar, the index just past the run of equal values it belongs to."""
    breaks = np.flatnonzero(x[1:] != x[:-1]) + 1
    ends = np.append(breaks, x.size)
    return ends[np.searchsorted(breaks, np.arange(x.size), side="right")]


def _plain_loop(y: np.ndarray, x: np.ndarray, step: Step) -> None:
    """The textbook per-bar loop, for series holding inf (rare; no speed needed)."""
    prev = float(y[0])
    for t in range(1, y.size):
        prev = step(prev, float(x[t]))
        y[t] = prev
