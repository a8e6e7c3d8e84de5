"""``python main.py optimize``: sweep a strategy's parameters, walk forward, test for overfitting.

Every row of ``results.csv`` is the backtest of its parameters through the same code as
``python main.py backtest`` (docs/readme/optimize.md). Bad input is refused with one line
(exit 2) before anything in ``--out`` is touched.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import threading
import uuid
from pathlib import Path

from commands.backtest import (
    add_fill_arguments,
    add_rule_arguments,
    broker_settings,
    fail,
    fill_rules,
    parse_params,
    settings_or_none,
    strategy_params,
)

HELP = "optimise a strategy's parameters: grid/random sweep, walk-forward, PBO; local or Dask"
TOP = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the optimize command."""
    add_fill_arguments(parser)
    parser.add_argument("--grid", action="append", metavar="KEY=SPEC",
                        help="parameter values: KEY=start:stop:step (inclusive) or KEY=a,b,c;"
                             " keys are the strategy's parameters plus sl and tp (repeatable)")
    parser.add_argument("--objective", default="Net Profit",
                        help="Performance Summary metric to optimise, by its report name"
                             " (default 'Net Profit'; drawdowns and losses are minimised)")
    parser.add_argument("--method", choices=("grid", "random"), default="grid",
                        help="every combination (default) or --trials random ones")
    parser.add_argument("--trials", type=int, default=None, help="combinations for random")
    parser.add_argument("--seed", type=int, default=0, help="seed of --method random")
    parser.add_argument("--min-trades", type=int, default=0,
                        help="combinations with fewer closed trades rank last (default 0)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default: this machine's cores)")
    where.add_argument("--cluster", default=None, metavar="tcp://HOST:PORT",
                       help="run on an existing Dask scheduler instead")
    parser.add_argument("--walk-forward", action="store_true",
                        help="also run a walk-forward analysis (needs --train and --test)")
    parser.add_argument("--train", default=None, help="train part of a window, e.g. 30d")
    parser.add_argument("--test", default=None, help="test part of a window, e.g. 7d")
    parser.add_argument("--anchored", action="store_true",
                        help="walk-forward train parts all start at the first candle")
    parser.add_argument("--pbo", action="store_true",
                        help="also estimate the Probability of Backtest Overfitting (CSCV)")
    parser.add_argument("--partitions", type=int, default=16,
                        help="CSCV time blocks for --pbo (even, default 16)")
    add_rule_arguments(parser)
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for results.csv, best.json and the charts")


class Refused(Exception):
    """Bad input found before any work: the one line to print."""


def _setup(args: argparse.Namespace):
    """Everything checked before the candles are read: settings, grid, objective, engine."""
    from backtest.engine import BacktestError
    from backtest.time_range import TimeRange, TimeRangeError
    from research.grid import FILL_KEYS, GridError, parse_grid
    from research.objective import Objective, ObjectiveError
    from research.walkforward import WalkForwardError, parse_duration
    from strategies.registry import STRATEGIES, get_strategy

    settings, problem = settings_or_none()
    if settings is None:
        raise Refused(problem)
    name = (args.strategy or settings.strategy).strip().lower()
    if name not in STRATEGIES:
        raise Refused(f"strategy {name!r} is unknown; choose one of {', '.join(STRATEGIES)}")
    strategy = get_strategy(name)
    try:
        overrides = parse_params(args.param)
        unknown = sorted(set(overrides) - set(strategy.defaults))
        if unknown:
            raise Refused(f"strategy {name!r} has no parameter {', '.join(unknown)};"
                          f" its parameters are {', '.join(strategy.defaults)}")
        grid = parse_grid(args.grid or [], [*strategy.defaults, *FILL_KEYS])
        objective = Objective.named(args.objective, args.min_trades)
        rules = fill_rules(args, settings)
        broker = broker_settings(args)
    except (GridError, ObjectiveError, BacktestError, ValueError) as exc:
        raise Refused(str(exc)) from None
    if args.no_sl_tp and set(grid) & set(FILL_KEYS):
        raise Refused("--no-sl-tp turns SL/TP off, so --grid sl/tp cannot vary them; drop one")
    if not args.capital > 0:
        raise Refused(f"--capital {args.capital!r} must be a positive amount (e.g. 10000)")
    if args.workers is not None and args.workers < 1:
        raise Refused(f"--workers {args.workers} must be 1 or more")
    train_ms = test_ms = None
    if args.walk_forward:
        if args.train is None or args.test is None:
            raise Refused("--walk-forward needs --train and --test (e.g. --train 30d --test 7d)")
        try:
            train_ms = parse_duration(args.train, "--train")
            test_ms = parse_duration(args.test, "--test")
        except WalkForwardError as exc:
            raise Refused(str(exc)) from None
    elif args.train or args.test or args.anchored:
        raise Refused("--train, --test and --anchored belong to --walk-forward; add it")
    if args.pbo and (args.partitions < 2 or args.partitions % 2):
        raise Refused(f"--partitions {args.partitions} must be an even number of at least 2")
    try:
        time_range = TimeRange.from_flags(args.start, args.end)
    except TimeRangeError as exc:
        raise Refused(str(exc)) from None
    base = strategy.params(strategy_params(settings, name, overrides))
    return (settings, name, strategy, grid, objective, rules, base, train_ms, test_ms,
            time_range, broker)


