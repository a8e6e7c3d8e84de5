"""The trading loop: wait for each candle to close, store it, signal, trade; watch SL/TP between.

The loop owns timing and the order of steps only. Candles come from the exchange client, signals
from the strategy, orders and journals from the position manager; each can fail on its own and
the loop logs it and goes on to the next cycle, unless the failure cannot heal (bot/failures.py):
then ``run`` stops with ``stop_reason`` and its exit status.
"""

from __future__ import annotations

import logging
import math
import signal as signal_module
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Protocol

import pandas as pd

from bot.backfill import CandleRecorder
from bot.events import BotEvents, CandleEvent
from bot.failures import BotStop, FailureGuard
from bot.signal_engine import LiveSignals
from bot.timing import wake_time_ms
from bot.window import CandleWindow
from core.candles import CandleSource
from core.clock import Clock
from core.errors import ExchangeUnavailable
from core.lognames import ERRORS_LOGGER, EVENTS_LOGGER
from core.outcome import Outcome
from exchange.market_rules import MarketRules
from storage.state import BotState, Position
from strategies.orders import has_orders, intents

log = logging.getLogger(EVENTS_LOGGER)
errors = logging.getLogger(ERRORS_LOGGER)

# Sleeps are sliced to this much wall time so that SIGINT / SIGTERM is seen within a second.
REAL_SLEEP_SLICE_S = 1.0


class MarketFeed(CandleSource, Protocol):
    """What the loop reads from the exchange: closed candles, the last price, the timeframe."""

    timeframe_ms: int

    def last_price(self) -> float | None:
        """The last traded price; None when the exchange gave no usable one."""
        ...

    def market_rules(self) -> MarketRules:
        """The market's lot step, price tick and limits (loaded at start)."""
        ...


class Positions(Protocol):
    """What the loop asks of the position manager (``risk.position.PositionManager``)."""

    @property
    def position(self) -> Position | None:
        """The open position, or None when flat."""
        ...

    @property
    def last_candle_ms(self) -> int | None:
        """Open time of the last candle whose signal was handled."""
        ...

    def reconcile(self) -> list[str]:
        """Bring the saved state in line with the exchange; notes of what it did."""
        ...

    def summary(self) -> str:
        """One line: position, pending order, fills and realised PnL."""
        ...

    def on_signal(self, signal: int, candle_open_ms: int, reference_price: float) -> Outcome:
        """Act on a closed candle's signal."""
        ...

    def on_orders(self, orders: dict, candle_open_ms: int, reference_price: float, *,
                  long_id: str, short_id: str, oca: str = "") -> Outcome:
        """Act on a stop-entry strategy's orders of a closed candle."""
        ...

    def on_price(self, last_price: float | None) -> Outcome | None:
        """Check stop-loss and take-profit against a last price."""
        ...

    def mark_candle_processed(self, candle_open_ms: int) -> None:
        """Record a candle as handled."""
        ...

    @property
    def state(self) -> BotState:
        """The saved state (the loop keeps the signal engine's checkpoint in ``extra``)."""
        ...


class SignalSource(Protocol):
    """A strategy as the loop uses it (``strategies.registry.Strategy``).

    ``entry_ids`` and ``oca`` matter to stop-entry strategies only (their order columns name
    the entries they arm).
    """

    @property
    def entry_ids(self) -> tuple[str, str]:
        """Ids of the long and the short entry."""
        ...

    @property
    def oca(self) -> str | None:
        """The one-cancels-all group of the stop entries, if any."""
        ...

    def compute(
        self, frame: pd.DataFrame, params: Mapping[str, object] | None = None,
        mintick: float | None = None,
    ) -> pd.DataFrame:
        """Indicator columns and ``signal`` (1/-1/0) for every bar of a candle frame."""
        ...


class CycleStatus(StrEnum):
    """How a candle-close cycle ended."""

    ACTED = "acted"  # a new closed candle's signal went to the position manager
    NO_NEW_CANDLE = "no new closed candle"
    DATA_ENDED = "the candle data ended"  # a replay's last candle was handled before
    SKIPPED = "skipped"  # no usable candles, or the cycle failed; ``reason`` says why
    # The candle file is still being back-filled up to the latest candle: no signal can be
    # the stored history's yet, so the loop pages on at once instead of waiting for a close.
    CATCHING_UP = "catching up on missed candles"


