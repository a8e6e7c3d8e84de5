"""Live-vs-backtest parity: one candle file through the bot on the emulator and the backtester.

``parity_run()`` replays a deterministic synthetic candle CSV through the in-process emulator
with the whole bot trading on it (real ccxt over loopback, PacedClock at infinite speed), runs
``backtest.run.run_backtest`` on the same CSV with the same strategy, parameters and SL/TP
(long-only), and returns both trade lists plus every price the bot polled. It runs once per
test process (both the parity test and the parity feature use it).

``compare(run)`` applies the parity rule of decision 0072 and says, trade by trade, what
matched and why anything did not.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk.rules import stop_loss_price, take_profit_price

# Small enough to run in seconds, long enough for dozens of trades with SL/TP exits:
# 0.4 % / 0.6 % levels on 1-minute candles of ~0.08 % volatility are hit every few trades.
CANDLES = 800
SEED = 4
STRATEGY = "ma2line"
STOP_LOSS = 0.004
TAKE_PROFIT = 0.006
HISTORY = 60
POLL_SECONDS = 15
OFFSET_SECONDS = 2
TIMEFRAME_MS = 60_000
PROTECTIVE = ("stop_loss", "take_profit")


@dataclass(frozen=True)
class Trade:
    """One long trade on candle indices of the shared file; ``exit_bar`` N-1 + "end" if open."""

    entry_bar: int
    exit_bar: int
    reason: str
    entry_price: float
    exit_ms: int | None = None  # the bot's exit fill time (None for the backtester)
    entry_ms: int | None = None  # the bot's entry fill time (None for the backtester)

    @property
    def key(self) -> tuple[int, int, str]:
        """What must agree: entry candle, exit candle, exit reason."""
        return (self.entry_bar, self.exit_bar, self.reason)


@dataclass
class ParityRun:
    """Everything one parity run produced."""

    candles: pd.DataFrame
    start_bar: int  # the first candle the bot can enter in
    last_bar: int  # the last candle the bot watched; later exits count as "end"
    bot: list[Trade]
    backtest: list[Trade]
    polls: list[tuple[int, float]]  # (clock ms, price) of every SL/TP price check
    stored: pd.DataFrame  # the bot's candle file
    journal: pd.DataFrame  # the bot's trades journal
    fills: list[Any]  # the emulator's fills
    price_at: Any  # the replayed market's price at an instant (ms -> price)
    stop_loss: float = STOP_LOSS
    take_profit: float = TAKE_PROFIT
    offset_ms: int = OFFSET_SECONDS * 1000
    orders: Any = None  # a stop-entry strategy's per-candle intents (strategies.orders)
    tick: float = 0.01
    strategy: str = STRATEGY
    # (candle open ms, signal) of every cycle that acted on a candle, in order
    cycles: list[tuple[int, int]] = field(default_factory=list)
    settings: Any = None  # the bot's settings (data and logs folders)


@dataclass
class Comparison:
    """The outcome of the parity rule: matched pairs, explained and unexplained differences."""

    matched: list[tuple[Trade, Trade]] = field(default_factory=list)
    explained: list[tuple[Trade | None, Trade | None, str]] = field(default_factory=list)
    unexplained: list[tuple[Trade | None, Trade | None, str]] = field(default_factory=list)
    skipped: list[Trade] = field(default_factory=list)  # dropped while re-syncing


def bar_of(ms: int, first_ms: int) -> int:
    """The candle index holding the instant ``ms``."""
    return int((ms - first_ms) // TIMEFRAME_MS)


def bot_trades(journal: pd.DataFrame, fills: list[Any], first_ms: int, last_bar: int
               ) -> list[Trade]:
    """The bot's trades from its journal, timed by the emulator's exact fill times."""
    when = {f.client_order_id: int(f.timestamp_ms) for f in fills}
    trades: list[Trade] = []
    entry: tuple[int, float] | None = None
    for _, row in journal.iterrows():
        ms = when[row["client_order_id"]]
        if row["side"] == "buy":
            entry = (bar_of(ms, first_ms), float(row["filled_price"]), ms)
            continue
        assert entry is not None, "a sell without a buy in the journal"
        exit_bar, reason = bar_of(ms, first_ms), str(row["exit_reason"])
        # A sell stop entry closes the long: the backtester's exit by the strategy's order.
        reason = "signal" if reason == "stop_entry" else reason
        if exit_bar > last_bar:
            exit_bar, reason = last_bar, "end"
        trades.append(Trade(entry[0], exit_bar, reason, entry[1], ms, entry[2]))
        entry = None
    if entry is not None:
        trades.append(Trade(entry[0], last_bar, "end", entry[1], None, entry[2]))
    return trades


def backtest_trades(result: Any, last_bar: int) -> list[Trade]:
    """The backtester's trades, exits after ``last_bar`` counted as "end"."""
    from backtest.engine import REASONS

    t = result.trades
    trades = []
    for i in range(len(t)):
        exit_bar, reason = int(t.exit_bar[i]), REASONS[int(t.reason[i])]
        if exit_bar > last_bar:
            exit_bar, reason = last_bar, "end"
        trades.append(Trade(int(t.entry_bar[i]), exit_bar, reason, float(t.entry_price[i])))
    return trades


