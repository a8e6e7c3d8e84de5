"""The parameter grid of ``optimize``: ``--grid`` specs, combinations, sampling and rejects.

``KEY=start:stop:step`` (inclusive) or ``KEY=a,b,c``; keys are the strategy's parameters plus
``sl`` and ``tp``. Decimal arithmetic builds the ranges, so ``0.01:0.05:0.01`` holds exactly
0.01, 0.02, ... (no 0.030000000000000002). See docs/decisions/0150-search-method.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

MAX_GRID = 100_000
FILL_KEYS = ("sl", "tp")

Value = int | float
Combo = dict[str, Value]


class GridError(ValueError):
    """A --grid, --method or --trials value that cannot be used; one line for the user."""


def _number(text: str, spec: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise GridError(f"--grid {spec!r}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise GridError(f"--grid {spec!r}: {text.strip()!r} is not a finite number")
    return value


def _plain(value: Decimal) -> Value:
    """An int when the value is whole, else the float nearest to the decimal."""
    return int(value) if value == value.to_integral_value() else float(value)


def parse_grid_item(spec: str, known: Sequence[str]) -> tuple[str, list[Value]]:
    """``"SMA_SHORT=5:50:5"`` -> ("SMA_SHORT", [5, 10, ..., 50]); GridError (one line)."""
    key, sep, raw = spec.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise GridError(f"--grid {spec!r} is not KEY=start:stop:step or KEY=a,b,c"
                        " (e.g. --grid SMA_SHORT=5:50:5)")
    canonical = {k.lower(): k for k in known}
    if key.lower() not in canonical:
        raise GridError(f"--grid {spec!r}: unknown key {key!r}; use one of {', '.join(known)}")
    key = canonical[key.lower()]
    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3:
            raise GridError(f"--grid {spec!r}: a range is start:stop:step (e.g. 5:50:5)")
        start, stop, step = (_number(p, spec) for p in parts)
        if step <= 0:
            raise GridError(f"--grid {spec!r}: the step {step} must be above 0")
        if stop < start:
            raise GridError(f"--grid {spec!r}: stop {stop} is before start {start}")
        count = int((stop - start) // step) + 1
        if count > MAX_GRID:
            raise GridError(f"--grid {spec!r} has {count:,} values; more than {MAX_GRID:,}")
        values = [_plain(start + k * step) for k in range(count)]
    else:
        values = [_plain(_number(p, spec)) for p in raw.split(",")]
    unique = list(dict.fromkeys(values))
    return key, unique


def parse_grid(specs: Sequence[str], known: Sequence[str]) -> dict[str, list[Value]]:
    """Every ``--grid`` item, in the order given; GridError for a repeated key."""
    if not specs:
        raise GridError("give at least one --grid KEY=start:stop:step (e.g. SMA_SHORT=5:50:5)")
    grid: dict[str, list[Value]] = {}
    for spec in specs:
        key, values = parse_grid_item(spec, known)
        if key in grid:
            raise GridError(f"--grid {key} is given twice; give each key once")
        grid[key] = values
    for key in FILL_KEYS:
        for value in grid.get(key, []):
            if not 0 < value < (1 if key == "sl" else 10):
                limit = "(0, 1)" if key == "sl" else "(0, 10)"
                raise GridError(f"--grid {key}: {value} is not a fraction in {limit}"
                                f" (0.02 = 2 %)")
    return grid


def grid_size(grid: Mapping[str, Sequence[Value]]) -> int:
    """The number of combinations before any is rejected."""
    return math.prod(len(v) for v in grid.values())


def combo_at(grid: Mapping[str, Sequence[Value]], index: int) -> Combo:
    """The combination at ``index`` of the product order (the last key varies fastest)."""
    combo: Combo = {}
    for key in reversed(list(grid)):
        values = grid[key]
        index, k = divmod(index, len(values))
        combo[key] = values[k]
    return {key: combo[key] for key in grid}


@dataclass(frozen=True)
class Plan:
    """The combinations to run (in product order) and how many the strategy rejected."""

    combos: list[Combo]
    rejected: int
    total: int


def plan(
    grid: Mapping[str, Sequence[Value]],
    accepts,
    method: str = "grid",
    trials: int | None = None,
    seed: int = 0,
) -> Plan:
    """The combinations to run: all of them (``grid``) or ``trials`` distinct ones at random.

    ``accepts(combo)`` is False for a combination the strategy refuses; those are skipped and
    counted. GridError when a full grid exceeds 100,000 combinations.
    """
    total = grid_size(grid)
    if method == "grid":
        if trials is not None:
            raise GridError("--trials is for --method random; drop it or add --method random")
        if total > MAX_GRID:
            raise GridError(
                f"the grid has {total:,} combinations, more than {MAX_GRID:,}; narrow it or"
                " sample it with --method random --trials N"
            )
        indices: Iterator[int] | list[int] = iter(range(total))
    elif method == "random":
        if trials is None or trials < 1:
            raise GridError("--method random needs --trials N (N >= 1), e.g. --trials 200")
        indices = sample_indices(total, trials, seed)
    else:
        raise GridError(f"--method {method!r} is unknown; use grid or random")
    combos, rejected = [], 0
    for index in indices:
        combo = combo_at(grid, index)
        if accepts(combo):
            combos.append(combo)
        else:
            rejected += 1
    return Plan(combos=combos, rejected=rejected, total=total)


def sample_indices(total: int, trials: int, seed: int) -> list[int]:
    """``min(trials, total)`` distinct indices in [0, total), seeded, in ascending order."""
    rng = np.random.default_rng(seed)
    if trials >= total:
        return list(range(total))
    if total <= 10 * MAX_GRID:
        return sorted(int(i) for i in rng.choice(total, size=trials, replace=False))
    chosen: set[int] = set()
    while len(chosen) < trials:
        chosen.update(int(i) for i in rng.integers(0, total, size=trials - len(chosen)))
    return sorted(chosen)


def combo_key(combo: Mapping[str, Value], keys: Sequence[str]) -> tuple[str, ...]:
    """A hashable identity of a combination, stable across a CSV round trip."""
    return tuple(repr(float(combo[k])) for k in keys)
