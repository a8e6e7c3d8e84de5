"""``python main.py emulator``: run the local Binance Spot emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

HELP = "run the local Binance Spot emulator (seeded or replayed market) on 127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's flags."""
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--seed", type=int, default=None, help="seed of the generated market")
    source.add_argument("--replay", metavar="CANDLES.csv",
                        help="replay a candle file (any layout 'main.py import' reads)")
    parser.add_argument(
        "--speed", type=float, default=None, help="clock speed (60 = one minute per second)"
    )
    parser.add_argument(
        "--history", type=int, default=200,
        help="replay: candles already closed when the clock starts (default 200)",
    )
    parser.add_argument(
        "--symbol", default="BTC/USDT",
        help="symbol of --seed/--replay's market (BTC/USDT, ETH/USDT, BNB/USDT are always listed)",
    )
    parser.add_argument("--api-key", default=None, help="key it accepts (or EMULATOR_API_KEY)")
    parser.add_argument(
        "--api-secret", default=None, help="secret it accepts (or EMULATOR_API_SECRET)"
    )
    parser.add_argument(
        "--balance", action="append", default=[], metavar="ASSET=AMOUNT",
        help="starting balance, repeatable (default 10000 USDT and 1 of each base asset)",
    )
    parser.add_argument(
        "--state", metavar="FILE", default=None,
        help="keep accounts, orders, ids and the clock in FILE across restarts (generated"
             " market only)",
    )


def parse_balances(items: list[str]) -> dict[str, float] | None:
    """``["USDT=500", "BTC=0.1"]`` -> ``{"USDT": 500.0, "BTC": 0.1}``; None when empty."""
    if not items:
        return None
    balances: dict[str, float] = {}
    for item in items:
        asset, _, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not asset.strip() or value < 0:
            raise ValueError(f"--balance {item!r} must look like ASSET=AMOUNT, e.g. USDT=10000")
        balances[asset.strip().upper()] = value
    return balances


def build_server(args: argparse.Namespace, env: dict[str, str] | None = None):
    """The configured (not yet started) EmulatorServer for these arguments."""
    from core.clock import AcceleratedClock, Clock, RealClock
    from emulator.market import Market, ReplayMarket
    from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
    from emulator.symbols import generated_market

    env = dict(os.environ) if env is None else env
    if args.speed is not None and args.speed <= 0:
        raise ValueError(f"--speed must be > 0, got {args.speed}")
    state = getattr(args, "state", None)
    if state and args.replay:
        raise ValueError("--state keeps a generated market's exchange; a --replay always"
                         " starts afresh, so use one or the other")
    market: Market
    clock: Clock
    if args.replay:
        market = ReplayMarket(args.replay)
        clock = AcceleratedClock(args.speed or 1.0, start_ms=market.default_start_ms(args.history))
    else:
        market = generated_market(args.symbol, args.seed if args.seed is not None else 1)
        clock = AcceleratedClock(args.speed) if args.speed else RealClock()
        saved = saved_clock_ms(Path(state)) if state else None
        if saved is not None and saved > clock.now_ms():  # exchange time never runs back
            clock = AcceleratedClock(args.speed or 1.0, start_ms=saved)
    server = EmulatorServer(
        market,
        clock,
        host=args.host,
        port=args.port,
        api_key=args.api_key or env.get("EMULATOR_API_KEY") or DEFAULT_API_KEY,
        api_secret=args.api_secret or env.get("EMULATOR_API_SECRET") or DEFAULT_API_SECRET,
        symbol=args.symbol,
        balances=parse_balances(args.balance),
        state_path=Path(state) if state else None,
    )
    if state:
        from emulator.persistence import load_emulator_state

        load_emulator_state(server, Path(state))
    return server


def saved_clock_ms(path: Path) -> int | None:
    """The clock saved in the state file at ``path`` (None without one). ValueError (one
    line) on a damaged file or an absurd clock; the file is kept aside as
    ``<name>.corrupt-<stamp>``."""
    from emulator.persistence import read_emulator_state

    doc = read_emulator_state(path)
    return None if doc is None else int(doc["clock_ms"])


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad arguments."""
    from storage.candles import CandleFileError

    try:
        server = build_server(args)
        server.start()
    except (ValueError, CandleFileError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    speed = getattr(server.clock, "speed", 1.0)
    print(f"emulator listening on {server.base_url}", flush=True)
    print(f"api key: {server.api_key}", flush=True)
    print(f"api secret: {server.api_secret}", flush=True)
    print(f"symbol: {server.symbol}  speed: {speed}  clock: GET {server.base_url}/emulator/clock",
          flush=True)
    if server.state_path is not None:
        print(f"state: {server.state_path} (next order id {server.next_order_id})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("emulator stopped", flush=True)
    return 0
