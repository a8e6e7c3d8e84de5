"""``python main.py [options]``: run the paper-trading bot."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.clock import Clock
from core.lognames import EVENTS_LOGGER

if TYPE_CHECKING:  # the bot's modules load after the settings are checked
    from bot.wiring import LocalExchange
    from config.settings import Settings

HELP = "run the paper-trading bot (default command)"


def speed_value(text: str) -> float:
    """``--speed``: a positive number, or ``max`` for as fast as the machine allows."""
    if text.strip().lower() in ("max", "inf"):
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number or 'max'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (or 'max'), got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bot's flags; every one overrides the matching setting."""
    parser.add_argument("--exchange", choices=("local", "testnet"), default=None,
                        help="local = built-in emulator (default without keys);"
                             " testnet = Binance Spot Testnet (keys in .env)")
    parser.add_argument("--exchange-url", default=None, metavar="URL",
                        help="use a standalone emulator (python main.py emulator) at this"
                             " http://127.0.0.1:PORT instead of starting one")
    parser.add_argument("--speed", type=speed_value, default=None, metavar="X",
                        help="local only: run X times faster than real time, or 'max'")
    parser.add_argument("--max-candles", type=positive_int, default=None, metavar="N",
                        help="stop after N closed candles")
    parser.add_argument("--seed", type=int, default=1, help="local only: market seed")
    parser.add_argument("--replay", type=Path, default=None, metavar="CSV",
                        help="local only: replay this candle file (any layout 'main.py import'"
                             " reads) instead of a generated market")
    parser.add_argument("--continue-generated", action="store_true",
                        help="--replay only: after the file's last candle, go on with a generated"
                             " market from its last close (default: the bot stops, exit 0)")
    parser.add_argument("--strategy", default=None, help="strategy name (see README)")
    parser.add_argument("--symbol", default=None, help="spot symbol, e.g. ETH/USDT (SYMBOL)")
    parser.add_argument("--timeframe", default=None, help="candle length, e.g. 5m (TIMEFRAME)")
    parser.add_argument("--param", action="append", metavar="K=V",
                        help="strategy parameter, repeatable (e.g. --param RSI_PERIOD=21)")
    parser.add_argument("--sl", type=float, default=None,
                        help="stop-loss fraction (STOP_LOSS_PERCENT, 0.02 = 2 %%)")
    parser.add_argument("--tp", type=float, default=None,
                        help="take-profit fraction (TAKE_PROFIT_PERCENT, 0.04 = 4 %%)")
    parser.add_argument("--trade-size", type=float, default=None, metavar="QTY",
                        help="base-asset quantity per trade (TRADE_SIZE)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="P",
                        help="serve /metrics and /health on 127.0.0.1:P (METRICS_PORT;"
                             " 0 = a free port)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the CSVs go")
    parser.add_argument("--logs-dir", type=Path, default=None, help="where the logs go")
    parser.add_argument("--quiet", action="store_true", help="print nothing on the console")


def check_combinations(args: argparse.Namespace, exchange: str) -> str | None:
    """A one-line problem with the flags that argparse cannot see, or None."""
    if getattr(args, "continue_generated", False) and args.replay is None:
        return "--continue-generated goes with --replay FILE (what comes after the file's end)"
    if exchange == "testnet":
        for flag, value in (("--speed", args.speed), ("--exchange-url", args.exchange_url),
                            ("--replay", args.replay)):
            if value is not None:
                return f"{flag} works only with the local exchange (--exchange local)"
    if args.exchange_url and (args.speed is not None or args.replay is not None):
        return ("--speed and --replay belong to the standalone emulator when --exchange-url is"
                " given; pass them to 'python main.py emulator'")
    if args.exchange_url:
        from exchange.endpoints import endpoint_problem

        problem = endpoint_problem(args.exchange_url)
        if problem:
            return f"--exchange-url: {problem}"
    return None


@dataclass
class Connection:
    """Where the bot trades: the clock, the API root and keys, and an in-process emulator."""

    clock: Clock
    base_url: str | None
    description: str
    api_key: str
    api_secret: str
    local: LocalExchange | None = None


