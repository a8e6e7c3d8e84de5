"""``python main.py compare``: a backtest checked trade by trade against a TradingView export."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "compare a backtest trade by trade with a TradingView 'List of trades' export"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the export, the candles, the strategy and TradingView's strategy properties."""
    from commands.backtest import add_fill_arguments

    parser.add_argument("--tv-trades", type=Path, required=True, metavar="EXPORT.csv",
                        help="TradingView Strategy Tester 'List of trades' CSV (either layout)")
    add_fill_arguments(parser)  # --from/--to too: only trades entered in range are compared
    parser.add_argument("--mode", choices=("auto", "long-only", "long-short"), default="auto",
                        help="auto (default): long-short when the export holds short trades")
    parser.add_argument("--qty", type=float, default=None,
                        help="contracts per trade (default: the export's first trade size)")
    parser.add_argument("--commission", type=float, default=0.0,
                        help="fee per side as a fraction (default 0, TradingView's default)")
    parser.add_argument("--sl", type=float, default=None,
                        help="stop-loss fraction (default: none, as TradingView's built-ins)")
    parser.add_argument("--tp", type=float, default=None,
                        help="take-profit fraction (default: none)")
    parser.add_argument("--tz", default=None,
                        help="timezone of the export's dates when they carry no offset (e.g."
                             " UTC, America/New_York, +02:00); default: detected from the data")
    parser.add_argument("--show", type=int, default=10,
                        help="mismatched trades to list (default 10)")


def export_lot(theirs) -> float:
    """The quantity step the export's sizes show: 10 ** -(most decimals of any size)."""
    decimals = 0
    for trade in theirs:
        text = repr(float(trade.qty))
        if "e" not in text and "." in text:
            decimals = max(decimals, len(text.split(".")[1].rstrip("0")))
    return 10.0 ** -decimals


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every trade matches, 1 when one differs, 2 on bad input."""
    import numpy as np

    from backtest.compare import (
        CompareError,
        OurTrade,
        compare_trades,
        describe_tz,
        detect_tz,
        parse_times,
        resolve_tz,
        restrict,
    )
    from backtest.data import load_candles
    from backtest.engine import BacktestError, FillRules
    from backtest.run import run_backtest
    from backtest.time_range import TimeRange, TimeRangeError, in_range, with_warmup
    from backtest.tvexport import TvExportError, read_tv_trades
    from commands.backtest import (
        broker_settings,
        fail,
        parse_params,
        settings_or_none,
        strategy_params,
    )
    from storage.candle_formats import stderr_note
    from storage.candles import CandleFileError
    from strategies.registry import STRATEGIES

    settings, problem = settings_or_none()
    if settings is None:
        return fail("compare", problem)
    try:
        theirs = read_tv_trades(args.tv_trades)
        if not theirs:
            return fail("compare", f"{args.tv_trades}: the export holds no trade")
        overrides = parse_params(args.param)
        mode = args.mode
        if mode == "auto":
            mode = "long-short" if any(t.direction < 0 for t in theirs) else "long-only"
        rules = FillRules(mode=mode, qty=theirs[0].qty if args.qty is None else args.qty,
                          commission=args.commission, slippage=args.slippage,
                          stop_loss=args.sl, take_profit=args.tp)
        strategy = args.strategy or settings.strategy
        record = STRATEGIES.get(str(strategy).strip().lower())
        sizes = {t.qty for t in theirs}
        # An export whose sizes vary was sized from equity: the strategy's default percent.
        percent = record.qty_percent if record and len(sizes) > 1 else None
        if args.qty_percent is None and percent is None and len(sizes) > 1:
            raise CompareError("the export's position sizes vary (percent of equity?); pass"
                               " --qty-percent P")
        broker = broker_settings(args, lot=export_lot(theirs), qty_percent=percent)
        time_range = TimeRange.from_flags(args.start, args.end)
        candles = load_candles(args.data or settings.candles_csv, note=stderr_note("compare"))
        # TradingView ran over the whole chart: so does the backtest (up to --to); the range
        # picks which trades are compared, so a trade open across --from is not cut short.
        candles = with_warmup(candles, time_range).candles
        result = run_backtest(candles, strategy, strategy_params(settings, strategy, overrides),
                              rules, 1_000_000.0, broker=broker)
        stamps, opens = result.timestamps, result.open
        tz = resolve_tz(args.tz)
        if tz is None:
            tz, _ = detect_tz(theirs, stamps, opens)
        entry_ms = parse_times([t.entry_time for t in theirs], tz)
        exit_ms = parse_times([t.exit_time for t in theirs], tz)
    except (TvExportError, CandleFileError, BacktestError, CompareError, TimeRangeError,
            ValueError) as exc:
        return fail("compare", str(exc))
    t, led = result.trades, result.ledger
    ours = [
        OurTrade(int(t.direction[k]), int(stamps[t.entry_bar[k]]), int(stamps[t.exit_bar[k]]),
                 float(t.entry_price[k]), float(t.exit_price[k]), float(led.net_pnl[k]),
                 bool(t.is_open[k]), None if t.qty is None else float(t.qty[k]))
        for k in range(len(t))
    ]
    outcome = compare_trades(ours, theirs, np.asarray(entry_ms), np.asarray(exit_ms))
    if not time_range.is_whole:
        # Trade numbers stay the whole chart's; only those entered in range are reported.
        wanted = {tv.number for tv, k in zip(theirs, in_range(np.asarray(entry_ms), time_range),
                                             strict=True) if k}
        wanted |= {k + 1 for k, trade in enumerate(ours)
                   if in_range(np.array([trade.entry_ms]), time_range)[0]}
        outcome = restrict(outcome, wanted)
        theirs = [tv for tv in theirs if tv.number in wanted]
        ours = [trade for k, trade in enumerate(ours) if k + 1 in wanted]
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    size = (f"qty {rules.qty:g}" if broker.qty_percent is None
            else f"{broker.qty_percent:g} % of equity in lots of {broker.lot:g}")
    print(f"compare: {strategy} ({params}), {rules.mode}, {size}, commission"
          f" {rules.commission * 100:g} %, {len(candles):,} candles")
    print(f"export: {len(theirs)} trades in {args.tv_trades}; dates: {describe_tz(tz)}")
    print(f"backtest: {len(ours)} trades")
    total = len(outcome.matched) + len(outcome.differences)
    print(f"matched {len(outcome.matched)} of {total} trades,"
          f" mismatched {len(outcome.differences)}")
    if outcome.differences:
        numbers = sorted(outcome.differences)
        print("differences (backtest vs export):")
        for number in numbers[: max(args.show, 1)]:
            print(f"  trade #{number}: " + "; ".join(outcome.differences[number]))
        if len(numbers) > args.show:
            print(f"  ... and {len(numbers) - args.show} more")
        first = numbers[0]
        print(f"first difference: trade #{first}: {outcome.differences[first][0]}")
    return 0 if outcome.all_match else 1