def run(args: argparse.Namespace) -> int:
    """Plan, check, sweep (resuming), then write and print the results."""
    from core.memory import reuse_freed_memory

    reuse_freed_memory()
    from dataclasses import replace

    from backtest.data import load_candles
    from backtest.engine import BacktestError
    from backtest.run import resolve_mintick
    from backtest.time_range import TimeRangeError, with_warmup
    from core.candles import CandleFileError
    from research.engines import ClusterError, connect
    from research.grid import GridError, plan
    from research.objective import metric_names
    from research.pbo import PBOError, period_marks
    from research.results import ResultsError, ResultsFile, columns_for, data_fingerprint
    from research.sweep import SweepSpec, accepts
    from research.walkforward import WalkForwardError, make_windows, window_ranges
    from storage.candle_formats import stderr_note

    try:
        (settings, name, strategy, grid, objective, rules, base, train_ms, test_ms,
         time_range, broker) = _setup(args)
    except Refused as exc:
        return fail("optimize", str(exc))
    data = args.data or settings.candles_csv
    first = 0
    try:
        candles = load_candles(data, note=stderr_note("optimize"))
        # As run_backtest does: the price step of the whole file, before any --from/--to cut.
        broker = replace(broker, mintick=resolve_mintick(candles, broker.mintick))
        if not time_range.is_whole:
            window = with_warmup(candles, time_range)
            candles, first = window.candles, window.first
    except (CandleFileError, TimeRangeError, BacktestError) as exc:
        return fail("optimize", str(exc))
    if len(candles) - first < 2:
        return fail("optimize", f"{data}: {len(candles) - first} candle(s) in range are too few;"
                                " need at least 2")
    spec = SweepSpec(name, base, rules, float(args.capital), first=first, broker=broker)
    try:
        combos = plan(grid, accepts(spec), args.method, args.trials, args.seed)
    except GridError as exc:
        return fail("optimize", str(exc))
    if not combos.combos:
        return fail("optimize", f"the strategy rejects all {combos.rejected:,} combinations"
                                f" of the grid (e.g. a short length not below the long one);"
                                " widen the grid")
    windows = None
    try:
        if args.walk_forward:
            from research.sweep import combo_setup

            warmup = max(strategy.warmup(combo_setup(spec, c)[0]) for c in combos.combos)
            windows = make_windows(candles["timestamp"].to_numpy(), train_ms, test_ms,
                                   args.anchored, max(warmup, first))
        marks = period_marks(len(candles) - first, args.partitions)[0] if args.pbo else ()
    except (WalkForwardError, PBOError) as exc:
        return fail("optimize", str(exc))
    if args.pbo and len(combos.combos) < 2:
        return fail("optimize", "--pbo needs at least 2 combinations; widen the grid")
    param_names = list(strategy.defaults)
    header = columns_for(param_names, metric_names())
    fingerprint = {
        "data": data_fingerprint(candles), "strategy": name,
        "params": {k: v for k, v in base.items() if k not in grid},
        "rules": {"mode": rules.mode, "qty": rules.qty, "commission": rules.commission,
                  "slippage": rules.slippage,
                  "stop_loss": None if "sl" in grid else rules.stop_loss,
                  "take_profit": None if "tp" in grid else rules.take_profit},
        "capital": float(args.capital), "first": first,
        "broker": {"mintick": broker.mintick, "lot": broker.lot,
                   "qty_percent": broker.qty_percent, "day_start": broker.day_start},
    }
    results = ResultsFile(args.out, fingerprint, header, param_names)
    try:
        earlier = results.load()
    except ResultsError as exc:
        return fail("optimize", str(exc))
    client = None
    if args.cluster:
        try:
            client = connect(args.cluster)
        except ClusterError as exc:
            return fail("optimize", str(exc))
    try:
        return _sweep(args, settings, name, grid, objective, spec, combos, results, earlier,
                      marks, windows, client, candles, param_names, window_ranges)
    except KeyboardInterrupt:  # after the sweep (report, charts): results.csv is complete
        print("optimize: interrupted; results.csv is complete, the rest was not written",
              file=sys.stderr)
        return 130
    except ClusterError as exc:
        return fail("optimize", str(exc))
    except OSError as exc:
        return fail("optimize", f"cannot write to {args.out} ({exc.strerror}: {exc.filename})")
    finally:
        if client is not None:
            client.close()