def level(trade: Trade, reason: str, run: ParityRun) -> float:
    """The stop or target of ``trade`` from its own entry price (``risk.rules``)."""
    if reason == "stop_loss":
        return stop_loss_price(trade.entry_price, run.stop_loss)
    return take_profit_price(trade.entry_price, run.take_profit)


def crossed(price: float, reason: str, at: float) -> bool:
    """True when ``price`` is at or beyond the level ``at`` for that exit."""
    return price <= at if reason == "stop_loss" else price >= at


def explain(bt: Trade, bot: Trade, run: ParityRun) -> str | None:
    """Why two trades with the same entry candle may exit differently, or None if they may not.

    Allowed (decision 0072), with k the earlier of the two exit candles:

    * the backtester stops out / takes profit in k and the bot does not (later, or another
      reason in k): none of the bot's polled prices in k, up to its own exit, reached the bot's
      level for that exit (the poll missed the intrabar extreme, or the extreme lay between
      the two levels, which differ because the bot filled a few seconds after the open);
    * the bot stops out / takes profit in k and the backtester does not: candle k's range
      never reached the backtester's level for that exit (the levels differ); or k is the
      backtester's signal-exit candle and the bot's poll saw its level in the first
      ``offset`` seconds of k, before the cycle that sells on the signal.
    """
    if bt.entry_bar != bot.entry_bar:
        return None
    k = min(bt.exit_bar, bot.exit_bar)
    open_ms = int(run.candles["timestamp"].iat[0]) + k * TIMEFRAME_MS
    if bt.exit_bar == k and bt.reason in PROTECTIVE and not (
            bot.exit_bar == k and bot.reason == bt.reason):
        if bot.exit_bar == k and bot.reason == "signal":
            return None  # same signals: a signal exit in k means the backtester's limit was k
        until = bot.exit_ms if bot.exit_bar == k and bot.exit_ms is not None else open_ms + 60_000
        seen = [p for t, p in run.polls if open_ms <= t < until]
        mine = level(bot, bt.reason, run)
        if any(crossed(p, bt.reason, mine) for p in seen):
            return None
        extreme = min(seen, default=float("nan")) if bt.reason == "stop_loss" else max(
            seen, default=float("nan"))
        return (f"candle {k}: backtest {bt.reason} at its level {level(bt, bt.reason, run):.2f};"
                f" the bot's {len(seen)} poll(s) there reached {extreme:.2f}, never its own"
                f" level {mine:.2f}")
    if bot.exit_bar == k and bot.reason in PROTECTIVE:
        row = run.candles.iloc[k]
        if bt.exit_bar == k and bt.reason == "signal":
            if bot.exit_ms is not None and bot.exit_ms < open_ms + run.offset_ms:
                return (f"candle {k}: the bot's {bot.reason} was seen {bot.exit_ms - open_ms} ms"
                        " into the candle, before the cycle that sells on the signal")
            return None
        theirs = level(bt, bot.reason, run)
        extreme = float(row["low"] if bot.reason == "stop_loss" else row["high"])
        if crossed(extreme, bot.reason, theirs):
            return None
        return (f"candle {k}: the bot's {bot.reason} level {level(bot, bot.reason, run):.2f}"
                f" was reached, the backtester's {theirs:.2f} was not (candle extreme"
                f" {extreme:.2f}): the fills, and so the levels, differ")
    return None


