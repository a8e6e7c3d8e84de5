"""The strategies the bot can run, by name.

A strategy is data plus two pure functions (see docs/decisions/0011-strategy-representation.md):
its TradingView title, its default parameters (STRATEGY_PARAMS names), the rule computing the
indicator columns and the signal, and the warm-up length. ``compute`` is what the bot, the
backtester and the ``signals`` command call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from strategies import rules
from strategies.params import Params, merge_params

DEFAULT_STRATEGY = "sma_rsi"
PINE_DIR = Path(__file__).resolve().parent / "pine"


@dataclass(frozen=True)
class Strategy:
    """One strategy: name, TradingView title, defaults, and its rule and warm-up functions."""

    name: str
    title: str
    defaults: dict[str, float | int] = field(hash=False)
    rule: Callable[[np.ndarray, Params], dict[str, np.ndarray]] = field(repr=False)
    warmup_rule: Callable[[Params], int] = field(repr=False)
    summary: str = ""

    @property
    def pine_path(self) -> Path:
        """The Pine v6 source to paste into TradingView's Pine Editor."""
        return PINE_DIR / f"{self.name}.pine"

    def params(self, params: Mapping[str, object] | None = None) -> Params:
        """``params`` merged over the defaults and checked (ValueError, one line)."""
        return merge_params(self.defaults, params)

    def validate(self, params: Mapping[str, object] | None) -> None:
        """Raise ValueError (one line) when ``params`` cannot run this strategy."""
        self.params(params)

    def warmup(self, params: Mapping[str, object] | None = None) -> int:
        """Candles needed for the last one to be able to carry a signal.

        EMA/RMA-based values still depend on older bars (they fade over a few periods), so
        fetch a few times more when values must match a long backtest to the last digit.
        """
        return int(self.warmup_rule(self.params(params)))

    def compute(
        self, frame: pd.DataFrame, params: Mapping[str, object] | None = None
    ) -> pd.DataFrame:
        """The indicator columns and ``signal`` (int8 1/-1/0) for every bar of a candle frame.

        Uses the frame's ``close`` column; the result has the frame's index. Each bar's
        values use only that bar and earlier ones.
        """
        merged = self.params(params)
        if "close" not in frame.columns:
            raise ValueError("the candle frame has no 'close' column; pass a candle frame")
        close = frame["close"].to_numpy(dtype=np.float64, na_value=np.nan)
        columns = self.rule(close, merged)
        return pd.DataFrame(columns, index=frame.index)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            name="sma_rsi",
            title="SMA Cross + RSI Filter",
            defaults={"SMA_SHORT": 10, "SMA_LONG": 50, "RSI_PERIOD": 14,
                      "RSI_OVERBOUGHT": 70, "RSI_OVERSOLD": 30},
            rule=rules.sma_rsi,
            warmup_rule=rules.sma_rsi_warmup,
            summary="SMA 10/50 crossover, buys only while RSI(14) < 70, sells only while > 30",
        ),
        Strategy(
            name="ma2line",
            title="MovingAvg2Line Cross",
            defaults={"MA_FAST": 9, "MA_SLOW": 18},
            rule=rules.ma2line,
            warmup_rule=rules.ma2line_warmup,
            summary="SMA 9 crosses over / under SMA 18",
        ),
        Strategy(
            name="rsi",
            title="RSI Strategy",
            defaults={"RSI_PERIOD": 14, "RSI_OVERBOUGHT": 70, "RSI_OVERSOLD": 30},
            rule=rules.rsi_strategy,
            warmup_rule=rules.rsi_warmup,
            summary="RSI(14) crosses over 30 (buy) / under 70 (sell)",
        ),
        Strategy(
            name="macd",
            title="MACD Strategy",
            defaults={"MACD_FAST": 12, "MACD_SLOW": 26, "MACD_SIGNAL": 9},
            rule=rules.macd_strategy,
            warmup_rule=rules.macd_warmup,
            summary="MACD(12, 26) minus its 9-EMA crosses over / under 0",
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; ValueError listing the known names otherwise."""
    key = str(name).strip().lower()
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[key]
