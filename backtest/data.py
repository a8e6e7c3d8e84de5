"""Candles for a backtest: any candle file the one reader (``storage.candle_formats``) knows.

Kept as the backtester's entry point so callers need not know where the reader lives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from storage.candle_formats import read_any


def load_candles(path: str | Path, *, note: Callable[[str], None] | None = None
                 ) -> pd.DataFrame:
    """The candle frame of any layout ``storage.candle_formats.read_any`` knows.

    Raises CandleFileError (one line) when the file is none of them or breaks the candle rules.
    """
    return read_any(path, note=note)
