"""``python main.py signals``: a strategy's indicators and signal for every candle of a CSV."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HELP = "write a strategy's indicator values and BUY/SELL/HOLD signal for every candle of a CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the signals command."""
    parser.add_argument("--data", type=Path, default=None,
                        help="candle file in any layout 'main.py import' reads (the project's CSV,"
                             " TradingView, freqtrade, Binance...; default:"
                             " data/historical_data.csv)")
    parser.add_argument("--strategy", default=None,
                        help="sma_rsi, ma2line, rsi or macd (default: the STRATEGY setting,"
                             " sma_rsi)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy parameter over the STRATEGY_PARAMS settings, repeatable"
                             " (e.g. --param RSI_PERIOD=21)")
    parser.add_argument("--out", type=Path, default=Path("reports/signals.csv"),
                        help="CSV to write: timestamp, indicator columns, signal"
                             " (default reports/signals.csv)")


def _fail(message: str) -> int:
    print(f"signals: {message}", file=sys.stderr)
    return 2


def _settings_defaults() -> tuple[str | None, dict, Path | None]:
    """Default strategy, STRATEGY_PARAMS and candle file from config.settings when present.

    Raises ValueError (the settings' one-line message) when the settings are invalid.
    """
    if importlib.util.find_spec("config.settings") is None:
        return None, {}, None
    from config.settings import load_settings

    settings = load_settings()
    return settings.strategy, dict(settings.strategy_params), settings.candles_csv


def run(args: argparse.Namespace) -> int:
    """Compute the signals, write the CSV, print a one-line summary; 2 on any bad input."""
    from storage.candle_formats import read_any, stderr_note
    from storage.candles import CandleFileError
    from strategies.params import parse_param
    from strategies.registry import DEFAULT_STRATEGY, get_strategy

    try:
        name, base_params, candle_file = _settings_defaults()
        strategy = get_strategy(args.strategy or name or DEFAULT_STRATEGY)
        params = {k: v for k, v in base_params.items() if k in strategy.defaults}
        params.update(parse_param(item) for item in args.param)
        params = strategy.params(params)
    except ValueError as exc:  # SettingsError is a ValueError too
        return _fail(str(exc))
    data = args.data or candle_file
    if data is None:
        return _fail("no candle file given; use --data CANDLES.csv")
    try:
        candles = read_any(data, note=stderr_note("signals"))
    except CandleFileError as exc:
        return _fail(str(exc))
    result = strategy.compute(candles, params)
    result.insert(0, "timestamp", candles["timestamp"].to_numpy())
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(args.out, index=False, lineterminator="\n")
    except OSError as exc:
        return _fail(f"cannot write {args.out} ({exc.strerror})")
    signal = result["signal"]
    print(
        f"signals: {strategy.name} on {len(result)} bars (warm-up {strategy.warmup(params)}):"
        f" {int((signal == 1).sum())} BUY, {int((signal == -1).sum())} SELL -> {args.out}"
    )
    return 0
