"""Client-side stop entries: what a strategy's orders of one closed candle do to the armed
stops, and which armed stop a last price reaches.

The same rules as the backtester's order broker in long-only mode (backtest/orders.py,
docs/decisions/0104-bot-stop-entries.md): one order per entry id (a new one replaces it, a
cancel removes it, a cancel applies before the same candle's entry); a buy stop is rounded up
to the tick and a sell stop down; a buy stop is not armed while long (pyramiding 1); a short
entry only ever closes the long; a market entry (stop na) replaces the armed stop of its id
and is returned as a signal. Pure functions over ``StopEntry`` lists: no I/O, no orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from storage.state import StopEntry

_TICK_SNAP = 1e-4


def round_level(level: float, side: str, tick: float | None) -> float:
    """``level`` on the tick grid: buy stops up, sell stops down (unchanged without a tick)."""
    if not tick:
        return float(level)
    ticks = level / tick
    whole = math.ceil(ticks - _TICK_SNAP) if side == "buy" else math.floor(ticks + _TICK_SNAP)
    per_unit = round(1.0 / tick)
    if per_unit >= 1 and abs(per_unit * tick - 1.0) < 1e-12:
        return whole / per_unit
    return whole * tick


def apply_orders(
    armed: list[StopEntry], orders: Mapping[str, object], *, long_id: str, short_id: str,
    oca: str, tick: float | None, held: bool, candle_ms: int,
) -> tuple[list[StopEntry], int]:
    """(stops armed after this candle's orders, market signal 1 / -1 / 0).

    ``orders`` holds one candle's six order columns (``strategies.orders.ORDER_COLUMNS``);
    ``held`` is whether a long is open.
    """
    stops = {e.side: e for e in armed}
    signal = 0
    for side, key, entry_id in (("buy", "long", long_id), ("sell", "short", short_id)):
        if orders.get(f"{key}_cancel"):
            stops.pop(side, None)
        if not orders.get(f"{key}_entry"):
            continue
        level = orders.get(f"{key}_stop")
        if not isinstance(level, int | float) or math.isnan(level):
            stops.pop(side, None)  # a market order under the same id replaces the stop
            signal = 1 if side == "buy" else -1
            continue
        if side == "buy" and held:
            continue  # pyramiding 1: not placed; an armed one stays
        stops[side] = StopEntry(side=side, level=round_level(float(level), side, tick),
                                entry_id=entry_id, oca=oca, placed_candle_ms=int(candle_ms))
    return [stops[s] for s in ("buy", "sell") if s in stops], signal


def reached(armed: list[StopEntry], price: float) -> StopEntry | None:
    """The armed stop the last price has reached (a sell stop before a buy stop), or None."""
    for entry in sorted(armed, key=lambda e: e.side != "sell"):
        if (entry.side == "buy" and price >= entry.level) or (
                entry.side == "sell" and price <= entry.level):
            return entry
    return None


def after_fill(armed: list[StopEntry], filled: StopEntry) -> list[StopEntry]:
    """The stops left once ``filled`` has gone: it, and its OCA cancel group's others."""
    return [e for e in armed
            if e is not filled and not (filled.oca and e.oca == filled.oca)]


def describe(entry: StopEntry) -> str:
    """``BUY stop 101.5 (BBandLE)`` for log lines and reconcile notes."""
    group = f", OCA {entry.oca}" if entry.oca else ""
    return f"{entry.side.upper()} stop {entry.level:g} ({entry.entry_id}{group})"
