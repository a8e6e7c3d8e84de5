"""Indicator series shared across many runs of the strategies on one candle series.

A parameter sweep runs the same strategy rule hundreds of times on the same close prices; the
fast and slow SMAs of one length recur in many combinations. Inside ``with SharedSeries(close)``
every ``@reusable`` indicator called on that very array (identity, not equality) returns the
series computed the first time, read-only, so each distinct series is computed once. Outside
such a block, or on any other array, the indicator runs as usual. A cached series is the
same array the first call returned, so a run with sharing gives the results without it bit for
bit (the indicators are deterministic functions of their inputs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

_active: SharedSeries | None = None


class SharedSeries:
    """Context manager: memoise ``@reusable`` indicators of the given source arrays."""

    def __init__(self, *sources: np.ndarray) -> None:
        self.sources = sources
        self.series: dict[tuple[Any, ...], Any] = {}
        self.computed = 0  # distinct series computed, for tests and benchmarks
        self._outer: SharedSeries | None = None

    def __enter__(self) -> SharedSeries:
        global _active
        self._outer, _active = _active, self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._outer

    def source_index(self, x: object) -> int | None:
        """Which registered source ``x`` is, or None.

        ``x`` matches a source that is the same array or a view of exactly its memory (same
        address, shape, strides and type): ``frame["close"].to_numpy()`` may hand out a new
        view of the one column each time. The sources are held here, so their memory cannot be
        reused by another array while the block lives.
        """
        if not isinstance(x, np.ndarray):
            return None
        for k, source in enumerate(self.sources):
            if x is source or (
                x.__array_interface__["data"][0] == source.__array_interface__["data"][0]
                and x.shape == source.shape and x.strides == source.strides
                and x.dtype == source.dtype
            ):
                return k
        return None


def _frozen(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple | list):
        for item in value:
            _frozen(item)
    return value


def reusable(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``func(x, *numbers)`` so that a SharedSeries block reuses its results."""

    @functools.wraps(func)
    def wrapper(x, *args, **kwargs):
        memo = _active
        k = None if memo is None or kwargs else memo.source_index(x)
        if memo is None or k is None:
            return func(x, *args, **kwargs)
        key = (func.__qualname__, k, *args)
        if key not in memo.series:
            memo.series[key] = _frozen(func(x, *args))
            memo.computed += 1
        return memo.series[key]

    return wrapper


def reusable_each(func: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """Like ``reusable`` for ``func(x, *lengths) -> [one series per length]``: each length is
    kept on its own, so SMA(20) computed with SMA(5) serves a later call with SMA(10)."""

    @functools.wraps(func)
    def wrapper(x, *lengths):
        memo = _active
        k = None if memo is None else memo.source_index(x)
        if memo is None or k is None:
            return func(x, *lengths)
        keys = [(func.__qualname__, k, n) for n in lengths]
        missing = [n for n, key in zip(lengths, keys, strict=True) if key not in memo.series]
        if missing:
            for n, series in zip(missing, func(x, *missing), strict=True):
                memo.series[(func.__qualname__, k, n)] = _frozen(series)
                memo.computed += 1
        return [memo.series[key] for key in keys]

    return wrapper


def kept(kind: str, x: Any, build: Callable[[], Any]) -> Any:
    """``build()`` once per ``kind`` and shared source ``x`` inside a SharedSeries block (the
    same object on later calls); None outside a block or for any other array, so the caller
    computes as usual."""
    memo = _active
    if memo is None:
        return None
    k = memo.source_index(x)
    if k is None:
        return None
    key = ("kept", kind, k)
    if key not in memo.series:
        memo.series[key] = build()
    return memo.series[key]
