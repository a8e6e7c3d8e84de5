"""``python main.py check``: settings, keys, connectivity and market rules, without trading.

One line per check, ``OK``, ``FAIL`` or ``SKIP`` (a check that needs a failed one), each saying
what was found or what to fix. Nothing is ordered and no file is written: the state file,
trades journal and candle file are parsed read-only, the data and logs folders are probed with
a temporary file that is removed at once, and an in-process emulator (``--exchange local``
without ``--exchange-url``) reads the saved local account without saving it back.

Exit status: 0 when every check passed, 1 when one failed, 2 when the settings or the endpoint
flags are wrong (nothing else is tried then, as the bot itself would not start).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from config.settings import Settings
from core.clock import Clock
from core.lognames import EVENTS_LOGGER

if TYPE_CHECKING:  # ccxt, pandas and the emulator load only when a check runs
    from bot.wiring import LocalExchange
    from exchange.client import ExchangeClient
    from exchange.factory import ExchangeKind
    from exchange.market_rules import MarketRules

HELP = "check settings, keys, connectivity and market rules without trading"
T = TypeVar("T")

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, OK / FAIL / SKIP, and one line of detail."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        """``OK    name: detail`` as printed."""
        return f"{self.status:<5} {self.name}: {self.detail}"


@dataclass
class Target:
    """The exchange to check: kind, URL (None = Spot Testnet) and the keys to sign with."""

    kind: ExchangeKind
    base_url: str | None
    api_key: str
    api_secret: str
    key_names: str
    clock: Clock | None = None
    description: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The same exchange flags as the bot."""
    parser.add_argument("--exchange", choices=("local", "testnet"), default=None,
                        help="local = built-in emulator (default without keys);"
                             " testnet = Binance Spot Testnet (keys in .env)")
    parser.add_argument("--exchange-url", default=None, metavar="URL",
                        help="check a standalone emulator at this http://127.0.0.1:PORT")


# --- the checks ----------------------------------------------------------------------------

def guarded(name: str, check: Callable[[], T]) -> T | Check:
    """Run one check; an unexpected exception becomes a FAIL line, never a traceback."""
    from exchange.retry import one_line

    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - every check must end in a line
        return Check(name, FAIL, one_line(exc))


def check_endpoint(target: Target) -> Check:
    """Spot Testnet or a loopback emulator only (the same guard the bot applies)."""
    from exchange.endpoints import endpoint_problem
    from exchange.factory import TESTNET_ROOT, spot_urls

    if target.kind == "testnet" and target.base_url:
        return Check("endpoint", FAIL, "--exchange-url works only with the local exchange"
                                       " (--exchange local)")
    root = target.base_url or TESTNET_ROOT
    problem = endpoint_problem(spot_urls(root)["public"])
    if problem:
        return Check("endpoint", FAIL, f"{root}: {problem}; only https://testnet.binance.vision"
                                       " or an emulator on 127.0.0.1 is allowed")
    return Check("endpoint", OK, f"{root} ({target.description or target.kind})")


def connect(settings: Settings, target: Target) -> tuple[Check, ExchangeClient | None]:
    """Reachability and clock offset: (check, ExchangeClient or None when unreachable)."""
    from bot.wiring import StartupError, choose_clock
    from core.errors import ExchangeUnavailable
    from exchange.client import ExchangeClient
    from exchange.factory import make_exchange
    from exchange.retry import RetryPolicy

    where = target.base_url or "Binance Spot Testnet"
    try:
        clock = target.clock or choose_clock(target.kind, target.base_url)
    except StartupError as exc:
        return Check("reachable", FAIL, str(exc)), None
    target.clock = clock
    exchange = make_exchange(target.kind, api_key=target.api_key, api_secret=target.api_secret,
                             base_url=target.base_url, timeout_ms=settings.request_timeout_ms,
                             clock=clock if target.kind == "local" else None)
    # One attempt: the check reports what is wrong now instead of waiting out a backoff.
    client = ExchangeClient(exchange, settings.symbol, settings.timeframe, clock=clock,
                            policy=RetryPolicy(attempts=1, base_delay=0.0))
    before = clock.now_ms()
    started = time.monotonic()
    try:
        server_ms = client.server_time_ms()
    except ExchangeUnavailable as exc:
        return Check("reachable", FAIL, f"no answer from {where} ({exc}); check the network,"
                                        " the URL and that the exchange is running"), None
    round_trip = (time.monotonic() - started) * 1000
    offset = server_ms - (before + clock.now_ms()) // 2
    note = "" if abs(offset) <= 1000 else "; the bot corrects its signing time for it"
    return Check("reachable", OK, f"{where} answered in {round_trip:.0f} ms, server clock"
                                  f" {offset:+d} ms from ours{note}"), client


