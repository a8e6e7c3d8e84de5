"""The price bars a strategy reads, and the price grid (mintick) its stop levels sit on.

Most strategies read only closes; those that place stop orders or use the true range read the
whole bar and need ``syminfo.mintick``. The mintick comes from the caller (the exchange's tick
size, ``--mintick``) or, when unknown, from the prices' own decimals (``infer_mintick``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_DECIMALS = 10


@dataclass(frozen=True)
class Bars:
    """Open, high, low and close as float64 arrays of one length, and the price tick."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    mintick: float


def infer_mintick(*series: np.ndarray) -> float:
    """The largest power of ten every finite price is a whole multiple of (1e-10 at the finest).

    EURUSD quotes with 5 decimals give 0.00001, BTC/USDT klines with 2 give 0.01. A price
    that is not a decimal with at most 10 places (float noise aside) gives 1e-10.
    """
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in series]
    chunks = [a[k:k + _CHUNK] for a in arrays for k in range(0, a.size, _CHUNK)]
    chunks = [c[np.isfinite(c)] for c in chunks]
    chunks = [c for c in chunks if c.size]
    if not chunks:
        return 10.0 ** -MAX_DECIMALS
    # A step that fails on some prices fails on all: try it on a sample first, so the whole
    # series is scanned (in cache-sized chunks, stopping at the first miss) about once.
    sample = np.concatenate([c[:: max(1, c.size // 64)] for c in chunks])
    for decimals in range(0, MAX_DECIMALS + 1):
        if _whole_multiples(sample, decimals) and all(
                _whole_multiples(c, decimals) for c in chunks):
            # Largest tick that fits: 10 ** -decimals (a multiple of 10 only for whole prices).
            return 10.0 ** -decimals
    return 10.0 ** -MAX_DECIMALS


_CHUNK = 1 << 16


def _whole_multiples(values: np.ndarray, decimals: int) -> bool:
    """True when every value is a whole multiple of 10 ** -decimals, float noise aside."""
    scaled = values * 10.0 ** decimals
    slack = 1e-6 + 1e-12 * np.abs(scaled)
    return bool(np.all(np.abs(scaled - np.round(scaled)) <= slack))


def bars_of(frame: pd.DataFrame, mintick: float | None = None) -> Bars:
    """A candle frame's bars; ``mintick`` None infers it from the prices' decimals.

    Raises ValueError (one line) when a column is missing or the mintick is not positive.
    """
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise ValueError(f"the candle frame has no {missing[0]!r} column; pass a candle frame")
    arrays = [frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
              for c in ("open", "high", "low", "close")]
    if mintick is None:
        mintick = infer_mintick(*arrays)
    elif not (isinstance(mintick, int | float) and np.isfinite(mintick) and mintick > 0):
        raise ValueError(f"mintick {mintick!r} must be a positive price step (e.g. 0.01)")
    return Bars(arrays[0], arrays[1], arrays[2], arrays[3], float(mintick))
