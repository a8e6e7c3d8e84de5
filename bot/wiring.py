"""Assembling the bot from settings: clock, exchange (local emulator or testnet), client,
position manager and loop. ``commands/bot.py`` parses flags and calls these in order.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.runner import MarketFeed, Positions, TradingBot
from config.settings import Settings
from core.clock import AcceleratedClock, Clock, PacedClock, RealClock
from core.errors import (
    EndpointRefused,
    ExchangeRefused,
    ExchangeUnavailable,
    OwnerMismatch,
    StartupError,
    StateFileError,
    TradeJournalError,
)
from core.lognames import EVENTS_LOGGER
from core.types import ExchangeKind
from risk.position import PositionManager, exchange_owner_problem
from storage.candles import quarantine_if_damaged
from storage.reserve import DiskReserve
from storage.state import BotState, StateStore
from storage.trades import open_journal
from strategies.registry import Strategy, get_strategy

if TYPE_CHECKING:  # the emulator and ccxt load only when this run uses them
    import pandas as pd

    from emulator.server import EmulatorServer
    from exchange.client import ExchangeClient

log = logging.getLogger(EVENTS_LOGGER)

LOCAL_STATE_FILE = "local_exchange.json"


@dataclass
class LocalExchange:
    """An in-process emulator and the clock it shares with the bot; ``notes`` are warnings
    found while starting it, for the log once it is set up."""

    server: EmulatorServer
    clock: Clock
    description: str
    notes: list[str] = field(default_factory=list)

    def connect(self, settings: Settings) -> tuple[ExchangeClient, PositionManager]:
        """A client on this exchange (its own keys) and the position manager over
        ``settings.data_dir``: what a bot on it is built from (tests and benchmarks)."""
        from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

        client = build_client(settings, kind="local", base_url=self.server.base_url,
                              clock=self.clock, api_key=DEFAULT_API_KEY,
                              api_secret=DEFAULT_API_SECRET)
        return client, build_positions(settings, client=client, clock=self.clock,
                                       exchange_name="local")


def remote_emulator_clock(base_url: str, timeout_s: float = 5.0) -> AcceleratedClock:
    """A clock that follows a standalone emulator's (possibly accelerated) clock.

    Reads the emulator extension ``GET /emulator/clock`` once: time and speed define the same
    linear time line the emulator runs on.
    """
    url = base_url.rstrip("/") + "/emulator/clock"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - loopback
            data = json.loads(reply.read().decode("utf-8"))
        return AcceleratedClock(float(data["speed"]), start_ms=int(data["serverTime"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StartupError(
            f"cannot read the emulator's clock at {url} ({exc}); start it with"
            " 'python main.py emulator --port PORT' or check --exchange-url", status=1
        ) from None


def start_local_exchange(
    settings: Settings,
    *,
    speed: float,
    seed: int,
    replay: Path | None = None,
    persist: bool = True,
    start_ms: int | None = None,
    replay_frame: pd.DataFrame | None = None,
    continue_generated: bool = False,
) -> LocalExchange:
    """Start the built-in emulator in this process on a PacedClock shared with the bot.

    The exchange's balances, orders and clock are kept in ``data/local_exchange.json`` so a
    second run continues where the first stopped, as the testnet would. A replay starts
    ``history_candles`` into the file, afresh every time. A generated market starts at
    ``start_ms`` (default: now), so tests can pin the market they trade on. ``replay_frame``
    is the replay's candles when already read; ``continue_generated`` makes a generated market
    (seeded by ``seed``) go on from the replay's last close after its last candle.
    """
    from emulator.market import Market, ReplayMarket
    from emulator.persistence import load_emulator_state
    from emulator.server import EmulatorServer
    from emulator.symbols import generated_market

    timeframe_ms = 60_000
    market: Market
    if replay is not None:
        try:
            then = generated_market(settings.symbol, seed, settings.timeframe_seconds * 1000) \
                if continue_generated else None
            source = replay if replay_frame is None else replay_frame
            market = ReplayMarket(source, then=then)
            start = market.default_start_ms(settings.history_candles)
        except (ValueError, OSError) as exc:
            raise StartupError(f"--replay {replay}: {exc}") from None
        description = f"local emulator replaying {replay}"
    else:
        market = generated_market(settings.symbol, seed, timeframe_ms)
        start = int(time.time() * 1000) if start_ms is None else int(start_ms)
        description = f"local emulator (generated market, seed {seed})"
    # A replay is an experiment on a fixed file: it always starts afresh.
    state_path = settings.data_dir / LOCAL_STATE_FILE if persist and replay is None else None
    clock = PacedClock(start, speed=speed)
    server = EmulatorServer(market, clock, symbol=settings.symbol, state_path=state_path)
    notes = []
    if state_path is not None:
        try:
            saved_ms = load_emulator_state(server, state_path)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            raise StartupError(
                f"{state_path}: cannot read the local exchange's saved state ({exc.strerror});"
                " it must be a file: move it away and start again") from None
        # The exchange's time never runs backwards across runs, as the testnet's does not.
        if saved_ms is not None and saved_ms > clock.now_ms():
            ahead_ms = saved_ms - clock.now_ms()
            clock.advance(ahead_ms / 1000)
            if ahead_ms > timeframe_ms and start_ms is None:
                if speed == 1.0:
                    # In real time the clock would never catch up: every candle and trade of
                    # this run would be stamped hours (or days) in the future.
                    raise StartupError(saved_clock_refusal(settings.data_dir, state_path,
                                                           ahead_ms))
                notes.append(saved_clock_note(state_path, ahead_ms))
    server.start()
    return LocalExchange(server=server, clock=clock, description=description, notes=notes)


def _ahead_text(ahead_ms: int) -> str:
    hours = ahead_ms / 3_600_000
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 1:
        return f"{hours:.0f}h"
    return f"{max(1, round(hours * 60))} min"


def saved_clock_refusal(data_dir: Path, path: Path, ahead_ms: int) -> str:
    """The one line refusing a real-time run on a local exchange saved ahead of real time."""
    return (f"{path}: the local exchange's saved clock is {_ahead_text(ahead_ms)} ahead of real"
            " time (a faster --speed run saved it), so a real-time run would stamp every candle"
            " and trade in the future. Go on at that pace (--speed max or --speed 60), or start"
            f" real time afresh with another --data-dir (or move the files of {data_dir} away)")


def saved_clock_note(path: Path, ahead_ms: int) -> str:
    """The warning for a saved local-exchange clock ahead of real time (a --speed run)."""
    ahead = _ahead_text(ahead_ms)
    return (f"{path}: the local exchange's saved clock is {ahead} ahead of real"
            " time (a faster --speed run saved it); it continues from there. Remove the file to"
            " start the local exchange at the real time")


def future_time_problem(settings: Settings, state: BotState, now_ms: int) -> str | None:
    """A time in the state or candle file after the exchange's ``now_ms``, as one line, or None.

    Such a time (a faster simulated clock, a hand-edited or year-2100 row) would make the bot
    wait for candles that never come: nothing processed, nothing stored, silently.
    """
    from exchange.validation import describe_time
    from storage.candles import last_stored_timestamp

    candidates = [
        (state.last_candle_ms, settings.state_file, "the last handled candle"),
        (state.position.entry_time_ms if state.position else None, settings.state_file,
         "the open position's entry time"),
        (state.pending.created_ms if state.pending else None, settings.state_file,
         "the pending order's time"),
        (last_stored_timestamp(settings.candles_csv), settings.candles_csv,
         "the last stored candle"),
    ]
    for value, path, what in candidates:
        if value is not None and value > now_ms:
            return (f"{path}: {what} ({describe_time(value)}) is after the exchange's time"
                    f" ({describe_time(now_ms)}); the file comes from a faster simulated clock"
                    " or was edited. Move it away (or use another DATA_DIR) and start again")
    return None


def choose_clock(exchange_kind: str, exchange_url: str | None) -> Clock:
    """The clock for a bot that does not start its own emulator."""
    if exchange_kind == "local" and exchange_url:
        return remote_emulator_clock(exchange_url)
    return RealClock()


def build_client(settings: Settings, *, kind: ExchangeKind, base_url: str | None, clock: Clock,
                 api_key: str, api_secret: str) -> ExchangeClient:
    """A connected ExchangeClient: endpoint guard passed, markets loaded, trade size checked."""
    from exchange.client import ExchangeClient
    from exchange.factory import make_exchange
    from exchange.market_rules import TradeSizeError
    from exchange.retry import RetryPolicy

    try:
        ccxt_exchange = make_exchange(
            kind, api_key=api_key, api_secret=api_secret, base_url=base_url,
            timeout_ms=settings.request_timeout_ms, clock=clock if kind == "local" else None)
    except (ValueError, EndpointRefused) as exc:
        raise StartupError(str(exc)) from None
    policy = RetryPolicy(attempts=settings.retry_attempts, base_delay=settings.retry_base_delay,
                         factor=settings.retry_factor)
    client = ExchangeClient(ccxt_exchange, settings.symbol, settings.timeframe, clock=clock,
                            policy=policy)
    try:
        client.load_markets()
        client.check_trade_size(settings.trade_size)
    except ExchangeUnavailable as exc:
        raise StartupError(f"the exchange is unreachable at start: {exc}", status=1) from None
    except (ExchangeRefused, TradeSizeError) as exc:
        raise StartupError(str(exc)) from None
    return client


def build_positions(settings: Settings, *, client: ExchangeClient, clock: Clock,
                    exchange_name: str) -> PositionManager:
    """The position manager over the journal and state file of ``settings.data_dir``.

    A damaged candle file there is first moved aside (``quarantine_if_damaged``), so the loop
    appends to a sound file.
    """

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        quarantine_if_damaged(settings.candles_csv)
        reserve = DiskReserve(settings.data_dir)
        if not reserve.ensure():
            log.warning("No room in %s for the %d KB disk reserve that protects a position"
                        " while the disk is full; no position is opened until there is",
                        settings.data_dir, reserve.size // 1024)
        journal = open_journal(settings.trades_csv, symbol=settings.symbol, reserve=reserve)
        store = StateStore(settings.state_file, reserve=reserve)
        positions = PositionManager(
            client, journal, store, symbol=settings.symbol, trade_size=settings.trade_size,
            stop_loss_percent=settings.stop_loss_percent,
            take_profit_percent=settings.take_profit_percent, strategy_name=settings.strategy,
            exchange_name=exchange_name, clock=clock,
            quantity_step=client.market_rules().step, price_tick=client.market_rules().tick)
    except (StateFileError, TradeJournalError, OwnerMismatch, OSError) as exc:
        raise StartupError(str(exc)) from None
    try:
        now_ms = client.server_time_ms()
    except ExchangeUnavailable as exc:
        raise StartupError(f"the exchange is unreachable at start: {exc}", status=1) from None
    problem = future_time_problem(settings, positions.state, now_ms)
    if problem:
        raise StartupError(problem)
    problem = exchange_owner_problem(positions.state, exchange_name, settings.state_file)
    if problem:
        raise StartupError(problem)
    positions.state.extra["exchange"] = exchange_name
    return positions


def history_needed(strategy: Strategy, params: Mapping[str, object]) -> int:
    """Closed candles the bot needs to start: the strategy's warm-up plus two.

    ``build_bot`` refuses a shorter HISTORY_CANDLES and ``check`` reports it with this same
    number, so the two cannot disagree.
    """
    return strategy.warmup(params) + 2


def build_bot(settings: Settings, *, client: MarketFeed, positions: Positions, clock: Clock,
              max_candles: int | None, end_of_data_ms: int | None = None,
              end_message: str = "") -> TradingBot:
    """The loop over the configured strategy; StartupError if history cannot warm it up.

    ``end_of_data_ms`` (a replay's end) stops the loop once the candle closing then is done.
    """
    strategy = get_strategy(settings.strategy)
    try:
        params = strategy.params(settings.strategy_params)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    needed = history_needed(strategy, params)
    if needed > settings.history_candles:
        raise StartupError(
            f"HISTORY_CANDLES={settings.history_candles} is too short for {settings.strategy}"
            f" with these parameters: it needs at least {needed}; raise HISTORY_CANDLES")
    # What ``audit`` needs to replay the bot's decisions, kept in the state's run record.
    signal_rules = {"stop_loss": settings.stop_loss_percent,
                    "take_profit": settings.take_profit_percent,
                    "offset_ms": int(settings.candle_close_offset_seconds * 1000)}
    return TradingBot(
        client=client, positions=positions, strategy=strategy, strategy_params=params,
        clock=clock, candles_csv=settings.candles_csv, timeframe_ms=client.timeframe_ms,
        history_candles=settings.history_candles,
        price_poll_seconds=settings.price_poll_seconds,
        close_offset_seconds=settings.candle_close_offset_seconds,
        heartbeat_seconds=settings.heartbeat_seconds, max_candles=max_candles,
        end_of_data_ms=end_of_data_ms, end_message=end_message,
        price_tick=client.market_rules().tick, signal_rules=signal_rules)