def _stop_level(run: ParityRun, side: str, k: int) -> float | None:
    """The stop armed for candle ``k`` (placed on candle k-1's close), on the tick grid."""
    from risk.stop_entries import round_level

    entry, stop = ((run.orders.long_entry, run.orders.long_stop) if side == "buy"
                   else (run.orders.short_entry, run.orders.short_stop))
    if k < 1 or not entry[k - 1] or np.isnan(stop[k - 1]):
        return None
    return round_level(float(stop[k - 1]), side, run.tick)


def explain_stop_entry(bt: Trade, bot: Trade, run: ParityRun) -> str | None:
    """Why a stop-entry strategy's trades may differ, or None (decision 0072 for stops).

    The bot arms each candle's stops when its cycle runs, ``offset`` after the close, and fills
    a stop at the first polled price beyond it; the backtester fills at the level wherever the
    candle's range reached it. Allowed, with k the earlier candle where the two differ:

    * the backtester's stop (entry, or the sell stop closing the long) filled in k and none of
      the bot's polls in k while that stop was armed reached its level (the poll missed the
      extreme);
    * the bot's entry filled in the first ``offset`` of k, against the previous candle's level;
    * both exit in k, the backtester by its take-profit / stop-loss along the path, the bot by
      the sell stop its polls reached first, and none of those polls reached the bot's own
      protective level (which differs, from its own fill).
    """
    if run.orders is None:
        return None
    first_ms = int(run.candles["timestamp"].iat[0])

    def polls(k: int, until: int | None = None) -> list[float]:
        start = first_ms + k * TIMEFRAME_MS + run.offset_ms
        end = first_ms + (k + 1) * TIMEFRAME_MS if until is None else until
        return [p for t, p in run.polls if start <= t < end]

    if bt.entry_bar != bot.entry_bar:
        k = min(bt.entry_bar, bot.entry_bar)
        if bt.entry_bar == k:
            stop = _stop_level(run, "buy", k)
            seen = polls(k)
            if stop is not None and not any(p >= stop for p in seen):
                return (f"candle {k}: the backtester's buy stop {stop:.2f} was reached; the"
                        f" bot's {len(seen)} poll(s) peaked at {max(seen, default=0):.2f}")
        elif bot.entry_ms is not None and bot.entry_ms < first_ms + k * TIMEFRAME_MS + (
                run.offset_ms):
            return f"candle {k}: the bot bought in its first {run.offset_ms} ms, before re-arming"
        return None
    k = min(bt.exit_bar, bot.exit_bar)
    if bt.exit_bar == k and bt.reason == "signal" and bot.exit_bar != k:
        stop = _stop_level(run, "sell", k)
        seen = polls(k)
        if stop is not None and not any(p <= stop for p in seen):
            return (f"candle {k}: the backtester's sell stop {stop:.2f} was reached; the"
                    f" bot's {len(seen)} poll(s) bottomed at {min(seen, default=0):.2f}")
    if (bt.exit_bar == bot.exit_bar == k and bt.reason in PROTECTIVE
            and bot.reason == "signal"):
        mine = level(bot, bt.reason, run)
        if not any(crossed(p, bt.reason, mine) for p in polls(k, bot.exit_ms)):
            return (f"candle {k}: the backtester met its {bt.reason} first on its path, the"
                    f" bot's polls the sell stop before its own {bt.reason} {mine:.2f}")
    return None


