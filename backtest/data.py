"""Candles for a backtest: any candle file the one reader (``storage.candle_formats``) knows.

Kept as the backtester's entry point so callers need not know where the reader lives. A large
file is served from its columnar copy (``storage.candle_cache``) while it is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from storage.candle_cache import cached_read
from storage.candle_formats import read_candle_source


def _read_with_notes(path: Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The frame and the reader's one-line notes, parsed from the file itself."""
    frame, source = read_candle_source(path)
    return frame, tuple(source.notes)


def load_candles(path: str | Path, *, note: Callable[[str], None] | None = None
                 ) -> pd.DataFrame:
    """The candle frame of any layout ``storage.candle_formats.read_any`` knows.

    ``note`` receives each one-line note (gaps) when given, from a cached read too.
    Raises CandleFileError (one line) when the file is none of them or breaks the candle rules.
    """
    frame, notes = cached_read(Path(path), _read_with_notes)
    if note is not None:
        for line in notes:
            note(line)
    return frame
