"""``python main.py backtest``: replay a strategy over a candle file with simulated fills."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LONG_RUN_BYTES = 5_000_000  # about 80k candles: worth a progress bar
HELP = "backtest a strategy on a candle CSV: TradingView-style fills, metrics, trade list, chart"


def parse_params(items: list[str] | None) -> dict[str, int | float]:
    """``["K=V", ...]`` as a dict of numbers; ValueError (one line) on a malformed item."""
    params: dict[str, int | float] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r} is not KEY=VALUE (e.g. --param RSI_PERIOD=14)")
        text = raw.strip()
        try:
            params[key.strip()] = int(text)
        except ValueError:
            try:
                params[key.strip()] = float(text)
            except ValueError:
                raise ValueError(f"--param {item!r}: {text!r} is not a number") from None
    return params


def add_fill_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``compare``: strategy, parameters, mode and costs."""
    parser.add_argument("--data", type=Path, default=None,
                        help="candle file: the project's CSV, a TradingView chart export, freqtrade"
                             " .feather/.json, a Binance kline CSV, Date,Open,High,Low,Close,"
                             "Volume (default: data/historical_data.csv)")
    parser.add_argument("--strategy", default=None,
                        help="sma_rsi, ma2line, rsi, macd, supertrend, bollinger, keltner,"
                             " channel_breakout or barupdn (default: STRATEGY setting)")
    parser.add_argument("--param", action="append", metavar="K=V",
                        help="strategy parameter, repeatable (e.g. --param RSI_PERIOD=21)")
    parser.add_argument("--slippage", type=float, default=0.0,
                        help="fraction of the price lost on market and stop fills (default 0)")
    parser.add_argument("--qty-percent", type=float, default=None, metavar="P",
                        help="size every order as P %% of equity (TradingView's"
                             " percent_of_equity) instead of a fixed --qty")
    parser.add_argument("--lot", type=float, default=None,
                        help="quantity step percent sizes are floored to (default 0.00001,"
                             " Binance's BTC/USDT step)")
    parser.add_argument("--mintick", type=float, default=None,
                        help="price step of stop levels (default: from the candles' decimals)")
    parser.add_argument("--day-start", default=None, metavar="'HH:MM ZONE'",
                        help="start of the trading day for max intraday loss (default"
                             " '00:00 UTC'; FX: '17:00 America/New_York')")
    from backtest.time_range import add_range_arguments

    add_range_arguments(parser)


def broker_settings(args: argparse.Namespace, lot: float | None = None,
                    qty_percent: float | None = None):
    """``BrokerSettings`` from the shared options (``lot``/``qty_percent``: defaults to use)."""
    from backtest.run import DEFAULT_LOT, BrokerSettings
    from backtest.trading_day import DEFAULT_DAY_START, parse_day_start

    day_start = args.day_start or DEFAULT_DAY_START
    parse_day_start(day_start)
    chosen_lot = args.lot if args.lot is not None else (lot or DEFAULT_LOT)
    return BrokerSettings(mintick=args.mintick, lot=chosen_lot,
                          qty_percent=args.qty_percent if args.qty_percent is not None
                          else qty_percent, day_start=day_start)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the backtest command."""
    add_fill_arguments(parser)
    add_rule_arguments(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for report.json and trades.csv (default: reports/backtest in"
                             " the project folder, like the bot's data/ and logs/; a path given"
                             " here is relative to the current folder)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="also draw price, trades, equity and drawdown to this PNG")
    parser.add_argument("--html", type=Path, default=None, metavar="FILE",
                        help="also write an interactive chart (one self-contained HTML file that"
                             " opens offline): candles, indicators, trades, equity, drawdown")


def fail(command: str, message: str) -> int:
    """Print one error line and return the bad-usage exit status."""
    print(f"{command}: {message}", file=sys.stderr)
    return 2


def settings_or_none():
    """The bot's settings, or None when they cannot be loaded (the message is returned)."""
    from config.settings import SettingsError, load_settings

    try:
        return load_settings(), None
    except SettingsError as exc:
        return None, str(exc)