def connect(settings: Settings, args: argparse.Namespace) -> Connection:
    """Start the in-process emulator, or follow a standalone one, or aim at the testnet."""
    from bot.wiring import choose_clock, start_local_exchange
    from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

    if settings.exchange == "local" and not args.exchange_url:
        plan = getattr(args, "replay_plan", None)
        local = start_local_exchange(settings, speed=args.speed or 1.0, seed=args.seed,
                                     replay=args.replay,
                                     replay_frame=None if plan is None else plan.frame,
                                     continue_generated=getattr(args, "continue_generated", False))
        return Connection(local.clock, local.server.base_url, local.description,
                          DEFAULT_API_KEY, DEFAULT_API_SECRET, local)
    clock = choose_clock(settings.exchange, args.exchange_url)
    if settings.exchange == "local":
        return Connection(clock, args.exchange_url,
                          f"standalone emulator at {args.exchange_url}",
                          os.environ.get("EMULATOR_API_KEY", DEFAULT_API_KEY),
                          os.environ.get("EMULATOR_API_SECRET", DEFAULT_API_SECRET))
    return Connection(clock, None, "Binance Spot Testnet (testnet.binance.vision)",
                      settings.api_key, settings.api_secret)


def log_start(settings: Settings, where: str) -> None:
    """The first lines of trading.log: which exchange and market, and where the files go."""
    log = logging.getLogger(EVENTS_LOGGER)
    log.info("Starting paper-trading bot on %s: %s %s, strategy %s, trade size %s %s,"
             " stop-loss %.2f %%, take-profit %.2f %%", where, settings.symbol,
             settings.timeframe, settings.strategy, settings.trade_size, settings.base_asset,
             settings.stop_loss_percent * 100, settings.take_profit_percent * 100)
    log.info("Writing candles to %s, trades to %s, state to %s, logs to %s",
             settings.candles_csv, settings.trades_csv, settings.state_file, settings.logs_dir)


def run(args: argparse.Namespace) -> int:
    """Start the bot; exit 0 on a clean stop, 2 on bad settings/flags, 1 if it cannot start."""
    # Settings first: a bad value is reported before the heavy imports below.
    from commands.backtest import parse_params
    from config.settings import SettingsError, load_settings

    overrides = {"exchange": args.exchange, "strategy": args.strategy,
                 "data_dir": args.data_dir, "logs_dir": args.logs_dir,
                 "symbol": args.symbol, "timeframe": args.timeframe,
                 "stop_loss_percent": args.sl, "take_profit_percent": args.tp,
                 "trade_size": args.trade_size, "metrics_port": args.metrics_port}
    if args.exchange_url and args.exchange is None:
        overrides["exchange"] = "local"
    try:
        overrides["params"] = parse_params(args.param)
        settings = load_settings(**overrides)
    except (SettingsError, ValueError) as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    problem = check_combinations(args, settings.exchange)
    if problem:
        print(f"main.py: error: {problem}", file=sys.stderr)
        return 2
    args.replay_plan = None
    if args.replay is not None:
        from bot.replay import prepare_replay, timeframe_is_set
        from bot.wiring import StartupError as ReplayRefused
        from config.settings import merged_environment

        try:
            settings, args.replay_plan = prepare_replay(
                settings, args.replay, timeframe_set=timeframe_is_set(
                    merged_environment(), getattr(args, "timeframe", None)))
        except ReplayRefused as exc:
            print(f"main.py: error: {exc}", file=sys.stderr)
            return exc.status

    problem = logs_dir_problem(settings.logs_dir)
    if problem:
        print(f"main.py: error: {problem}", file=sys.stderr)
        return 2
    from storage.lock import DataDirLock, DataDirLocked, DataDirLockError

    # Held until the process ends: a second bot on this folder would double every order.
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except (DataDirLocked, DataDirLockError) as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run_locked(args, settings)
    finally:
        lock.release()


