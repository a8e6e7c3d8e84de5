"""The objective of a sweep: one Performance Summary metric by its report name, and ranking."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Metrics where a smaller value is the better one; every other metric is maximised.
MINIMISED = frozenset({
    "Max Drawdown", "Max Drawdown %", "Gross Loss", "Gross Loss %", "Commission Paid",
    "Number Losing Trades", "Avg Losing Trade", "Avg Losing Trade %", "Largest Losing Trade",
    "Largest Losing Trade %", "Max Consecutive Losses", "Avg # Bars in Losing Trades",
})
TRADES = "Total Closed Trades"


class ObjectiveError(ValueError):
    """An --objective or --min-trades value that cannot be used; one line for the user."""


@functools.cache
def metric_names() -> tuple[str, ...]:
    """Every Performance Summary name, in report order (from the metrics code itself)."""
    from backtest.engine import FillRules, simulate
    from backtest.ledger import build_ledger, equity_curve
    from backtest.metrics import performance_summary

    prices = np.array([1.0, 1.0])
    rules = FillRules()
    trades = simulate(prices, prices, prices, prices, np.zeros(2, dtype=np.int8), rules)
    ledger = build_ledger(trades, prices, prices, rules)
    equity = equity_curve(trades, ledger, prices, rules, 1.0)
    summary = performance_summary(trades, ledger, equity, np.array([0, 60_000]), 1.0, 1.0,
                                  rules.qty, 1.0)
    return tuple(summary)


@dataclass(frozen=True)
class Objective:
    """A metric to maximise (or minimise) and the closed trades a combination needs to count."""

    name: str
    direction: str  # "max" or "min"
    min_trades: int = 0

    @classmethod
    def named(cls, text: str, min_trades: int = 0) -> Objective:
        """The objective called ``text`` (case-insensitive); ObjectiveError when unknown."""
        names = metric_names()
        match = {n.lower(): n for n in names}.get(text.strip().lower())
        if match is None:
            raise ObjectiveError(f"--objective {text!r} is not a Performance Summary metric;"
                                 f" use one of: {', '.join(names)}")
        if min_trades < 0:
            raise ObjectiveError(f"--min-trades {min_trades} must be 0 or more")
        return cls(match, "min" if match in MINIMISED else "max", min_trades)

    def qualifies(self, row: Mapping[str, Any]) -> bool:
        """True when the combination closed at least ``min_trades`` trades."""
        return (row.get(TRADES) or 0) >= self.min_trades

    def score(self, row: Mapping[str, Any]) -> float:
        """The metric as a number where larger is better (-inf when it does not exist)."""
        value = row.get(self.name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return -math.inf
        return float(value) if self.direction == "max" else -float(value)

    def rank(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Best first; combinations short of ``min_trades`` last; ties keep their order."""
        return sorted(rows, key=lambda r: (not self.qualifies(r), -self.score(r)))

    def best_index(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Position of the best row in ``rows`` (the first of equals)."""
        return min(range(len(rows)),
                   key=lambda i: (not self.qualifies(rows[i]), -self.score(rows[i])))