def strategy_params(settings, strategy: str, overrides: dict) -> dict:
    """The settings' parameters the strategy knows, overlaid by --param values."""
    from strategies.registry import STRATEGIES, get_strategy

    params = {}
    if settings is not None and strategy in STRATEGIES:
        known = get_strategy(strategy).defaults
        params = {k: v for k, v in settings.strategy_params.items() if k in known}
    return {**params, **overrides}


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill-rule options shared with ``optimize``: mode, size, costs, SL/TP, capital."""
    parser.add_argument("--mode", choices=("long-only", "long-short"), default="long-only",
                        help="long-only like the bot (default), or long-short reversals as"
                             " TradingView's strategy.entry (simulation only)")
    parser.add_argument("--qty", type=float, default=None,
                        help="trade size in base asset (default: TRADE_SIZE, 0.001)")
    parser.add_argument("--commission", type=float, default=None,
                        help="fee per side as a fraction (default: FEE_RATE, 0.001 = 0.1 %%)")
    parser.add_argument("--sl", type=float, default=None,
                        help="stop-loss fraction (default: STOP_LOSS_PERCENT, 0.02)")
    parser.add_argument("--tp", type=float, default=None,
                        help="take-profit fraction (default: TAKE_PROFIT_PERCENT, 0.04)")
    parser.add_argument("--no-sl-tp", action="store_true",
                        help="no stop-loss or take-profit exits")
    parser.add_argument("--capital", type=float, default=10_000.0,
                        help="initial capital for %% figures and equity (default 10000)")


def fill_rules(args: argparse.Namespace, settings):
    """The FillRules of the parsed options over the settings' defaults (BacktestError)."""
    from backtest.engine import FillRules

    sl = None if args.no_sl_tp else (settings.stop_loss_percent if args.sl is None else args.sl)
    tp = None if args.no_sl_tp else (settings.take_profit_percent if args.tp is None
                                     else args.tp)
    return FillRules(
        mode=args.mode,
        qty=settings.trade_size if args.qty is None else args.qty,
        commission=settings.fee_rate if args.commission is None else args.commission,
        slippage=args.slippage, stop_loss=sl, take_profit=tp,
    )


def run(args: argparse.Namespace) -> int:
    """Run the backtest, print the report, write report.json / trades.csv (and the chart)."""
    from core.memory import reuse_freed_memory

    reuse_freed_memory()
    if args.out is None:
        from config.settings import PROJECT_DIR

        args.out = PROJECT_DIR / "reports" / "backtest"
    from backtest.data import load_candles
    from backtest.engine import BacktestError
    from backtest.progress import ProgressBar
    from backtest.report import build_report, format_console, write_json
    from backtest.run import run_backtest
    from backtest.time_range import TimeRange, TimeRangeError
    from backtest.tradelist import write_trade_list
    from storage.candle_formats import stderr_note
    from storage.candles import CandleFileError

    settings, problem = settings_or_none()
    if settings is None:
        return fail("backtest", problem)
    try:
        overrides = parse_params(args.param)
        rules = fill_rules(args, settings)
        time_range = TimeRange.from_flags(args.start, args.end)
        broker = broker_settings(args)
    except (ValueError, BacktestError) as exc:
        return fail("backtest", str(exc))
    strategy = args.strategy or settings.strategy
    data = args.data or settings.candles_csv
    progress = ProgressBar()
    # Only long runs get a bar: a short one finishes before a bar could be read.
    progress.enabled = progress.enabled and data.is_file() and (
        data.stat().st_size >= LONG_RUN_BYTES)
    try:
        progress.phase("candles", 0.0, 0.5)
        candles = load_candles(data, note=stderr_note("backtest"))
        progress.phase("signals", 0.5, 0.65)
        params = strategy_params(settings, strategy, overrides)
        progress.phase("fills", 0.5, 0.9)
        result = run_backtest(candles, strategy, params, rules, args.capital, progress,
                              time_range, broker)
        progress.phase("report", 0.9, 1.0)
        report = build_report(result, str(data),
                              sized_by_percent=getattr(args, "qty_percent", None) is not None)
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(report, args.out / "report.json")
        write_trade_list(args.out / "trades.csv", result.trades, result.ledger,
                         result.timestamps, strategy, rules.qty, args.capital,
                         settings.quote_asset)
        if args.plot is not None:
            progress.phase("chart", 0.95, 1.0)
            from backtest.plot import plot_backtest

            args.plot.parent.mkdir(parents=True, exist_ok=True)
            plot_backtest(result, args.plot, currency=settings.quote_asset)
        if args.html is not None:
            from backtest.html_report import write_html_report

            args.html.parent.mkdir(parents=True, exist_ok=True)
            write_html_report(result, args.html, report, currency=settings.quote_asset,
                              volume=candles["volume"].to_numpy())
    except (CandleFileError, BacktestError, TimeRangeError) as exc:
        progress.close()
        return fail("backtest", str(exc))
    except OSError as exc:
        progress.close()
        return fail("backtest", f"cannot write the report ({exc.strerror}: {exc.filename})")
    progress(1.0)
    progress.close()
    print(format_console(report))
    print(f"\nreport: {args.out / 'report.json'}\ntrades: {args.out / 'trades.csv'}")
    if args.plot is not None:
        print(f"chart: {args.plot}")
    if args.html is not None:
        print(f"interactive chart: {args.html}")
    return 0
