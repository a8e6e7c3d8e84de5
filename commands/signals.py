"""``python main.py signals``: a strategy's indicators and signal for every candle of a CSV."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

FLOAT_FORMAT = "%.12g"
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
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV to write: timestamp, close, indicator columns, signal"
                             " (default: reports/signals.csv in the project folder)")
    from backtest.time_range import add_range_arguments

    add_range_arguments(parser)


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
    if args.out is None:
        from config.settings import PROJECT_DIR

        args.out = PROJECT_DIR / "reports" / "signals.csv"
    from backtest.time_range import TimeRange, TimeRangeError, with_warmup
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
        time_range = TimeRange.from_flags(args.start, args.end)
    except ValueError as exc:  # SettingsError and TimeRangeError are ValueErrors too
        return _fail(str(exc))
    data = args.data or candle_file
    if data is None:
        return _fail("no candle file given; use --data CANDLES.csv")
    try:
        window = with_warmup(read_any(data, note=stderr_note("signals")), time_range)
    except (CandleFileError, TimeRangeError) as exc:
        return _fail(str(exc))
    # Computed over every candle before the range's end, then cut: exact at any --from.
    result = window.cut(strategy.compute(window.candles, params))
    candles = window.in_range
    result.insert(0, "timestamp", candles["timestamp"].to_numpy())
    if "close" not in result.columns:
        result.insert(1, "close", candles["close"].to_numpy())
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # 12 significant digits: a sum's last-bit noise (105914.73720000001) is not shown.
        result.to_csv(args.out, index=False, lineterminator="\n", float_format=FLOAT_FORMAT)
    except OSError as exc:
        return _fail(f"cannot write {args.out} ({exc.strerror})")
    signal = result["signal"]
    stops = ""
    if "long_entry" in result.columns:
        armed = [int((result[f"{side}_entry"] & result[f"{side}_stop"].notna()).sum())
                 for side in ("long", "short")]
        stops = f", {armed[0]} buy stops, {armed[1]} sell stops armed"
    print(
        f"signals: {strategy.name} on {len(result)} bars (warm-up {strategy.warmup(params)}):"
        f" {int((signal == 1).sum())} BUY, {int((signal == -1).sum())} SELL{stops} -> {args.out}"
    )
    return 0
