"""One backtest from candles to report data: signals, fills, ledger, equity and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from backtest.engine import BacktestError, FillRules, Trades, simulate
from backtest.ledger import Ledger, build_ledger, equity_curve
from backtest.metrics import exit_reasons, performance_summary
from backtest.orders import OrderRules, simulate_orders
from backtest.time_range import TimeRange, with_warmup
from backtest.trading_day import DEFAULT_DAY_START, day_numbers
from strategies.bars import infer_mintick
from strategies.orders import intents
from strategies.registry import STRATEGIES, get_strategy

# Default quantity step of percent-of-equity sizing: Binance's BTC/USDT LOT_SIZE step.
DEFAULT_LOT = 0.00001


@dataclass(frozen=True)
class BrokerSettings:
    """The order broker's market facts and sizing (docs/decisions/0103-order-sizing.md).

    ``mintick`` None takes the price step from the candles' decimals; ``qty_percent`` sizes
    orders as a percent of equity (None: ``FillRules.qty`` contracts); ``lot`` is the quantity
    step those sizes are floored to; ``day_start`` the trading day for the intraday loss rule.
    """

    mintick: float | None = None
    lot: float = DEFAULT_LOT
    qty_percent: float | None = None
    day_start: str = DEFAULT_DAY_START


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


def strategy_signals(candles, name: str, params: Mapping[str, Any] | None,
                     mintick: float | None = None):
    """The strategy's output frame and its full parameter set, from ``strategies.registry``.

    ``mintick`` is the price step bar strategies place stops on (None: from the prices).
    Raises BacktestError (one line) for an unknown strategy or a rejected parameter.
    """
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
    try:
        frame = strategy.compute(candles, merged, mintick=mintick)
    except ValueError as exc:
        raise BacktestError(f"strategy {name!r}: {str(exc).splitlines()[0]}") from None
    return frame, merged


def check_inputs(candles: Any, capital: float) -> None:
    """BacktestError (one line) unless the capital is positive and there are 2+ candles."""
    if not capital > 0:
        raise BacktestError(f"capital {capital!r} must be a positive amount (e.g. 10000)")
    if len(candles) < 2:
        raise BacktestError(f"{len(candles)} candle(s) are too few to backtest; need at least 2")


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
    check_inputs(candles, capital)
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
    broker: BrokerSettings | None = None,
) -> BacktestResult:
    """Compute the strategy's signals on the candles and backtest them.

    Strategies with stop entries or a risk rule, and percent sizing (``broker``), run through
    the order broker (``backtest.orders``); the rest through the signal engine.

    With ``time_range`` only the candles in range are traded, from flat; the signals are
    computed over every candle before the range's end (``backtest.time_range``), so they do
    not depend on where the range starts.
    """
    broker = broker or BrokerSettings()
    mintick = resolve_mintick(candles, broker.mintick)
    frame, merged, candles = ranged_signals(candles, strategy, params, time_range, mintick)
    if uses_orders(strategy, broker):
        return run_on_intents(candles, frame, rules, capital, strategy, merged,
                              replace(broker, mintick=mintick), progress)
    signal = frame["signal"].to_numpy()
    return run_on_signal(candles, signal, rules, capital, strategy, merged, frame, progress)


def ranged_signals(candles, strategy: str, params: Mapping[str, Any] | None,
                   time_range: TimeRange | None, mintick: float | None = None):
    """(strategy frame, parameters, candles), cut to ``time_range`` after a full warm-up.

    Raises BacktestError / TimeRangeError (one line).
    """
    if time_range is None or time_range.is_whole:
        frame, merged = strategy_signals(candles, strategy, params, mintick)
        return frame, merged, candles
    window = with_warmup(candles, time_range)
    frame, merged = strategy_signals(window.candles, strategy, params, mintick)
    return window.cut(frame), merged, window.in_range


def resolve_mintick(candles, mintick: float | None) -> float:
    """``mintick`` when given (checked), else the candles' price step from their decimals."""
    if mintick is None:
        cols = [candles[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")]
        return infer_mintick(*cols)
    if not (np.isfinite(mintick) and mintick > 0):
        raise BacktestError(f"mintick {mintick!r} must be a positive price step (e.g. 0.01)")
    return float(mintick)


def uses_orders(strategy: str, broker: BrokerSettings) -> bool:
    """True when the order broker must run: stop entries, percent sizing or a risk rule."""
    record = get_strategy(strategy)
    return (record.stop_entries or broker.qty_percent is not None
            or record.intraday_loss_param is not None)


def run_on_intents(
    candles,
    frame,
    rules: FillRules,
    capital: float,
    strategy: str,
    params: Mapping[str, Any],
    broker: BrokerSettings,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Run the strategy frame's order intents through ``backtest.orders`` and report them."""
    check_inputs(candles, capital)
    record = get_strategy(strategy)
    loss = params.get(record.intraday_loss_param) if record.intraday_loss_param else None
    # run_backtest resolved the mintick (resolve_mintick) before handing the broker here
    orules = OrderRules(mintick=float(cast(float, broker.mintick)), lot=broker.lot,
                        qty_percent=broker.qty_percent, oca=record.oca is not None,
                        intraday_loss=loss)
    stamps = candles["timestamp"].to_numpy()
    o, h = candles["open"].to_numpy(), candles["high"].to_numpy()
    lo, c = candles["low"].to_numpy(), candles["close"].to_numpy()
    day = day_numbers(stamps, broker.day_start) if loss is not None else None
    trades = simulate_orders(o, h, lo, c, intents(frame), rules, orules, capital, day,
                             progress)
    ledger = build_ledger(trades, h, lo, rules)
    equity = equity_curve(trades, ledger, c, rules, capital)
    # the order broker sizes every trade itself, so its trades always carry qty
    held = float(cast(np.ndarray, trades.qty).max()) if len(trades) else 0.0
    summary = performance_summary(trades, ledger, equity, stamps, float(o[0]), float(c[-1]),
                                  held, capital)
    return BacktestResult(
        timestamps=stamps, open=o, high=h, low=lo, close=c, trades=trades, ledger=ledger,
        equity=equity, rules=rules, capital=capital, strategy=strategy,
        params=dict(params), summary=summary, reasons=exit_reasons(trades, ledger),
        indicators=frame,
    )
