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

from strategies import bar_rules, rules
from strategies.bars import Bars, bars_of
from strategies.params import Params, merge_params

DEFAULT_STRATEGY = "sma_rsi"
PINE_DIR = Path(__file__).resolve().parent / "pine"


@dataclass(frozen=True)
class Strategy:
    """One strategy: name, TradingView title, defaults, and its rule and warm-up functions."""

    name: str
    title: str
    defaults: dict[str, float | int] = field(hash=False)
    rule: Callable[..., dict[str, np.ndarray]] = field(repr=False)
    warmup_rule: Callable[[Params], int] = field(repr=False)
    summary: str = ""
    # "close": the rule takes the close array; "bars": it takes ``Bars`` (OHLC + mintick).
    inputs: str = "close"
    # TradingView's order ids of the long and short entries (the trade list's Signal column).
    entry_ids: tuple[str, str] = ("Long", "Short")
    # Name of the OCA cancel group both entries belong to (None: independent orders).
    oca: str | None = None
    # TradingView's default order size as a percent of equity (None: 1 contract / --qty).
    qty_percent: float | None = None
    # The parameter holding strategy.risk.max_intraday_loss in percent of equity, if any.
    intraday_loss_param: str | None = None
    # True when the strategy places stop entries (its frame has the order columns).
    stop_entries: bool = False

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
        self, frame: pd.DataFrame, params: Mapping[str, object] | None = None,
        mintick: float | None = None,
    ) -> pd.DataFrame:
        """The indicator columns and ``signal`` (int8 1/-1/0) for every bar of a candle frame.

        Close-only strategies use the frame's ``close`` column; bar strategies its OHLC and
        ``mintick`` (None: inferred from the prices' decimals) and add the order columns of
        ``strategies.orders`` when they place stop entries. The result has the frame's index.
        Each bar's values use only that bar and earlier ones.
        """
        merged = self.params(params)
        if self.inputs == "bars":
            columns = self.rule(bars_of(frame, mintick), merged)
            return pd.DataFrame(columns, index=frame.index)
        if "close" not in frame.columns:
            raise ValueError("the candle frame has no 'close' column; pass a candle frame")
        close = frame["close"].to_numpy(dtype=np.float64, na_value=np.nan)
        columns = self.rule(close, merged)
        return pd.DataFrame(columns, index=frame.index)

    def compute_bars(self, bars: Bars, params: Mapping[str, object] | None = None
                     ) -> dict[str, np.ndarray]:
        """The rule's columns straight from ``Bars`` (no frame), for either kind of input."""
        merged = self.params(params)
        return self.rule(bars if self.inputs == "bars" else bars.close, merged)


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
            entry_ids=("SmaRsiLE", "SmaRsiSE"),
        ),
        Strategy(
            name="ma2line",
            title="MovingAvg2Line Cross",
            defaults={"MA_FAST": 9, "MA_SLOW": 18},
            rule=rules.ma2line,
            warmup_rule=rules.ma2line_warmup,
            summary="SMA 9 crosses over / under SMA 18",
            entry_ids=("MA2CrossLE", "MA2CrossSE"),
        ),
        Strategy(
            name="rsi",
            title="RSI Strategy",
            defaults={"RSI_PERIOD": 14, "RSI_OVERBOUGHT": 70, "RSI_OVERSOLD": 30},
            rule=rules.rsi_strategy,
            warmup_rule=rules.rsi_warmup,
            summary="RSI(14) crosses over 30 (buy) / under 70 (sell)",
            entry_ids=("RsiLE", "RsiSE"),
        ),
        Strategy(
            name="macd",
            title="MACD Strategy",
            defaults={"MACD_FAST": 12, "MACD_SLOW": 26, "MACD_SIGNAL": 9},
            rule=rules.macd_strategy,
            warmup_rule=rules.macd_warmup,
            summary="MACD(12, 26) minus its 9-EMA crosses over / under 0",
            entry_ids=("MacdLE", "MacdSE"),
        ),
        Strategy(
            name="supertrend",
            title="Supertrend Strategy",
            defaults={"SUPERTREND_ATR": 10, "SUPERTREND_FACTOR": 3.0},
            rule=bar_rules.supertrend_strategy,
            warmup_rule=bar_rules.supertrend_warmup,
            summary="Supertrend(3, ATR 10) turns up (long) / down (short); 15 % of equity",
            inputs="bars",
            entry_ids=("My Long Entry Id", "My Short Entry Id"),
            qty_percent=15.0,
        ),
        Strategy(
            name="bollinger",
            title="Bollinger Bands Strategy",
            defaults={"BB_LENGTH": 20, "BB_MULT": 2.0},
            rule=bar_rules.bollinger_strategy,
            warmup_rule=bar_rules.bollinger_warmup,
            summary="close crosses over the lower band: buy stop there; under the upper: sell"
                    " stop there (OCA)",
            inputs="bars",
            entry_ids=("BBandLE", "BBandSE"),
            stop_entries=True,
            oca="BollingerBands",
        ),
        Strategy(
            name="keltner",
            title="Keltner Channels Strategy",
            defaults={"KC_LENGTH": 20, "KC_MULT": 2.0, "KC_ATR": 10},
            rule=bar_rules.keltner_strategy,
            warmup_rule=bar_rules.keltner_warmup,
            summary="close crosses EMA(20) +- 2 ATR(10): stop one tick beyond that bar's"
                    " high / low",
            inputs="bars",
            entry_ids=("KltChLE", "KltChSE"),
            stop_entries=True,
        ),
        Strategy(
            name="channel_breakout",
            title="ChannelBreakOutStrategy",
            defaults={"CHANNEL_LENGTH": 5},
            rule=bar_rules.channel_breakout_strategy,
            warmup_rule=bar_rules.channel_breakout_warmup,
            summary="stops one tick beyond the highest high / lowest low of 5 bars, every bar",
            inputs="bars",
            entry_ids=("ChBrkLE", "ChBrkSE"),
            stop_entries=True,
        ),
        Strategy(
            name="barupdn",
            title="BarUpDn Strategy",
            defaults={"MAX_INTRADAY_LOSS": 1.0},
            rule=bar_rules.barupdn_strategy,
            warmup_rule=bar_rules.barupdn_warmup,
            summary="up bar opening above the last close: long; down bar below it: short;"
                    " 10 % of equity, max intraday loss 1 %",
            inputs="bars",
            entry_ids=("BarUp", "BarDn"),
            qty_percent=10.0,
            intraday_loss_param="MAX_INTRADAY_LOSS",
        ),
    )
}
# The four strategies that read only closes and give only market signals (the 1/0/-1 contract).
SIGNAL_STRATEGIES = ("sma_rsi", "ma2line", "rsi", "macd")


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; ValueError listing the known names otherwise."""
    key = str(name).strip().lower()
    if key not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[key]
