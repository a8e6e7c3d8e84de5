"""The trading loop with test doubles for the exchange client and the position manager.

End-to-end behaviour against the real emulator lives in features/bot.feature; these tests pin
the loop's own decisions: timing, skipping, acting once per candle, SL/TP polling, stopping.
"""

import logging
import signal
from types import SimpleNamespace

import pandas as pd

from bot.runner import CycleStatus, TradingBot
from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from core.outcome import NOTHING
from exchange.client import CandleFetch
from storage.candles import read_candles

MINUTE = 60_000
START = 1_700_000_000_000 - (1_700_000_000_000 % MINUTE)


def Fetch(frame, skip_reason=None):  # noqa: N802 - reads like the record it builds
    return CandleFetch(frame, skip_reason)


class FakeClient:
    """Serves closed 1m candles up to the clock's now, or failures when told to."""

    def __init__(self, clock, fail_next=0, prices=None):
        self.clock = clock
        self.fail_next = fail_next
        self.prices = prices or {}
        self.price_calls = 0

    def fetch_closed_candles(self, limit):
        if self.fail_next:
            self.fail_next -= 1
            return Fetch(None, "exchange unavailable after 3 attempts")
        last_closed = (self.clock.now_ms() // MINUTE) * MINUTE - MINUTE
        stamps = [last_closed - i * MINUTE for i in range(limit)][::-1]
        return Fetch(pd.DataFrame({
            "timestamp": pd.Series(stamps, dtype="int64"),
            "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5, "volume": 1.0}))

    def last_price(self):
        self.price_calls += 1
        price = self.prices.get("next")
        if isinstance(price, Exception):
            raise price
        return price


class FakePositions:
    def __init__(self, long=False):
        self.position = object() if long else None
        self.last_candle_ms = None
        self.signals = []
        self.prices = []
        self.reconciled = False
        self.state = SimpleNamespace(extra={})

    def reconcile(self):
        self.reconciled = True
        return ["nothing to reconcile"]

    def on_signal(self, signal, candle_ms, price):
        self.signals.append((signal, candle_ms))
        return NOTHING

    def on_price(self, price):
        self.prices.append(price)
        return None

    def mark_candle_processed(self, ts):
        self.last_candle_ms = ts

    def summary(self):
        return "flat"


class FakeStrategy:
    name = "fake"  # no incremental form: the loop recomputes it over the stored file

    def __init__(self, value=1):
        self.value = value

    def compute(self, frame, params):
        return pd.DataFrame({"signal": [self.value] * len(frame)}, index=frame.index)


def make_bot(tmp_path, clock, client=None, positions=None, max_candles=3, **kw):
    return TradingBot(
        client=client or FakeClient(clock), positions=positions or FakePositions(),
        strategy=FakeStrategy(), strategy_params={}, clock=clock,
        candles_csv=tmp_path / "data" / "historical_data.csv", timeframe_ms=MINUTE,
        history_candles=50, price_poll_seconds=5, close_offset_seconds=2,
        heartbeat_seconds=kw.pop("heartbeat_seconds", 300), max_candles=max_candles, **kw)


def test_run_processes_max_candles_and_stores_them_once(tmp_path):
    """
    Given a bot on a manual clock 10 s into a candle, asked for 3 closed candles
    When it runs
    Then it reconciles first, acts once on each of 3 new closed candles, and the stored
     candle file has no duplicate timestamp
    """
    clock = ManualClock(START + 10_000)
    positions = FakePositions()
    bot = make_bot(tmp_path, clock, positions=positions)
    assert bot.run() == 0
    assert positions.reconciled
    stamps = [ts for _, ts in positions.signals]
    assert stamps == [START, START + MINUTE, START + 2 * MINUTE]
    stored = read_candles(tmp_path / "data" / "historical_data.csv")
    assert stored["timestamp"].is_unique and stored["timestamp"].iloc[-1] == START + 2 * MINUTE
    assert clock.now_ms() == START + 3 * MINUTE + 2_000


def test_a_failed_fetch_skips_the_cycle_and_the_loop_goes_on(tmp_path, caplog):
    """
    Given an exchange that fails the first fetch
    When the bot runs for 2 candles
    Then a warning says the cycle was skipped and the next cycles still trade
    """
    clock = ManualClock(START + 10_000)
    positions = FakePositions()
    bot = make_bot(tmp_path, clock, client=FakeClient(clock, fail_next=1), positions=positions,
                   max_candles=2)
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        bot.run()
    assert bot.cycles_skipped == 1
    assert "Cycle skipped: exchange unavailable" in caplog.text
    assert len(positions.signals) == 2


def test_same_candle_is_never_acted_on_twice(tmp_path):
    """
    Given a position manager that already processed the last closed candle (a restart)
    When a cycle runs before the next candle closes
    Then the signal is not handed over again
    """
    clock = ManualClock(START + 10_000)
    positions = FakePositions()
    positions.last_candle_ms = START - MINUTE
    bot = make_bot(tmp_path, clock, positions=positions)
    result = bot.run_cycle()
    assert result.status is CycleStatus.NO_NEW_CANDLE and positions.signals == []


def test_open_position_is_watched_every_poll_interval(tmp_path):
    """
    Given an open position and a 5-second price poll
    When the bot waits for one candle to close from 10 s into it
    Then the last price is read about every 5 s and handed to the position manager
    """
    clock = ManualClock(START + 10_000)
    positions = FakePositions(long=True)
    client = FakeClient(clock, prices={"next": 101.0})
    bot = make_bot(tmp_path, clock, client=client, positions=positions)
    assert bot.wait_for_close() is True
    assert client.price_calls == 11  # 10 s .. 60 s every 5 s, then 62 s is the wake time
    assert positions.prices == [101.0] * 11


def test_flat_bot_does_not_poll_prices(tmp_path):
    """
    Given no open position
    When the bot waits for the candle to close
    Then it reads no price at all
    """
    clock = ManualClock(START + 10_000)
    client = FakeClient(clock, prices={"next": 100.0})
    bot = make_bot(tmp_path, clock, client=client)
    bot.wait_for_close()
    assert client.price_calls == 0


def test_price_failure_is_logged_and_waiting_goes_on(tmp_path, caplog):
    """
    Given an open position and an exchange whose price reads fail
    When the bot waits for the close
    Then each failure is a warning and the wait still ends at the close
    """
    clock = ManualClock(START + 50_000)
    client = FakeClient(clock, prices={"next": ExchangeUnavailable("down")})
    bot = make_bot(tmp_path, clock, client=client, positions=FakePositions(long=True))
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert bot.wait_for_close() is True
    assert "Price check skipped: down" in caplog.text


def test_heartbeat_is_logged_when_due(tmp_path, caplog):
    """
    Given a heartbeat interval of 60 seconds
    When the bot runs for 3 candles
    Then heartbeat lines appear in the log
    """
    clock = ManualClock(START + 10_000)
    bot = make_bot(tmp_path, clock, heartbeat_seconds=60)
    with caplog.at_level(logging.INFO, logger="paperbot"):
        bot.run()
    assert caplog.text.count("Heartbeat:") >= 2


def test_stop_request_ends_the_wait_and_the_run(tmp_path, caplog):
    """
    Given a running bot
    When SIGTERM's handler is called
    Then the wait ends, run returns 0 and a one-line summary is logged
    """
    clock = ManualClock(START + 10_000)
    bot = make_bot(tmp_path, clock, max_candles=None)
    bot.request_stop(signal.SIGTERM)
    assert bot.wait_for_close() is False
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert bot.run() == 0
    assert "Stopped after 0 closed candles" in caplog.text


def test_signal_handlers_are_installed(tmp_path):
    """
    Given a bot
    When its signal handlers are installed
    Then SIGTERM and SIGINT call request_stop
    """
    bot = make_bot(tmp_path, ManualClock(START))
    old_term, old_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        bot.install_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) == bot.request_stop
        assert signal.getsignal(signal.SIGINT) == bot.request_stop
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def test_an_exception_in_a_cycle_is_logged_with_its_trace_and_skipped(tmp_path, caplog):
    """
    Given a strategy that raises
    When a cycle runs
    Then the error goes to the errors logger with a stack trace and the cycle counts as skipped
    """
    clock = ManualClock(START + 10_000)
    bot = make_bot(tmp_path, clock)
    bot.signals.engine.strategy = None  # compute() on None raises AttributeError
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        result = bot.run_cycle()
    assert result.skipped and bot.cycles_skipped == 1
    assert any(r.exc_info for r in caplog.records)


class RecordingClock(ManualClock):
    """A manual clock that claims a finite speed and records every sleep."""

    def __init__(self, start_ms, speed):
        super().__init__(start_ms)
        self.speed = speed
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        super().sleep(seconds)


def test_sleeps_are_sliced_to_a_second_of_wall_time(tmp_path):
    """
    Given a flat bot on a clock running 10 times faster than real time
    When it waits 50 seconds for a candle to close
    Then no single sleep is longer than 10 clock seconds (one second of wall time)
    """
    clock = RecordingClock(START + 10_000, speed=10)
    bot = make_bot(tmp_path, clock)
    assert bot.wait_for_close() is True
    assert max(clock.sleeps) <= 10 and sum(clock.sleeps) == 52
