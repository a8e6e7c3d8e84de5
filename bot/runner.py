"""The trading loop: wait for each candle to close, store it, signal, trade; watch SL/TP between.

The loop owns timing and the order of steps only. Candles come from the exchange client, signals
from the strategy, orders and journals from the position manager; each can fail on its own and
the loop logs it and goes on to the next cycle.
"""

from __future__ import annotations

import logging
import math
import signal as signal_module
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.signal_engine import LiveSignals
from bot.timing import wake_time_ms
from bot.window import CandleWindow
from core.clock import Clock
from core.errors import ExchangeUnavailable
from storage.candles import append_candles

log = logging.getLogger("paperbot")
errors = logging.getLogger("paperbot.errors")

# Sleeps are sliced to this much wall time so that SIGINT / SIGTERM is seen within a second.
REAL_SLEEP_SLICE_S = 1.0


@dataclass
class CycleResult:
    """What one candle-close cycle did, for the loop's counters and for tests."""

    new_candles: int = 0
    signal: int | None = None
    action: str = ""
    skipped: str | None = None


class TradingBot:
    """Polling paper-trading loop over one symbol and timeframe."""

    def __init__(
        self,
        *,
        client: Any,
        positions: Any,
        strategy: Any,
        strategy_params: dict,
        clock: Clock,
        candles_csv: Path,
        timeframe_ms: int,
        history_candles: int,
        price_poll_seconds: float,
        close_offset_seconds: float,
        heartbeat_seconds: float,
        max_candles: int | None = None,
        signals: Any = None,
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
        self.candles_processed = 0
        self.cycles_skipped = 0
        self.stop_requested = False
        self._last_heartbeat_ms = clock.now_ms()
        self.window = CandleWindow(client, history_candles, timeframe_ms)
        # The signal of each candle as ``signals`` computes it over the stored file.
        self.signals = signals if signals is not None else LiveSignals.from_state(
            strategy, strategy_params, self.candles_csv, positions.state.extra,
            timeframe_ms=timeframe_ms, rules={})

    # --- control -------------------------------------------------------------------------

    def request_stop(self, signum: int | None = None, _frame: Any = None) -> None:
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
        return self.max_candles is not None and self.candles_processed >= self.max_candles

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Reconcile, then run cycles until stopped; return the process exit status."""
        for line in self.positions.reconcile():
            log.info("Reconcile: %s", line)
        while not self.done():
            if not self.wait_for_close():
                break
            self.run_cycle()
        log.info("Stopped after %d closed candles (%d cycles skipped). %s",
                 self.candles_processed, self.cycles_skipped, self.positions.summary())
        return 0

    def wait_for_close(self) -> bool:
        """Sleep until the current candle has closed, watching SL/TP while a position is open.

        Returns False when a stop was requested during the wait.
        """
        target = wake_time_ms(self.clock.now_ms(), self.timeframe_ms, self.offset_ms)
        while not self.stop_requested:
            now = self.clock.now_ms()
            if now >= target:
                return True
            self.heartbeat_if_due(now)
            # Wake for the next heartbeat too, so a long candle (1h, 1d) is no silent hour.
            step_ms = min(target - now, self._last_heartbeat_ms + self.heartbeat_ms - now)
            if self.positions.position is not None:
                self.check_protective_exit()
                step_ms = min(step_ms, self.poll_ms)
            self.sleep_ms(max(step_ms, 1))
        return False

    def sleep_ms(self, ms: int) -> None:
        """Sleep on the clock in slices of at most a second of wall time.

        A signal handler cannot cut a ``time.sleep`` short (PEP 475), so without slicing a
        real-time or paced bot would notice SIGTERM only at the next candle close.
        """
        speed = getattr(self.clock, "speed", 1.0)
        if math.isfinite(speed):
            ms = min(ms, max(1, int(REAL_SLEEP_SLICE_S * 1000 * speed)))
        self.clock.sleep(ms / 1000)

    def check_protective_exit(self) -> str | None:
        """Read the last price and let the position manager apply stop-loss / take-profit."""
        try:
            price = self.client.last_price()
        except ExchangeUnavailable as exc:
            log.warning("Price check skipped: %s", exc)
            return None
        except Exception:  # noqa: BLE001 - e.g. a refused key: logged, the loop goes on
            errors.exception("Price check failed")
            return None
        if price is None:
            return None
        try:
            return self.positions.on_price(price)
        except Exception:  # noqa: BLE001 - the loop must survive any single failure
            errors.exception("Stop-loss / take-profit check failed at price %s", price)
            return None

    def heartbeat_if_due(self, now_ms: int) -> None:
        """Log a heartbeat line when ``heartbeat_seconds`` have passed since the last one."""
        if now_ms - self._last_heartbeat_ms >= self.heartbeat_ms:
            self._last_heartbeat_ms = now_ms
            log.info("Heartbeat: %d candles processed, %d cycles skipped, %s",
                     self.candles_processed, self.cycles_skipped, self.positions.summary())

    def run_cycle(self) -> CycleResult:
        """Fetch closed candles, store the new ones, compute the signal and act on it."""
        try:
            return self._cycle()
        except Exception as exc:  # noqa: BLE001 - one bad cycle must not end a days-long run
            self.cycles_skipped += 1
            errors.exception("Cycle failed and was skipped: %s", exc)
            return CycleResult(skipped=str(exc))

    def _cycle(self) -> CycleResult:
        fetch = self.window.refresh(self.clock.now_ms())
        if fetch.frame is None or fetch.frame.empty:
            self.cycles_skipped += 1
            reason = fetch.skip_reason or "no closed candle returned"
            log.warning("Cycle skipped: %s", reason)
            return CycleResult(skipped=reason)
        frame = fetch.frame
        stored = append_candles(self.candles_csv, frame)
        last_ts = int(frame["timestamp"].iloc[-1])
        done_ts = self.positions.last_candle_ms
        if done_ts is not None and last_ts <= done_ts:
            return CycleResult(new_candles=0, action="no new closed candle")
        fresh = int((frame["timestamp"] > done_ts).sum()) if done_ts is not None else 1
        if fresh > 1:
            log.info("%d candles closed since the last cycle; acting on the latest only", fresh)
        signal = self.signals.on_candle(last_ts, self.positions.state.extra)
        close = float(frame["close"].iloc[-1])
        action = self.positions.on_signal(signal, last_ts, close)
        self.positions.mark_candle_processed(last_ts)
        self.candles_processed += fresh
        log.debug("Candle %s close %.2f: signal %d -> %s (%d stored)",
                  last_ts, close, signal, action, stored)
        return CycleResult(new_candles=fresh, signal=signal, action=action)