def logs_dir_problem(folder: Path) -> str | None:
    """Why the logs cannot go to ``folder`` (a file, /dev/null, not creatable), or None."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return (f"LOGS_DIR / --logs-dir {folder} is not a folder; point it to a folder (it is"
                " created if missing)")
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return (f"LOGS_DIR / --logs-dir {folder} cannot be created ({parent} is not a"
                    " writable folder); point it elsewhere")
    elif not os.access(folder, os.W_OK | os.X_OK):
        return f"LOGS_DIR / --logs-dir {folder} is not writable; fix its permission"
    return None


def _run_locked(args: argparse.Namespace, settings) -> int:
    """The bot's run once the data folder is ours."""
    from bot.events import ObservedJournal
    from bot.wiring import StartupError, build_bot, build_client, build_positions
    from exchange.client import ExchangeRefused
    from ops.assemble import ListenerError, build_events, console_mode
    from storage.logs import setup_logging, teardown_logging

    conn = None
    events = None
    trading = False
    try:
        conn = connect(settings, args)
        # Emulator keys are masked too: a habit that costs nothing and protects a reused key.
        setup_logging(settings.logs_dir, console=not args.quiet,
                      secrets=[*settings.secrets, conn.api_key, conn.api_secret],
                      clock=conn.clock, max_bytes=settings.log_max_bytes,
                      backups=settings.log_backups)
        log_start(settings, conn.description)
        for note in getattr(conn.local, "notes", None) or ():
            logging.getLogger("paperbot").warning("%s", note)
        client = build_client(settings, kind=settings.exchange, base_url=conn.base_url,
                              clock=conn.clock, api_key=conn.api_key, api_secret=conn.api_secret)
        positions = build_positions(settings, client=client, clock=conn.clock,
                                    exchange_name=settings.exchange)
        plan = args.replay_plan
        ends = plan is not None and not getattr(args, "continue_generated", False)
        bot = build_bot(settings, client=client, positions=positions, clock=conn.clock,
                        max_candles=args.max_candles,
                        end_of_data_ms=plan.end_ms if ends else None,
                        end_message=plan.end_message() if ends else "")
        mode = console_mode(args.quiet, getattr(conn.clock, "speed", 1.0), sys.stdout)
        if mode == "progress":
            quiet_console_logs()  # the progress line replaces the info lines on the terminal
        facts = run_facts(settings, conn)
        try:
            events = build_events(settings, positions=positions, clock=conn.clock,
                                  timeframe_ms=client.timeframe_ms, facts=facts, console=mode,
                                  max_candles=args.max_candles)
        except ListenerError as exc:
            raise StartupError(str(exc)) from None
        bot.events = events
        positions.journal = ObservedJournal(positions.journal, events.fill)
        events.started(facts)
        bot.install_signal_handlers()
        trading = True
        status = bot.run()
        if getattr(bot, "stop_reason", None):
            print(f"main.py: error: {bot.stop_reason}", file=sys.stderr)
        if mode == "progress" and bot.data_ended():
            print(bot.end_message)  # the log line is hidden behind the progress line
    except (StartupError, ExchangeRefused) as exc:
        # ExchangeRefused reaches here only from the start-up reconcile (e.g. wrong API keys);
        # every cycle catches its own. A configuration problem: one line, no traceback.
        log = logging.getLogger(EVENTS_LOGGER)
        if log.handlers:  # before set-up the console line below is the only report
            log.error("Cannot start: %s", exc)
        print(f"main.py: error: {exc}", file=sys.stderr)
        status = exc.status if isinstance(exc, StartupError) else 2
    finally:
        if events is not None:
            events.close()
        if conn is not None and conn.local is not None:
            conn.local.server.stop()
    if trading and not args.quiet:
        print(f"Candles: {settings.candles_csv}\nTrades:  {settings.trades_csv}\n"
              f"Logs:    {settings.logs_dir / 'trading.log'}, {settings.logs_dir / 'errors.log'}")
    teardown_logging()
    return status


def run_facts(settings, conn: Connection) -> dict:
    """What this run is, for the status file, alerts and the metrics' info."""
    return {"exchange": conn.description, "exchange_kind": settings.exchange,
            "api_root": conn.base_url or "https://testnet.binance.vision",
            "symbol": settings.symbol, "timeframe": settings.timeframe,
            "timeframe_seconds": settings.timeframe_seconds, "strategy": settings.strategy,
            "stop_loss_percent": settings.stop_loss_percent,
            "take_profit_percent": settings.take_profit_percent,
            "trade_size": settings.trade_size, "speed": getattr(conn.clock, "speed", 1.0),
            "data_dir": str(settings.data_dir), "logs_dir": str(settings.logs_dir)}


def quiet_console_logs() -> None:
    """Console log lines at WARNING and above only; the log files keep every line."""
    for handler in logging.getLogger(EVENTS_LOGGER).handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)