@dataclass(frozen=True)
class CycleResult:
    """What one candle-close cycle did, for the loop's counters and for tests."""

    status: CycleStatus
    reason: str = ""
    new_candles: int = 0
    signal: int | None = None
    outcome: Outcome | None = None
    candle_ms: int | None = None
    close: float | None = None
    failed: bool = False  # the cycle raised (as opposed to having no usable candles)

    @property
    def skipped(self) -> bool:
        """True when the cycle did not reach the strategy (``reason`` says why)."""
        return self.status is CycleStatus.SKIPPED

    @property
    def action_text(self) -> str:
        """What the cycle did as the console and listeners print it: the outcome's log words,
        ``no new closed candle``, ``the candle data ended``, or ``""`` for a skipped cycle."""
        if self.outcome is not None:
            return str(self.outcome)
        return "" if self.status in (CycleStatus.SKIPPED, CycleStatus.ACTED) else str(self.status)


class TradingBot:
    """Polling paper-trading loop over one symbol and timeframe."""

    def __init__(
        self,
        *,
        client: MarketFeed,
        positions: Positions,
        strategy: SignalSource,
        strategy_params: Mapping[str, object],
        clock: Clock,
        candles_csv: Path,
        timeframe_ms: int,
        history_candles: int,
        price_poll_seconds: float,
        close_offset_seconds: float,
        heartbeat_seconds: float,
        max_candles: int | None = None,
        events: BotEvents | None = None,
        end_of_data_ms: int | None = None,
        end_message: str = "",
        price_tick: float | None = None,
        signal_rules: dict | None = None,
    ) -> None:
        self.client = client
        self.positions = positions
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.clock = clock
        self.candles_csv = Path(candles_csv)
        self.timeframe_ms = timeframe_ms
        self.history_candles = history_candles
        self.poll_ms = int(price_poll_seconds * 1000)
        self.offset_ms = int(close_offset_seconds * 1000)
        self.heartbeat_ms = int(heartbeat_seconds * 1000)
        self.max_candles = max_candles
        # The market's price step, the ``syminfo.mintick`` of strategies placing stops.
        self.price_tick = price_tick
        # A replay's end: candles closing after it were never traded, so none is stored.
        self.end_of_data_ms = end_of_data_ms
        self.end_message = end_message or "The candle data ended; stopping"
        self._end_logged = False
        self.candles_processed = 0
        self.cycles_skipped = 0
        self.stop_requested = False
        self._last_heartbeat_ms = clock.now_ms()
        self.window = CandleWindow(client, history_candles, timeframe_ms)
        self.recorder = CandleRecorder(client, self.candles_csv, timeframe_ms)
        # Identical failures that repeat stop the bot instead of looping (bot/failures.py).
        self.cycle_failures = FailureGuard()
        self.price_failures = FailureGuard()
        self.stop_reason: str | None = None
        # While the price cannot be read the poll backs off, up to one candle.
        self._price_poll_ms = self.poll_ms
        # Alerts, metrics, console and systemd listen here (bot/events.py).
        self.events = events if events is not None else BotEvents()
        # Each candle's signal as ``signals`` computes it over the stored file; the rules
        # (SL/TP, timing) go into the state's run record for ``audit``.
        self.signals = LiveSignals.from_state(
            strategy, strategy_params, self.candles_csv, positions.state.extra,
            timeframe_ms=timeframe_ms, rules=signal_rules or {}, compute=self.compute_signals)

    # --- control -------------------------------------------------------------------------

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the loop to stop after the step in progress (signal handler)."""
        if not self.stop_requested and signum is not None:
            log.info("Received %s: finishing the current step, then stopping",
                     signal_module.Signals(signum).name)
        self.stop_requested = True

    def install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM to ``request_stop``."""
        signal_module.signal(signal_module.SIGINT, self.request_stop)
        signal_module.signal(signal_module.SIGTERM, self.request_stop)

    def done(self) -> bool:
        """True once a stop was asked for or ``max_candles`` closed candles were processed."""
        if self.stop_requested:
            return True
        if self.data_ended():
            return True
        return self.max_candles is not None and self.candles_processed >= self.max_candles

    def data_ended(self) -> bool:
        """True (logged once) when the candle closing at ``end_of_data_ms`` is processed."""
        last = self.positions.last_candle_ms
        if self.end_of_data_ms is None or last is None:
            return False
        if last + self.timeframe_ms < self.end_of_data_ms:
            return False
        if not self._end_logged:
            self._end_logged = True
            log.info("%s", self.end_message)
        return True

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Reconcile, then run cycles until stopped; return the process exit status."""
        notes = self.positions.reconcile()
        for line in notes:
            log.info("Reconcile: %s", line)
        self.events.ready(notes, self.clock.now_ms())
        status = 0
        result: CycleResult | None = None
        try:
            while not self.done():
                if result is not None and result.status is CycleStatus.CATCHING_UP:
                    self.catch_up_pause()
                elif not self.wait_for_close():
                    break
                result = self.run_cycle()
                self.report(result)
        except BotStop as stop:
            self.stop_reason, status = str(stop), stop.status
            log.error("%s", stop)
        summary = self.positions.summary()
        log.info("Stopped after %d closed candles (%d cycles skipped). %s",
                 self.candles_processed, self.cycles_skipped, summary)
        self.events.stopped(summary, self.clock.now_ms())
        return status

    def report(self, result: CycleResult) -> None:
        """Tell the listeners what a cycle did."""
        self.events.candle(CandleEvent(
            candle_ms=result.candle_ms, close=result.close, signal=result.signal,
            action=result.action_text, skipped=result.reason if result.skipped else None,
            failed=result.failed,
            new_candles=result.new_candles, candles_processed=self.candles_processed,
            cycles_skipped=self.cycles_skipped, now_ms=self.clock.now_ms()))

    def wait_for_close(self) -> bool:
        """Sleep until the current candle has closed, watching SL/TP while a position is open.

        Returns False when a stop was requested during the wait.
        """
        target = wake_time_ms(self.clock.now_ms(), self.timeframe_ms, self.offset_ms)
        while not self.stop_requested:
            now = self.clock.now_ms()
            self.events.tick(now)
            if now >= target:
                return True
            self.heartbeat_if_due(now)
            # Wake for the next heartbeat too, so a long candle (1h, 1d) is no silent hour.
            step_ms = min(target - now, self._last_heartbeat_ms + self.heartbeat_ms - now)
            if self.positions.position is not None or self.armed_stops():
                self.check_protective_exit()
                step_ms = min(step_ms, self._price_poll_ms)
            self.sleep_ms(max(step_ms, 1))
        return False

    def catch_up_pause(self) -> None:
        """Between back-fill pages: the open position's stop-loss / take-profit still count."""
        self.events.tick(self.clock.now_ms())
        self.heartbeat_if_due(self.clock.now_ms())
        if self.positions.position is not None or self.armed_stops():
            self.check_protective_exit()

    def armed_stops(self) -> bool:
        """True while the position manager holds armed stop entries to watch."""
        state = getattr(self.positions, "state", None)
        return bool(getattr(state, "stop_entries", None))

    def sleep_ms(self, ms: int) -> None:
        """Sleep on the clock in slices of at most a second of wall time.

        A signal handler cannot cut a ``time.sleep`` short (PEP 475), so without slicing a
        real-time or paced bot would notice SIGTERM only at the next candle close.
        """
        speed = getattr(self.clock, "speed", 1.0)
        if math.isfinite(speed):
            ms = min(ms, max(1, int(REAL_SLEEP_SLICE_S * 1000 * speed)))
        self.clock.sleep(ms / 1000)

    def check_protective_exit(self) -> Outcome | None:
        """Read the last price and let the position manager apply stop-loss / take-profit."""
        try:
            price = self.client.last_price()
        except ExchangeUnavailable as exc:
            self._price_poll_ms = min(self._price_poll_ms * 2, self.timeframe_ms)
            log.warning("Price check skipped: %s; next try in %.0f s", exc,
                        self._price_poll_ms / 1000)
            return None
        except Exception as exc:  # noqa: BLE001 - logged; the guard stops what cannot heal
            errors.exception("Price check failed")
            self.price_failures.check(exc, "the price check")
            return None
        self._price_poll_ms = self.poll_ms
        if price is None:
            return None
        self.events.price(price, self.clock.now_ms())
        try:
            result = self.positions.on_price(price)
        except Exception as exc:  # noqa: BLE001 - the loop must survive any single failure
            errors.exception("Stop-loss / take-profit check failed at price %s", price)
            self.price_failures.check(exc, "the stop-loss / take-profit check")
            return None
        self.price_failures.success()
        return result

    def heartbeat_if_due(self, now_ms: int) -> None:
        """Log a heartbeat line when ``heartbeat_seconds`` have passed since the last one."""
        if now_ms - self._last_heartbeat_ms >= self.heartbeat_ms:
            self._last_heartbeat_ms = now_ms
            log.info("Heartbeat: %d candles processed, %d cycles skipped, %s",
                     self.candles_processed, self.cycles_skipped, self.positions.summary())

    def run_cycle(self) -> CycleResult:
        """Fetch closed candles, store the new ones, compute the signal and act on it."""
        try:
            result = self._cycle()
        except Exception as exc:  # noqa: BLE001 - one bad cycle must not end a days-long run
            self.cycles_skipped += 1
            errors.exception("Cycle failed and was skipped: %s", exc)
            # Unless it cannot heal: a refusal, or the same failure cycle after cycle.
            self.cycle_failures.check(exc, "the candle cycle")
            return CycleResult(CycleStatus.SKIPPED, reason=str(exc), failed=True)
        if not result.skipped:
            self.cycle_failures.success()
        return result

    def compute_signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The strategy's output frame; bar strategies get the market's tick as mintick."""
        if getattr(self.strategy, "inputs", "close") == "bars":
            mintick = self.price_tick if self.price_tick else None
            return self.strategy.compute(frame, self.strategy_params, mintick=mintick)
        return self.strategy.compute(frame, self.strategy_params)

    def _cycle(self) -> CycleResult:
        fetch = self.window.refresh(self.clock.now_ms())
        if fetch.frame is None or fetch.frame.empty:
            self.cycles_skipped += 1
            reason = fetch.skip_reason or "no closed candle returned"
            log.warning("Cycle skipped: %s", reason)
            return CycleResult(CycleStatus.SKIPPED, reason=reason)
        frame = fetch.frame
        if self.end_of_data_ms is not None:
            frame = frame[frame["timestamp"] + self.timeframe_ms <= self.end_of_data_ms]
            if frame.empty:
                return CycleResult(CycleStatus.DATA_ENDED)
        store = self.recorder.store(frame)
        if not store.complete:
            # The signal must be the one the stored file gives, and the file still lacks
            # candles before the latest: this cycle only stores.
            last_ms = int(frame["timestamp"].iloc[-1])
            if store.backfilled:  # progress: the next page follows at once
                return CycleResult(CycleStatus.CATCHING_UP, candle_ms=last_ms, reason=(
                    f"back-filled {store.backfilled} missed candles, more to go"))
            self.cycles_skipped += 1
            return CycleResult(CycleStatus.SKIPPED, candle_ms=last_ms,
                               reason="the back-fill of missed candles did not get on")
        stored = store.appended
        last_ts = int(frame["timestamp"].iloc[-1])
        done_ts = self.positions.last_candle_ms
        if done_ts is not None and last_ts <= done_ts:
            return CycleResult(CycleStatus.NO_NEW_CANDLE, candle_ms=last_ts)
        fresh = 1
        if done_ts is not None:
            # Back-filled candles closed since the last cycle too: the count is not capped
            # at the window's size.
            first_ts = int(frame["timestamp"].iloc[0])
            older = max(0, (first_ts - done_ts) // self.timeframe_ms - 1)
            fresh = int((frame["timestamp"] > done_ts).sum()) + min(store.backfilled, older)
        if fresh > 1:
            log.info("%d candles closed since the last cycle; acting on the latest only", fresh)
        signals = self.signals.on_candle(last_ts, self.positions.state.extra)
        signal = int(signals["signal"].iloc[-1])
        close = float(frame["close"].iloc[-1])
        if has_orders(signals):
            long_id, short_id = self.strategy.entry_ids
            outcome = self.positions.on_orders(
                intents(signals).at(len(signals) - 1), last_ts, close, long_id=long_id,
                short_id=short_id, oca=self.strategy.oca or "")
        else:
            outcome = self.positions.on_signal(signal, last_ts, close)
        self.positions.mark_candle_processed(last_ts)
        self.candles_processed += fresh
        log.debug("Candle %s close %.2f: signal %d -> %s (%d stored)",
                  last_ts, close, signal, outcome, stored)
        return CycleResult(CycleStatus.ACTED, new_candles=fresh, signal=signal, outcome=outcome,
                           candle_ms=last_ts, close=close)
