"""Loading a vendored TradingView indicator export and comparing a series with it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.conftest import require_tv_reference

TOLERANCE = 1e-9


def load(name: str) -> pd.DataFrame:
    """One vendored TradingView export as a frame."""
    return pd.read_csv(require_tv_reference(name))


def assert_parity(ours: np.ndarray, theirs: pd.Series) -> None:
    """Same na bars, and values within 1e-9 where defined."""
    expected = theirs.to_numpy(dtype=np.float64)
    assert np.array_equal(np.isnan(ours), np.isnan(expected)), "na warm-up differs"
    defined = ~np.isnan(expected)
    assert defined.any()
    assert np.max(np.abs(ours[defined] - expected[defined])) <= TOLERANCE