def check_keys(client: ExchangeClient, target: Target) -> tuple[Check, float | None]:
    """A signed balance call: (check, free quote balance or None)."""
    from core.errors import ExchangeRefused, ExchangeUnavailable
    from exchange.retry import one_line

    try:
        free = client.free_balance(client.quote_asset)
    except ExchangeRefused as exc:
        cause = one_line(exc.__cause__) if exc.__cause__ else str(exc)
        return Check("keys", FAIL, f"refused ({cause}); check {target.key_names}"), None
    except ExchangeUnavailable as exc:
        return Check("keys", FAIL, f"no answer to a signed call ({exc})"), None
    return Check("keys", OK, "accepted (signed balance call)"), free


def check_market(client: ExchangeClient, settings: Settings) -> tuple[Check, MarketRules | None]:
    """The symbol is listed and trading; its lot step and minimum notional."""
    from core.formatting import plain

    rules = client.load_markets()
    market = client.exchange.market(settings.symbol)
    if market.get("active") is False:
        return Check("market", FAIL, f"{settings.symbol} is listed but not trading now"), None
    step = f"lot step {plain(rules.step)} {rules.base}" if rules.step else "no lot step"
    notional = (f"min notional {plain(rules.min_notional)} {rules.quote}"
                if rules.min_notional else "no min notional")
    return Check("market", OK, f"{settings.symbol} active, {step}, {notional}"), rules


def check_trade_size(client: ExchangeClient, rules: MarketRules,
                     settings: Settings) -> tuple[Check, tuple[float, float] | None]:
    """TRADE_SIZE at the current price: (check, (quantity, price) or None)."""
    from core.formatting import plain
    from exchange.market_rules import TradeSizeError

    price = client.last_price()
    if price is None:
        return Check("trade size", FAIL, "the exchange gave no last price to check it at"), None
    try:
        quantity = rules.check_trade_size(settings.trade_size, price)
    except TradeSizeError as exc:
        return Check("trade size", FAIL, str(exc)), None
    return Check("trade size", OK, f"TRADE_SIZE {plain(settings.trade_size)} {rules.base} ="
                                   f" {plain(round(quantity * price, 2))} {rules.quote} at"
                                   f" {plain(price)}"), (quantity, price)


def check_balance(free_quote: float, quantity: float, price: float,
                  rules: MarketRules) -> Check:
    """Enough free quote asset for one buy of TRADE_SIZE, as the position manager requires."""
    from core.formatting import plain
    from risk.position import BALANCE_MARGIN, required_quote

    need = required_quote(quantity, price)
    if free_quote < need:
        return Check("balance", FAIL, f"free {plain(free_quote)} {rules.quote} is less than one"
                                      f" buy needs ({plain(need)} {rules.quote} with the"
                                      f" {BALANCE_MARGIN:.0%} margin the bot keeps);"
                                      " top up the account or lower TRADE_SIZE")
    return Check("balance", OK, f"free {plain(round(free_quote, 2))} {rules.quote} covers"
                                f" {int(free_quote // need)} buy(s) of"
                                f" {plain(round(need, 2))} {rules.quote}")


def check_warmup(settings: Settings) -> Check:
    """The strategy's warm-up fits in HISTORY_CANDLES (``build_bot``'s own rule)."""
    from bot.wiring import history_needed
    from strategies.registry import get_strategy

    strategy = get_strategy(settings.strategy)
    try:
        params = strategy.params(settings.strategy_params)
    except ValueError as exc:
        return Check("warm-up", FAIL, str(exc).splitlines()[0])
    needed = history_needed(strategy, params)
    if needed > settings.history_candles:
        return Check("warm-up", FAIL, f"{settings.strategy} needs {needed} candles but"
                                      f" HISTORY_CANDLES={settings.history_candles};"
                                      " raise HISTORY_CANDLES")
    return Check("warm-up", OK, f"{settings.strategy} needs {needed} candles,"
                                f" HISTORY_CANDLES={settings.history_candles}")