def _engine(args, client, candles, spec, work):
    from research.engines import default_workers, run_dask, run_pool

    if client is not None:
        return run_dask(client, candles, spec, work, uuid.uuid4().hex)
    workers = args.workers or default_workers()
    return run_pool(candles, spec, work, workers)


def _workers(args, client) -> int:
    from research.engines import default_workers

    if client is not None:
        return max(1, len(client.scheduler_info().get("workers", {})))
    return args.workers or default_workers()


def _sweep(args, settings, name, grid, objective, spec, combos, results, earlier, marks,
           windows, client, candles, param_names, window_ranges) -> int:
    from dataclasses import replace

    from research.engines import batches
    from research.progress import SweepProgress
    from research.results import row_of
    from research.sweep import combo_setup

    def row_for(combo):
        params, rules = combo_setup(spec, combo)
        return {**{n: params[n] for n in param_names}, "sl": rules.stop_loss,
                "tp": rules.take_profit}

    todo = [c for c in combos.combos if args.pbo or not results.done(row_for(c))]
    results.start()
    print(f"optimize {name}: {combos.total:,} combinations, {len(todo):,} to run"
          f" ({combos.rejected:,} rejected by the strategy"
          + (f", {len(combos.combos) - len(todo):,} done before" if earlier else "") + ")",
          flush=True)
    periods = {}
    interrupted = False
    run_spec = replace(spec, marks=marks)
    progress = SweepProgress(len(todo))
    workers = _workers(args, client)
    warming = None
    # The two-key heat map is drawn with Pillow; scatters, walk-forward and PBO need pyplot.
    needs_pyplot = (sum(1 for v in grid.values() if len(v) > 1) != 2 or args.walk_forward
                    or args.pbo)
    try:
        for _batch, outcomes in _engine(args, client, candles, run_spec,
                                        batches(todo, workers)):
            if warming is None and needs_pyplot and (client is not None or workers > 1):
                # This process only waits for results now (the pool exists already):
                # matplotlib's import (about half a second) overlaps the sweep.
                warming = threading.Thread(target=_warm_charts, daemon=True)
                warming.start()
            for outcome in outcomes:
                row = row_of(outcome, param_names)
                results.add(row)
                if outcome.period_pnl is not None:
                    periods[tuple(sorted(outcome.combo.items()))] = outcome.period_pnl
            progress.advance(len(outcomes))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
        ranked = results.finish(objective, [row_for(c) for c in combos.combos])
    if interrupted:
        print(f"optimize: interrupted; {len(ranked):,} finished rows kept in"
              f" {results.path}; run the same command again to resume", file=sys.stderr)
        return 130
    _report(args, settings, name, grid, objective, ranked, combos, param_names)
    if args.pbo:
        status = _pbo(args, combos, periods)
        if status:
            return status
    if windows:
        return _walk_forward(args, settings, grid, objective, spec, combos, windows,
                             window_ranges, client, candles)
    return 0


