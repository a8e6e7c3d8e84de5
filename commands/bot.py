"""``python main.py [options]``: run the paper-trading bot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
                        help="local only: replay this candle CSV instead of a generated market")
    parser.add_argument("--strategy", default=None, help="strategy name (see README)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the CSVs go")
    parser.add_argument("--logs-dir", type=Path, default=None, help="where the logs go")
    parser.add_argument("--quiet", action="store_true", help="no console log output")


def check_combinations(args: argparse.Namespace, exchange: str) -> str | None:
    """A one-line problem with the flags that argparse cannot see, or None."""
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


def run(args: argparse.Namespace) -> int:
    """Start the bot; exit 0 on a clean stop, 2 on bad settings/flags, 1 if it cannot start."""
    from bot.wiring import (
        StartupError,
        build_bot,
        build_client,
        build_positions,
        choose_clock,
        start_local_exchange,
    )
    from config.settings import SettingsError, load_settings
    from exchange.client import ExchangeRefused
    from storage.logs import setup_logging, teardown_logging

    overrides = {"exchange": args.exchange, "strategy": args.strategy,
                 "data_dir": args.data_dir, "logs_dir": args.logs_dir}
    if args.exchange_url and args.exchange is None:
        overrides["exchange"] = "local"
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    problem = check_combinations(args, settings.exchange)
    if problem:
        print(f"main.py: error: {problem}", file=sys.stderr)
        return 2
    local = None
    try:
        if settings.exchange == "local" and not args.exchange_url:
            local = start_local_exchange(settings, speed=args.speed or 1.0, seed=args.seed,
                                         replay=args.replay)
            clock, base_url = local.clock, local.server.base_url
            where = local.description
            from exchange.emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

            key, secret = DEFAULT_API_KEY, DEFAULT_API_SECRET
        else:
            clock = choose_clock(settings.exchange, args.exchange_url)
            base_url = args.exchange_url
            where = (f"standalone emulator at {base_url}" if base_url
                     else "Binance Spot Testnet (testnet.binance.vision)")
            key, secret = settings.api_key, settings.api_secret
            if settings.exchange == "local":
                import os

                key = os.environ.get("EMULATOR_API_KEY", "emulator-api-key")
                secret = os.environ.get("EMULATOR_API_SECRET", "emulator-api-secret")
        setup_logging(settings.logs_dir, console=not args.quiet, secrets=settings.secrets + [
            s for s in (secret,) if settings.exchange == "testnet"], clock=clock,
            max_bytes=settings.log_max_bytes, backups=settings.log_backups)
        import logging

        log = logging.getLogger("paperbot")
        log.info("Starting paper-trading bot on %s: %s %s, strategy %s, trade size %s %s,"
                 " stop-loss %.2f %%, take-profit %.2f %%", where, settings.symbol,
                 settings.timeframe, settings.strategy, settings.trade_size,
                 settings.base_asset, settings.stop_loss_percent * 100,
                 settings.take_profit_percent * 100)
        log.info("Writing candles to %s, trades to %s, state to %s, logs to %s",
                 settings.candles_csv, settings.trades_csv, settings.state_file,
                 settings.logs_dir)
        client = build_client(settings, kind=settings.exchange, base_url=base_url, clock=clock,
                              api_key=key, api_secret=secret)
        positions = build_positions(settings, client=client, clock=clock,
                                    exchange_name=settings.exchange)
        bot = build_bot(settings, client=client, positions=positions, clock=clock,
                        max_candles=args.max_candles)
        bot.install_signal_handlers()
        status = bot.run()
    except StartupError as exc:
        import logging

        logging.getLogger("paperbot").error("Cannot start: %s", exc)
        print(f"main.py: error: {exc}", file=sys.stderr)
        status = exc.status
    except ExchangeRefused as exc:
        # Only the start-up reconcile lets a refusal (e.g. wrong API keys) through; every cycle
        # catches its own. It is a configuration problem: one line, exit 2, no traceback.
        import logging

        logging.getLogger("paperbot").error("Cannot start: %s", exc)
        print(f"main.py: error: {exc}", file=sys.stderr)
        status = 2
    finally:
        if local is not None:
            local.server.stop()
    print(f"Candles: {settings.candles_csv}\nTrades:  {settings.trades_csv}\n"
          f"Logs:    {settings.logs_dir / 'trading.log'}, {settings.logs_dir / 'errors.log'}")
    teardown_logging()
    return status