def _resync(bt: list[Trade], bot: list[Trade], flat_after: int, skipped: list[Trade]
            ) -> tuple[list[Trade], list[Trade]]:
    """Drop trades until both sides are flat after the same candle (the next common flat point)."""
    while True:
        dropped = [t for t in bt + bot if t.entry_bar <= flat_after]
        if not dropped:
            return bt, bot
        skipped += dropped
        bt = [t for t in bt if t.entry_bar > flat_after]
        bot = [t for t in bot if t.entry_bar > flat_after]
        # A dropped trade may still be open later: flat only after its exit.
        flat_after = max(flat_after, *(t.exit_bar for t in dropped))


def compare(run: ParityRun) -> Comparison:
    """Apply the parity rule: pair trades from each common flat point, explain any difference."""
    out = Comparison()
    bt, bot = _resync(run.backtest, run.bot, run.start_bar - 1, out.skipped)
    while bt or bot:
        if not bt or not bot:
            for t in bt + bot:
                out.unexplained.append((t if t in bt else None, t if t in bot else None,
                                        "a trade on one side only"))
            break
        a, b = bt[0], bot[0]
        if a.key == b.key:
            out.matched.append((a, b))
            bt, bot = bt[1:], bot[1:]
            continue
        why = explain(a, b, run) or explain_stop_entry(a, b, run)
        (out.explained if why else out.unexplained).append((a, b, why or "no allowed reason"))
        bt, bot = _resync(bt[1:], bot[1:], max(a.exit_bar, b.exit_bar), out.skipped)
    return out


