"""Seeded synthetic candles for benchmarks, tests and the README chart (never real data).

A geometric random walk whose drift switches between up-trends, down-trends and ranges every
few hundred bars, so every strategy finds crossings, stops and targets. Vectorised: a million
1-minute candles take well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def synthetic_candles(
    n: int,
    seed: int = 7,
    start_ms: int = START_MS,
    step_ms: int = 60_000,
    start_price: float = 30_000.0,
    volatility: float = 0.0008,
) -> pd.DataFrame:
    """A candle frame of ``n`` bars (timestamp ms, open, high, low, close, volume)."""
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    rng = np.random.default_rng(seed)
    regime_len = rng.integers(150, 900, size=n // 150 + 2)
    regime = np.repeat(rng.choice([-1.0, 0.0, 1.0], size=regime_len.size), regime_len)[:n]
    drift = regime * volatility * 0.05
    steps = drift + volatility * rng.standard_normal(n)
    close = start_price * np.exp(np.cumsum(steps))
    open_ = np.empty(n)
    open_[0] = start_price
    # Mostly continuous, now and then a small gap, as on a real 24/7 market.
    gaps = np.where(rng.random(n - 1) < 0.02, volatility * rng.standard_normal(n - 1), 0.0)
    open_[1:] = close[:-1] * np.exp(gaps)
    wick = np.abs(rng.standard_normal((2, n))) * volatility * 0.6
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = np.round(rng.gamma(2.0, 5.0, size=n), 5)
    return pd.DataFrame({
        "timestamp": start_ms + step_ms * np.arange(n, dtype=np.int64),
        "open": np.round(open_, 2),
        "high": np.round(high, 2),
        "low": np.round(low, 2),
        "close": np.round(close, 2),
        "volume": volume,
    })