def _warm_charts() -> None:
    """Import the chart module and pyplot ahead of use (run in a background thread)."""
    from research.charts import _pyplot

    _pyplot()


def _env_lines(name: str, best, param_names) -> list[str]:
    lines = [f"STRATEGY={name}"] + [f"{k}={best[k]}" for k in param_names]
    if best["sl"] is not None:
        lines.append(f"STOP_LOSS_PERCENT={best['sl']}")
    if best["tp"] is not None:
        lines.append(f"TAKE_PROFIT_PERCENT={best['tp']}")
    return lines


def _report(args, settings, name, grid, objective, ranked, combos, param_names) -> None:
    from backtest.report import format_value
    from research.charts import plot_sweep
    from research.results import write_best

    best = ranked[0]
    env = _env_lines(name, best, param_names)
    write_best(args.out, best, name, param_names, objective, env)
    chart_keys = [k for k, v in grid.items() if len(v) > 1]
    chart = args.out / ("heatmap.png" if len(chart_keys) == 2 else "params.png")
    plot_sweep(ranked, grid, objective.name, chart, maximise=objective.direction == "max")
    keys = list(grid)
    shown = [objective.name] + [m for m in ("Net Profit", "Total Closed Trades",
                                            "Profit Factor", "Max Drawdown")
                                if m != objective.name]
    print(f"\nTop {min(TOP, len(ranked))} by {objective.name} ({objective.direction}imised"
          + (f", at least {objective.min_trades} closed trades" if objective.min_trades else "")
          + ")")
    widths = [max(len(k), 8) for k in keys]
    print("  #  " + "  ".join(f"{k:>{w}}" for k, w in zip(keys, widths, strict=True))
          + "".join(f"{m:>22}" for m in shown))
    for rank, row in enumerate(ranked[:TOP], 1):
        cells = "  ".join(f"{row[k] if k in row else '':>{w}}"
                          for k, w in zip(keys, widths, strict=True))
        print(f"{rank:>3}  {cells}" + "".join(f"{format_value(m, row.get(m)):>22}"
                                            for m in shown))
    print("\nSet the winner in .env:")
    for line in env:
        print(f"  {line}")
    print(f"\nresults: {args.out / 'results.csv'} ({len(ranked):,} rows)\nbest: "
          f"{args.out / 'best.json'}\nchart: {chart}")


def _pbo(args, combos, periods) -> int:
    import numpy as np

    from research.charts import plot_logits
    from research.pbo import PBOError, cscv, text_histogram

    keys = [tuple(sorted(c.items())) for c in combos.combos]
    try:
        matrix = np.column_stack([periods[k] for k in keys])
        result = cscv(matrix, args.partitions)
    except PBOError as exc:
        return fail("optimize", str(exc))
    document = {
        "pbo": result.pbo, "splits": result.splits, "partitions": result.partitions,
        "combinations": result.combos, "periods": int(matrix.shape[0]),
        "degradation_slope": result.degradation_slope,
        "probability_of_loss": result.probability_of_loss,
        "logits": [float(x) for x in result.logits],
    }
    (args.out / "pbo.json").write_text(json.dumps(document) + "\n", encoding="utf-8")
    plot_logits(result.logits, result.pbo, args.out / "pbo.png")
    print(f"\nProbability of Backtest Overfitting (CSCV, {result.partitions} blocks,"
          f" {result.splits:,} splits, {result.combos:,} combinations): PBO = {result.pbo:.3f}")
    print("  logit of the in-sample winner's out-of-sample rank (<= 0: overfit):")
    for line in text_histogram(result.logits):
        print(line)
    slope = ("n/a" if result.degradation_slope is None
             else f"{result.degradation_slope:.3f}")
    print(f"  degradation slope (OOS on IS Sharpe) {slope}, probability of OOS loss"
          f" {result.probability_of_loss:.3f}\npbo: {args.out / 'pbo.json'}, chart"
          f" {args.out / 'pbo.png'}")
    return 0


