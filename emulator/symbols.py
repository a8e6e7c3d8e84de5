"""The symbols the emulator lists, each with its own seeded market, price level and filters.

BTCUSDT, ETHUSDT and BNBUSDT are always served (decision 0140). Their filters follow Binance
Spot's values for those pairs; the generated markets start near a typical price of each and
move with their own seed, so two symbols never trade in lock-step. BTCUSDT on seed ``s`` is
exactly ``GeneratedMarket(s)``: every candle the single-symbol emulator served is unchanged.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

from emulator.account import SymbolRules
from emulator.market import MINUTE_MS, GeneratedMarket, Market


@dataclass(frozen=True)
class SymbolSpec:
    """One listed symbol: its exchange rules and the shape of its generated market."""

    rules: SymbolRules
    start_price: float
    volatility: float
    volume: float

    @property
    def unified(self) -> str:
        """The ccxt name, e.g. ``BTC/USDT``."""
        return f"{self.rules.base}/{self.rules.quote}"


DEFAULT_SPECS: tuple[SymbolSpec, ...] = (
    SymbolSpec(SymbolRules(base="BTC", quote="USDT"), 30_000.0, 0.0007, 10.0),
    SymbolSpec(
        SymbolRules(base="ETH", quote="USDT", step_size=Decimal("0.0001"),
                    min_qty=Decimal("0.0001"), market_max_qty=Decimal("1000")),
        2_000.0, 0.0009, 150.0,
    ),
    SymbolSpec(
        SymbolRules(base="BNB", quote="USDT", max_price=Decimal("100000"),
                    step_size=Decimal("0.001"), min_qty=Decimal("0.001"),
                    market_max_qty=Decimal("1000")),
        300.0, 0.0008, 500.0,
    ),
)
DEFAULT_SYMBOLS: tuple[str, ...] = tuple(spec.unified for spec in DEFAULT_SPECS)


def spec_for(unified: str) -> SymbolSpec:
    """The spec of ``unified``: a listed symbol's own, else BTCUSDT-like rules for BASE/QUOTE.

    ValueError when ``unified`` is not of the form BASE/QUOTE.
    """
    rules = SymbolRules.from_unified(unified)
    for spec in DEFAULT_SPECS:
        if spec.rules.symbol == rules.symbol:
            return spec
    return SymbolSpec(rules, 30_000.0, 0.0007, 10.0)


def symbol_seed(seed: int, symbol: str) -> int:
    """The market seed of ``symbol`` (exchange id) on emulator seed ``seed``.

    BTCUSDT keeps the emulator's seed itself; any other symbol mixes in a CRC of its name.
    """
    if symbol == "BTCUSDT":
        return int(seed)
    return (int(seed) * 1_000_003 + zlib.crc32(symbol.encode())) & 0xFFFFFFFF


def generated_market(unified: str, seed: int, timeframe_ms: int = MINUTE_MS) -> GeneratedMarket:
    """The seeded market of ``unified`` at its own price level and volatility."""
    spec = spec_for(unified)
    return GeneratedMarket(
        symbol_seed(seed, spec.rules.symbol), spec.start_price, timeframe_ms,
        volatility=spec.volatility, volume=spec.volume,
    )


def listed_markets(
    primary: str, market: Market, extra: dict[str, Market] | None = None
) -> dict[str, tuple[SymbolRules, Market]]:
    """Every served symbol (exchange id) -> (rules, market), the primary one first.

    The primary trades on ``market``; ``extra`` (ccxt name -> market) overrides or adds
    symbols; the other listed symbols get generated markets on the primary's seed (1 when the
    primary is a replay) and timeframe.
    """
    seed = market.seed if isinstance(market, GeneratedMarket) else 1
    chosen: dict[str, tuple[SymbolRules, Market]] = {}
    primary_spec = spec_for(primary)
    chosen[primary_spec.rules.symbol] = (primary_spec.rules, market)
    for unified in DEFAULT_SYMBOLS:
        spec = spec_for(unified)
        if spec.rules.symbol not in chosen:
            chosen[spec.rules.symbol] = (
                spec.rules, generated_market(unified, seed, market.timeframe_ms))
    for unified, other in (extra or {}).items():
        spec = spec_for(unified)
        chosen[spec.rules.symbol] = (spec.rules, other)
    return chosen
