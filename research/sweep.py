"""One parameter combination -> its backtest, sharing the work that combinations have in common.

An ``Evaluator`` holds the candles (loaded once per worker) and a ``SharedSeries`` block, so
every distinct indicator series is computed once and reused by every combination that needs
it. A combination then costs its signal combination, its fills and its metrics. It follows
``backtest.run.run_backtest``, what ``python main.py backtest`` runs, step for step: the
strategy's own rule on the same prices and price step, then ``run_on_signal`` (the signal
engine) or ``run_on_intents`` (the order broker: stop entries, percent sizing, risk rules) on
the same candles, so a row equals the backtest of those parameters bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from backtest.engine import FillRules
from backtest.run import BacktestResult, BrokerSettings, run_on_intents, run_on_signal, uses_orders
from research.grid import Combo
from strategies.bars import bars_of
from strategies.registry import get_strategy
from strategies.shared import SharedSeries


@dataclass(frozen=True)
class SweepSpec:
    """What every combination of one sweep shares: strategy, base parameters, fills, money.

    ``params`` are the strategy's full parameters before the grid overlays a combination;
    ``marks`` (optional) are bar positions closing the periods whose P&L the PBO test uses;
    ``windows`` (optional) are (start, end) bar ranges evaluated on their own (walk-forward);
    ``first`` is the first bar of the backtested range (``--from``), as ``backtest`` cuts it.
    """

    strategy: str
    params: dict[str, int | float]
    rules: FillRules
    capital: float
    marks: tuple[int, ...] = ()
    windows: tuple[tuple[int, int], ...] = ()
    first: int = 0  # --from: bars before it only warm the indicators up
    broker: BrokerSettings = field(default_factory=BrokerSettings)  # mintick resolved


@dataclass
class Outcome:
    """One combination's results: its parameters, the Performance Summary, and extras."""

    combo: Combo
    params: dict[str, int | float]
    sl: float | None
    tp: float | None
    summary: dict[str, Any]
    period_pnl: np.ndarray | None = None
    windows: list[dict[str, Any]] = field(default_factory=list)


def combo_setup(spec: SweepSpec, combo: Mapping[str, Any]) -> tuple[dict, FillRules]:
    """The strategy parameters and fill rules of one combination."""
    params = {**spec.params, **{k: v for k, v in combo.items() if k not in ("sl", "tp")}}
    changes: dict[str, Any] = {}
    if "sl" in combo:
        changes["stop_loss"] = float(combo["sl"])
    if "tp" in combo:
        changes["take_profit"] = float(combo["tp"])
    return params, replace(spec.rules, **changes) if changes else spec.rules


def accepts(spec: SweepSpec):
    """A predicate: does the strategy accept this combination's parameters?"""
    strategy = get_strategy(spec.strategy)

    def check(combo: Mapping[str, Any]) -> bool:
        try:
            strategy.validate(combo_setup(spec, combo)[0])
        except ValueError:
            return False
        return True

    return check


def period_pnl(equity: np.ndarray, marks: Sequence[int], capital: float) -> np.ndarray:
    """P&L of each period ending at the bars ``marks`` (the first from ``capital``)."""
    ends = equity[np.asarray(marks, dtype=np.int64)]
    return np.diff(np.concatenate(([capital], ends)))


class Evaluator:
    """Backtests combinations of one sweep on one candle frame, sharing indicator series."""

    def __init__(self, candles, spec: SweepSpec) -> None:
        self.candles = candles
        self.spec = spec
        self.strategy = get_strategy(spec.strategy)
        # The arrays Strategy.compute reads (same columns, same price step), so the
        # indicators see the same numbers as a backtest's.
        self.bars = bars_of(candles, spec.broker.mintick)
        self.shared = SharedSeries(self.bars.open, self.bars.high, self.bars.low,
                                   self.bars.close)
        self.orders = uses_orders(spec.strategy, spec.broker)
        self._last: tuple[tuple, dict[str, Any]] | None = None

    def columns(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The strategy's output columns for ``params`` (the last set is kept: SL/TP vary
        fastest, so consecutive combinations often share it)."""
        merged = self.strategy.params(params)
        key = tuple(sorted(merged.items()))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        with self.shared:
            columns = self.strategy.compute_bars(self.bars, merged)
        self._last = (key, columns)
        return columns

    def signal(self, params: Mapping[str, Any]) -> np.ndarray:
        """The strategy's signal column for ``params``."""
        return np.asarray(self.columns(params)["signal"])

    def part(self, start: int, end: int):
        """The candle frame of bars [start, end): a row slice, no copy (the backtest reads
        columns by position, so the index does not matter)."""
        return self.candles.iloc[start:end]

    def result(self, combo: Mapping[str, Any], start: int, end: int) -> BacktestResult:
        """The backtest of one combination over bars [start, end) (signals from bar 0)."""
        spec = self.spec
        params, rules = combo_setup(spec, combo)
        whole = start == 0 and end == len(self.candles)
        candles = self.candles if whole else self.part(start, end)
        if self.orders:
            frame = pd.DataFrame(self.columns(params))
            if not whole:
                frame = frame.iloc[start:end]
            return run_on_intents(candles, frame, rules, spec.capital, spec.strategy, params,
                                  spec.broker)
        return run_on_signal(candles, self.signal(params)[start:end], rules, spec.capital,
                             spec.strategy, params)

    def evaluate(self, combo: Combo) -> Outcome:
        """Backtest one combination over its range (and each window, when asked)."""
        spec = self.spec
        params, rules = combo_setup(spec, combo)
        outcome = Outcome(combo=dict(combo), params=params, sl=rules.stop_loss,
                          tp=rules.take_profit, summary={})
        if spec.windows:
            for start, end in spec.windows:
                outcome.windows.append(self.result(combo, start, end).summary)
            return outcome
        result = self.result(combo, spec.first, len(self.candles))
        outcome.summary = result.summary
        if spec.marks:
            outcome.period_pnl = period_pnl(result.equity, spec.marks, spec.capital)
        return outcome

    def evaluate_many(self, combos: Sequence[Combo]) -> list[Outcome]:
        """``evaluate`` for each combination, in order."""
        return [self.evaluate(combo) for combo in combos]
