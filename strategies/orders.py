"""What a strategy asks of the broker on each bar: entries (market or stop) and cancels.

The output model (docs/decisions/0101-strategy-output-model.md): a strategy's frame always has
``signal`` (int8, 1 long entry / -1 short entry / 0, market orders, the four original
strategies' contract). A strategy that places stop entries adds six columns, one triple per
side, mirroring Pine's calls on that bar:

* ``long_entry``  bool  ``strategy.entry(long_id, strategy.long, stop=long_stop)`` was called;
* ``long_stop``   float its stop level; NaN (``stop = na``) makes it a market order;
* ``long_cancel`` bool  ``strategy.cancel(long_id)`` was called, applied BEFORE the entry;

and the same with ``short_``. Without those columns the intents are derived from ``signal``
(market entries only), so the backtester and the bot read every strategy through ``intents``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ORDER_COLUMNS = ("long_entry", "long_stop", "long_cancel",
                 "short_entry", "short_stop", "short_cancel")


@dataclass(frozen=True)
class Intents:
    """Per-bar entry and cancel instructions for the strategy's long and short entry ids."""

    long_entry: np.ndarray
    long_stop: np.ndarray
    long_cancel: np.ndarray
    short_entry: np.ndarray
    short_stop: np.ndarray
    short_cancel: np.ndarray

    def __len__(self) -> int:
        return int(self.long_entry.size)

    @property
    def has_stops(self) -> bool:
        """True when any entry carries a stop level (not only market orders)."""
        return bool((self.long_entry & ~np.isnan(self.long_stop)).any()
                    or (self.short_entry & ~np.isnan(self.short_stop)).any())

    def at(self, bar: int) -> dict[str, float | bool]:
        """The six instructions of one bar (for the bot's last closed candle)."""
        return {name: getattr(self, name)[bar].item() for name in ORDER_COLUMNS}


def has_orders(frame: pd.DataFrame) -> bool:
    """True when the frame carries the stop-entry columns."""
    return all(c in frame.columns for c in ORDER_COLUMNS)


def stop_entry_columns(long_entry: np.ndarray, long_stop: np.ndarray, long_cancel: np.ndarray,
                       short_entry: np.ndarray, short_stop: np.ndarray,
                       short_cancel: np.ndarray) -> dict[str, np.ndarray]:
    """The six order columns (dtypes fixed) plus ``signal`` for the market entries among them.

    A stop level is kept only on bars whose entry is called (NaN elsewhere).
    """
    size = np.asarray(long_entry).size
    le = np.asarray(long_entry, dtype=bool)
    se = np.asarray(short_entry, dtype=bool)
    ls = np.where(le, np.broadcast_to(np.asarray(long_stop, dtype=np.float64), size), np.nan)
    ss = np.where(se, np.broadcast_to(np.asarray(short_stop, dtype=np.float64), size), np.nan)
    market_long = le & np.isnan(ls)
    market_short = se & np.isnan(ss)
    signal = (market_long.astype(np.int8) - market_short.astype(np.int8)).astype(np.int8)
    # Both market entries on one bar: the later call (short) wins in Pine's one-order-per-bar
    # reading of ``signal``; the order columns keep both.
    signal[market_long & market_short] = -1
    return {
        "long_entry": le, "long_stop": ls,
        "long_cancel": np.broadcast_to(np.asarray(long_cancel, dtype=bool), size).copy(),
        "short_entry": se, "short_stop": ss,
        "short_cancel": np.broadcast_to(np.asarray(short_cancel, dtype=bool), size).copy(),
        "signal": signal,
    }


def intents(frame: pd.DataFrame) -> Intents:
    """The per-bar instructions of a strategy's output frame (from ``signal`` when no orders)."""
    if has_orders(frame):
        return Intents(*(frame[c].to_numpy() for c in ORDER_COLUMNS))
    signal = frame["signal"].to_numpy()
    nan = np.full(signal.size, np.nan)
    never = np.zeros(signal.size, dtype=bool)
    return Intents(signal > 0, nan, never, signal < 0, nan.copy(), never.copy())