def _walk_forward(args, settings, grid, objective, spec, combos, windows, window_ranges,
                  client, candles) -> int:
    from dataclasses import replace

    from backtest.report import format_value
    from research.charts import plot_walk_forward
    from research.engines import batches
    from research.progress import SweepProgress
    from research.walkforward import choose, stitch, summary_of, window_rows

    ranges = window_ranges(windows)
    wf_spec = replace(spec, windows=ranges)
    print(f"\nWalk-forward: {len(windows)} {'anchored' if args.anchored else 'rolling'}"
          f" windows, train {args.train}, test {args.test}", flush=True)
    by_index = {}
    progress = SweepProgress(len(combos.combos), label="combos x windows")
    order = {tuple(sorted(c.items())): i for i, c in enumerate(combos.combos)}
    try:
        for _batch, outcomes in _engine(args, client, candles, wf_spec,
                                        batches(combos.combos, _workers(args, client))):
            for outcome in outcomes:
                by_index[order[tuple(sorted(outcome.combo.items()))]] = outcome
            progress.advance(len(outcomes))
    except KeyboardInterrupt:
        progress.close()
        print("optimize: walk-forward interrupted; results.csv is complete, walk_forward.csv"
              " not written", file=sys.stderr)
        return 130
    progress.close()
    outcomes = [by_index[i] for i in range(len(combos.combos))]
    picks = choose(windows, ranges, outcomes, objective)
    stamps = candles["timestamp"].to_numpy()
    rows = window_rows(picks, list(grid), objective, stamps)
    stitched = stitch(candles, spec, picks)
    path = args.out / "walk_forward.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    report = {"windows": len(rows), "anchored": args.anchored, "train": args.train,
              "test": args.test, "walk_forward_efficiency": stitched.wfe,
              "in_sample_annual_net_profit": stitched.is_annual,
              "out_of_sample_annual_net_profit": stitched.oos_annual,
              "out_of_sample_performance": stitched.summary}
    (args.out / "walk_forward.json").write_text(json.dumps(report, indent=2) + "\n",
                                               encoding="utf-8")
    start, end = stitched.span
    plot_walk_forward(stamps[start:end], stitched.equity, stitched.is_line,
                      [stamps[p.window.test[0]] for p in picks], args.out / "walk_forward.png",
                      settings.quote_asset)
    keys = list(grid)
    print(f"  {'#':>3}  {'test part':<22}" + "".join(f"{k:>12}" for k in keys)
          + f"{'IS ' + objective.name:>24}{'OOS ' + objective.name:>24}{'OOS trades':>12}")
    for r in rows:
        print(f"  {r['window']:>3}  {r['test_start'][:10]}..{r['test_end'][:10]}"
              + "".join(f"{r[k]:>12}" for k in keys)
              + f"{format_value(objective.name, r['is_objective']):>24}"
              + f"{format_value(objective.name, r['oos_objective']):>24}{r['oos_trades']:>12}")
    s = stitched.summary
    wfe = "n/a" if stitched.wfe is None else f"{stitched.wfe:.2f}"
    print(f"  stitched out-of-sample: Net Profit {format_value('Net Profit', s['Net Profit'])},"
          f" {s['Total Closed Trades']} closed trades, Profit Factor"
          f" {format_value('Profit Factor', s['Profit Factor'])}, Max Drawdown"
          f" {format_value('Max Drawdown', s['Max Drawdown'])}; {summary_of(rows)}")
    print(f"  walk-forward efficiency {wfe} (annualised OOS / IS net profit; > 0.5 reads as"
          f" robust)\nwalk-forward: {path}, {args.out / 'walk_forward.json'},"
          f" {args.out / 'walk_forward.png'}")
    return 0