class PollRecorder:
    """The bot's exchange client, recording every last price the loop polls for SL/TP."""

    def __init__(self, client: Any, clock: Any) -> None:
        self._client = client
        self._clock = clock
        self.polls: list[tuple[int, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def last_price(self) -> float | None:
        """The real client's last price, noted with the clock time."""
        price = self._client.last_price()
        if price is not None:
            self.polls.append((self._clock.now_ms(), price))
        return price


def write_candles(path: Path, n: int = CANDLES, seed: int = SEED) -> pd.DataFrame:
    """A deterministic synthetic 1-minute candle CSV (``backtest.synthetic``)."""
    from backtest.synthetic import synthetic_candles

    candles = synthetic_candles(n, seed=seed)
    candles.to_csv(path, index=False)
    return candles


def record_cycles(bot: Any) -> list[tuple[int, int]]:
    """Make ``bot`` note (candle open ms, signal) of every cycle that acted on a candle."""
    cycles: list[tuple[int, int]] = []
    run_cycle = bot.run_cycle

    def recording() -> Any:
        result = run_cycle()
        if result.signal is not None:
            cycles.append((int(bot.positions.last_candle_ms), int(result.signal)))
        return result

    bot.run_cycle = recording
    return cycles


@lru_cache(maxsize=4)
def parity_run(n: int = CANDLES, seed: int = SEED, strategy: str = STRATEGY,
               poll_seconds: int = POLL_SECONDS) -> ParityRun:
    """Run the bot on the replayed file and the backtester on the same file (once per process).

    ``strategy`` may place stop entries (the backtester's order broker then runs, long-only).
    Every cycle's signal is recorded (``ParityRun.cycles``) for the live = stored history
    check, and the bot's data folder is kept for ``audit``.
    """
    from backtest.engine import FillRules
    from backtest.run import run_backtest
    from bot.wiring import build_bot, start_local_exchange
    from config.settings import load_settings
    from storage.candles import read_candles
    from storage.logs import setup_logging, teardown_logging
    from storage.trades import read_trades

    # On tmpfs when there is one: the bot fsyncs its files every candle, which on a busy disk
    # costs more than the whole trading logic, and durability is not what is compared here.
    shm = Path("/dev/shm")
    ram = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix="parity-", dir=ram))
    atexit.register(shutil.rmtree, root, True)
    csv = root / "candles.csv"
    candles = write_candles(csv, n, seed)
    settings = load_settings({
        "DATA_DIR": str(root / "data"), "LOGS_DIR": str(root / "logs"), "STRATEGY": strategy,
        "STOP_LOSS_PERCENT": str(STOP_LOSS), "TAKE_PROFIT_PERCENT": str(TAKE_PROFIT),
        "HISTORY_CANDLES": str(HISTORY), "PRICE_POLL_SECONDS": str(poll_seconds),
        "CANDLE_CLOSE_OFFSET_SECONDS": str(OFFSET_SECONDS),
    }, env_file=root / "absent.env")
    local = start_local_exchange(settings, speed=float("inf"), seed=0, replay=csv)
    setup_logging(settings.logs_dir, console=False, clock=local.clock)
    try:
        client, positions = local.connect(settings)
        recorder = PollRecorder(client, local.clock)
        # Candles HISTORY-1 .. N-2 are acted on: the last signal the backtester can fill too.
        bot = build_bot(settings, client=recorder, positions=positions, clock=local.clock,
                        max_candles=len(candles) - HISTORY)
        cycles = record_cycles(bot)
        bot.run()
        fills = list(local.server.fills)
    finally:
        teardown_logging()
        local.server.stop()
    last_bar = len(candles) - 2
    result = run_backtest(candles, strategy, None,
                          FillRules(mode="long-only", qty=settings.trade_size,
                                    commission=settings.fee_rate, stop_loss=STOP_LOSS,
                                    take_profit=TAKE_PROFIT), 10_000.0)
    journal = read_trades(settings.trades_csv)
    first_ms = int(candles["timestamp"].iat[0])
    from strategies.orders import has_orders, intents

    frame = result.indicators
    return ParityRun(
        candles=candles, start_bar=HISTORY, last_bar=last_bar,
        bot=bot_trades(journal, fills, first_ms, last_bar),
        backtest=backtest_trades(result, last_bar), polls=recorder.polls,
        stored=read_candles(settings.candles_csv), journal=journal, fills=fills,
        price_at=local.server.market.price_at,
        orders=intents(frame) if frame is not None and has_orders(frame) else None,
        tick=float(client.market_rules().tick or 0.01), strategy=strategy, cycles=cycles,
        settings=settings,
    )


def entry_price_gap(run: ParityRun, pairs: list[tuple[Trade, Trade]]) -> np.ndarray:
    """Relative gap bot entry / backtest entry - 1 over matched pairs."""
    return np.array([b.entry_price / a.entry_price - 1 for a, b in pairs])


def tiny_run(bot: list[Trade], backtest: list[Trade], polls: Any = (), lows: Any = None,
             highs: Any = None, start_bar: int = 2) -> ParityRun:
    """A made-up 12-candle run at 100 for the small parity cases (trades, polls, extremes)."""
    n = 12
    candles = pd.DataFrame({
        "timestamp": np.arange(n, dtype="int64") * TIMEFRAME_MS,
        "open": np.full(n, 100.0), "close": np.full(n, 100.0), "volume": np.ones(n),
        "high": np.array(highs if highs is not None else [100.3] * n, dtype=float),
        "low": np.array(lows if lows is not None else [99.7] * n, dtype=float),
    })
    return ParityRun(candles=candles, start_bar=start_bar, last_bar=n - 2, bot=list(bot),
                     backtest=list(backtest), polls=list(polls), stored=candles, journal=None,
                     fills=[], price_at=None, stop_loss=0.004, take_profit=0.006,
                     offset_ms=2000)


def at(bar: int, second: int) -> int:
    """Clock ms of ``second`` seconds into candle ``bar`` of a ``tiny_run``."""
    return bar * TIMEFRAME_MS + second * 1000
