"""One backtest from candles to report data: signals, fills, ledger, equity and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest.engine import BacktestError, FillRules, Trades, simulate
from backtest.ledger import Ledger, build_ledger, equity_curve
from backtest.metrics import exit_reasons, performance_summary
from backtest.time_range import TimeRange, with_warmup


@dataclass(frozen=True)
class BacktestResult:
    """Everything a report, a plot or a comparison needs."""

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    trades: Trades
    ledger: Ledger
    equity: np.ndarray
    rules: FillRules
    capital: float
    strategy: str
    params: dict[str, Any]
    summary: dict[str, Any]
    reasons: dict[str, dict[str, Any]]
    indicators: Any = None  # the strategy's frame (indicator columns + signal), for the plot


def strategy_signals(candles, name: str, params: Mapping[str, Any] | None):
    """The strategy's output frame and its full parameter set, from ``strategies.registry``.

    Raises BacktestError (one line) for an unknown strategy or a rejected parameter.
    """
    from strategies.registry import STRATEGIES, get_strategy

    name = str(name).strip().lower()
    if name not in STRATEGIES:
        raise BacktestError(f"strategy {name!r} is unknown; choose one of {', '.join(STRATEGIES)}")
    strategy = get_strategy(name)
    merged = {**strategy.defaults, **(params or {})}
    unknown = sorted(set(params or {}) - set(strategy.defaults))
    if unknown:
        raise BacktestError(
            f"strategy {name!r} has no parameter {', '.join(unknown)};"
            f" its parameters are {', '.join(strategy.defaults)}"
        )
    try:
        strategy.validate(merged)
    except ValueError as exc:
        raise BacktestError(f"strategy {name!r}: {str(exc).splitlines()[0]}") from None
    frame = strategy.compute(candles, merged)
    return frame, merged


def run_on_signal(
    candles,
    signal: np.ndarray,
    rules: FillRules,
    capital: float,
    strategy: str = "",
    params: Mapping[str, Any] | None = None,
    indicators=None,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Fill ``signal`` on the candle frame and compute the ledger, equity and metrics."""
    if not capital > 0:
        raise BacktestError(f"capital {capital!r} must be a positive amount (e.g. 10000)")
    if len(candles) < 2:
        raise BacktestError(f"{len(candles)} candle(s) are too few to backtest; need at least 2")
    stamps = candles["timestamp"].to_numpy()
    o, h = candles["open"].to_numpy(), candles["high"].to_numpy()
    lo, c = candles["low"].to_numpy(), candles["close"].to_numpy()
    trades = simulate(o, h, lo, c, np.asarray(signal), rules, progress=progress)
    ledger = build_ledger(trades, h, lo, rules)
    equity = equity_curve(trades, ledger, c, rules, capital)
    summary = performance_summary(trades, ledger, equity, stamps, float(o[0]), float(c[-1]),
                                  rules.qty, capital)
    return BacktestResult(
        timestamps=stamps, open=o, high=h, low=lo, close=c, trades=trades, ledger=ledger,
        equity=equity, rules=rules, capital=capital, strategy=strategy,
        params=dict(params or {}), summary=summary, reasons=exit_reasons(trades, ledger),
        indicators=indicators,
    )


def run_backtest(
    candles,
    strategy: str,
    params: Mapping[str, Any] | None,
    rules: FillRules,
    capital: float,
    progress: Callable[[float], None] | None = None,
    time_range: TimeRange | None = None,
) -> BacktestResult:
    """Compute the strategy's signals on the candles and backtest them.

    With ``time_range`` only the candles in range are traded, from flat; the signals are
    computed over every candle before the range's end (``backtest.time_range``), so they do
    not depend on where the range starts.
    """
    frame, merged, candles = ranged_signals(candles, strategy, params, time_range)
    signal = frame["signal"].to_numpy()
    return run_on_signal(candles, signal, rules, capital, strategy, merged, frame, progress)


def ranged_signals(candles, strategy: str, params: Mapping[str, Any] | None,
                   time_range: TimeRange | None):
    """(strategy frame, parameters, candles), cut to ``time_range`` after a full warm-up.

    Raises BacktestError / TimeRangeError (one line).
    """
    if time_range is None or time_range.is_whole:
        frame, merged = strategy_signals(candles, strategy, params)
        return frame, merged, candles
    window = with_warmup(candles, time_range)
    frame, merged = strategy_signals(window.candles, strategy, params)
    return window.cut(frame), merged, window.in_range