def check_writable(name: str, folder: Path) -> Check:
    """The folder accepts a new file, or can be created; probed, never left changed."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return Check(name, FAIL, f"{folder} is a file, not a folder; point it elsewhere")
    if not folder.exists():
        parent = next((p for p in folder.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            return Check(name, FAIL, f"{folder} does not exist and {parent} is not writable")
        return Check(name, OK, f"{folder} will be created (in {parent}, writable)")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-"):
            pass
    except OSError as exc:
        return Check(name, FAIL, f"{folder} is not writable ({exc.strerror}); fix its permission")
    return Check(name, OK, f"{folder} writable")


def check_state(settings: Settings, exchange_name: str) -> Check:
    """The state file parses (read-only) and belongs to this symbol and exchange (the bot's own
    rules, ``symbol_owner_problem`` and ``exchange_owner_problem``)."""
    import json

    from risk.position import exchange_owner_problem, symbol_owner_problem
    from storage.state import BotState

    path = settings.state_file
    if not path.exists():
        return Check("state file", OK, f"{path} not there yet: the bot starts flat")
    try:
        state = BotState.from_dict(json.loads(path.read_bytes().decode("utf-8")))
    except OSError as exc:
        return Check("state file", FAIL, f"{path}: cannot read it ({exc.strerror})")
    except ValueError as exc:  # JSON and Unicode errors are ValueErrors too
        reason = str(exc).splitlines()[0] if str(exc) else "the file is empty"
        return Check("state file", FAIL, f"{path} is damaged ({reason}); the bot will keep it"
                                         " aside and refuse to start until you check the"
                                         " trades journal")
    problem = (symbol_owner_problem(state, settings.symbol, path)
               or exchange_owner_problem(state, exchange_name, path))
    if problem:
        return Check("state file", FAIL, problem)
    if state.position is not None:
        pos = state.position
        return Check("state file", OK, f"open position {pos.quantity} at {pos.entry_price}")
    pending = ", an order intent pending" if state.pending is not None else ""
    return Check("state file", OK, f"flat{pending}")


def check_journal(settings: Settings) -> Check:
    """The trades journal parses (read-only)."""
    from storage.trades import TradeJournalError, load_rows

    path = settings.trades_csv
    if not path.exists():
        return Check("trades journal", OK, f"{path} not there yet")
    try:
        rows = load_rows(path)
    except (TradeJournalError, OSError) as exc:
        return Check("trades journal", FAIL, str(exc))
    return Check("trades journal", OK, f"{len(rows)} row(s)")


def check_candles(settings: Settings) -> Check:
    """The candle file parses (read-only); a damaged one would be moved aside at start.

    A partial last line (a killed append) is what the bot cuts at start, so the file is
    judged without it, on a temporary copy of its complete lines.
    """
    from storage.candles import CandleFileError, read_candles

    path = settings.candles_csv
    if not path.exists() or path.stat().st_size == 0:
        return Check("candle file", OK, f"{path} not there yet")
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    note = "" if complete == data else "; a partial last line will be cut at start"
    with tempfile.TemporaryDirectory(prefix="paperbot-check-") as folder:
        copy = Path(folder) / path.name
        copy.write_bytes(complete)
        try:
            candles = read_candles(copy) if complete else []
        except CandleFileError as exc:
            reason = str(exc).replace(str(copy), str(path))
            return Check("candle file", FAIL, f"{reason}; the bot will move it aside and start"
                                              " a fresh one")
    return Check("candle file", OK, f"{len(candles)} candle(s){note}")


def run_checks(settings: Settings, target: Target) -> list[Check]:
    """Every check in order; exchange checks after a failed prerequisite are SKIP lines."""
    checks = [guarded("endpoint", lambda: check_endpoint(target))]
    client: ExchangeClient | None = None
    free: float | None = None
    rules: MarketRules | None = None
    sized: tuple[float, float] | None = None
    if checks[-1].status == OK:
        try:
            reach, client = connect(settings, target)
        except Exception as exc:  # noqa: BLE001 - e.g. a refused endpoint from make_exchange
            from exchange.retry import one_line

            reach = Check("reachable", FAIL, one_line(exc))
        checks.append(reach)
    else:
        checks.append(Check("reachable", SKIP, "needs an allowed endpoint"))
    if client is None:
        for name in ("keys", "market", "trade size", "balance"):
            checks.append(Check(name, SKIP, "needs a reachable exchange"))
    else:
        connected = client
        keys = guarded("keys", lambda: check_keys(connected, target))
        key_check, free = keys if isinstance(keys, tuple) else (keys, None)
        checks.append(key_check)
        market = guarded("market", lambda: check_market(connected, settings))
        market_check, rules = market if isinstance(market, tuple) else (market, None)
        checks.append(market_check)
        if rules is None:
            checks.append(Check("trade size", SKIP, "needs the market rules"))
        else:
            known = rules
            size = guarded("trade size", lambda: check_trade_size(connected, known, settings))
            size_check, sized = size if isinstance(size, tuple) else (size, None)
            checks.append(size_check)
        if free is None or sized is None or rules is None:
            checks.append(Check("balance", SKIP, "needs accepted keys and a tradable size"))
        else:
            quote, (quantity, price), known = free, sized, rules
            checks.append(guarded("balance", lambda: check_balance(quote, quantity, price,
                                                                   known)))
    checks += [
        guarded("warm-up", lambda: check_warmup(settings)),
        guarded("data dir", lambda: check_writable("data dir", settings.data_dir)),
        guarded("logs dir", lambda: check_writable("logs dir", settings.logs_dir)),
        guarded("state file", lambda: check_state(settings, target.kind)),
        guarded("trades journal", lambda: check_journal(settings)),
        guarded("candle file", lambda: check_candles(settings)),
    ]
    return checks


def exit_status(checks: list[Check]) -> int:
    """2 when the endpoint is refused (a settings problem), 1 on any other FAIL, else 0."""
    if any(c.name == "endpoint" and c.status == FAIL for c in checks):
        return 2
    return 1 if any(c.status == FAIL for c in checks) else 0


def summary(checks: list[Check]) -> str:
    """The last line: all passed, or which failed."""
    failed = [c.name for c in checks if c.status == FAIL]
    if not failed:
        return f"all {len(checks)} checks passed"
    return f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}"


def run(args: argparse.Namespace) -> int:
    """Load the settings, check everything, print one line per check; the exit status."""
    from config.settings import SettingsError, load_settings

    exchange = args.exchange or ("local" if args.exchange_url else None)
    try:
        settings = load_settings(exchange=exchange)
    except SettingsError as exc:
        print(Check("settings", FAIL, str(exc)).line())
        return 2
    print(Check("settings", OK, f"{settings.symbol} {settings.timeframe}, strategy"
                                f" {settings.strategy}, TRADE_SIZE {settings.trade_size},"
                                f" exchange {settings.exchange}").line())
    import logging

    # The client's own warnings repeat what the check lines say; without a handler Python
    # would print them on stderr.
    quiet = logging.NullHandler()
    logging.getLogger(EVENTS_LOGGER).addHandler(quiet)
    try:
        return _check_exchange(args, settings)
    finally:
        logging.getLogger(EVENTS_LOGGER).removeHandler(quiet)


def _check_exchange(args: argparse.Namespace, settings: Settings) -> int:
    local: LocalExchange | None = None
    if settings.exchange == "testnet":
        target = Target("testnet", args.exchange_url, settings.api_key, settings.api_secret,
                        "BINANCE_TESTNET_API_KEY and BINANCE_TESTNET_API_SECRET in .env",
                        description="Binance Spot Testnet")
    elif args.exchange_url:
        target = Target("local", args.exchange_url,
                        os.environ.get("EMULATOR_API_KEY", "emulator-api-key"),
                        os.environ.get("EMULATOR_API_SECRET", "emulator-api-secret"),
                        "EMULATOR_API_KEY and EMULATOR_API_SECRET (the emulator's --api-key"
                        " and --api-secret)", description="standalone emulator")
    else:
        started = start_in_process(settings)
        if isinstance(started, Check):
            print(started.line())
            return 1
        local = started
        from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

        target = Target("local", local.server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                        "the built-in emulator's keys", clock=local.clock,
                        description="in-process emulator")
    try:
        checks = run_checks(settings, target)
    finally:
        if local is not None:
            local.server.stop()
    for check in checks:
        print(check.line())
    print(summary([Check("settings", OK, ""), *checks]))
    sys.stdout.flush()
    return exit_status(checks)


def start_in_process(settings: Settings) -> LocalExchange | Check:
    """The built-in emulator over the saved local account, never saving it back; or a FAIL."""
    from bot.wiring import StartupError, start_local_exchange

    try:
        local = start_local_exchange(settings, speed=1.0, seed=1)
    except StartupError as exc:
        return Check("reachable", FAIL, str(exc))
    # The check reads the account the bot left; writing it back (even unchanged) is the bot's.
    if hasattr(local.server, "state_path"):
        local.server.state_path = None
    return local
