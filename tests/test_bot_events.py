"""The loop's observer seam: which hooks the runner calls, and a failing listener is harmless."""

import logging

from bot.events import BotEvents, EventFanout, ObservedJournal
from core.clock import ManualClock
from tests.test_bot_runner import START, FakeClient, FakePositions, make_bot


class Recorder(BotEvents):
    def __init__(self):
        self.calls = []

    def ready(self, notes, now_ms):
        self.calls.append(("ready", notes))

    def tick(self, now_ms):
        self.calls.append(("tick",))

    def price(self, price, now_ms):
        self.calls.append(("price", price))

    def candle(self, event):
        self.calls.append(("candle", event.candle_ms, event.signal, event.action,
                           event.skipped, event.failed, event.candles_processed))

    def stopped(self, summary, now_ms):
        self.calls.append(("stopped", summary))


class Broken(BotEvents):
    def candle(self, event):
        raise RuntimeError("listener bug")


def test_the_runner_reports_ready_ticks_candles_skips_and_stop(tmp_path):
    """
    Given a bot on a manual clock whose first fetch fails, with a recording listener
    When it runs for 2 candles
    Then the listener hears ready first, ticks while waiting, a skipped cycle, two candles
     with their time, signal and action, and stopped last with the summary
    """
    clock = ManualClock(START + 10_000)
    recorder = Recorder()
    bot = make_bot(tmp_path, clock, client=FakeClient(clock, fail_next=1), max_candles=2,
                   events=recorder)
    bot.run()
    kinds = [c[0] for c in recorder.calls]
    assert kinds[0] == "ready" and kinds[-1] == "stopped" and "tick" in kinds
    candles = [c for c in recorder.calls if c[0] == "candle"]
    assert candles[0][4] == "exchange unavailable after 3 attempts" and not candles[0][5]
    assert candles[1][1:4] == (START + 60_000, 1, "nothing") and candles[1][6] == 1
    assert candles[2][6] == 2
    assert recorder.calls[-1] == ("stopped", "flat")


def test_the_runner_reports_prices_while_a_position_is_open(tmp_path):
    """
    Given a long position and a client quoting 123.0
    When the bot waits for one candle
    Then the listener hears the polled price
    """
    clock = ManualClock(START + 10_000)
    client = FakeClient(clock, prices={"next": 123.0})
    recorder = Recorder()
    bot = make_bot(tmp_path, clock, client=client, positions=FakePositions(long=True),
                   max_candles=1, events=recorder)
    bot.run()
    assert ("price", 123.0) in recorder.calls


def test_a_failing_listener_is_logged_once_and_the_others_still_hear(tmp_path, caplog):
    """
    Given a fanout of a listener that raises on every candle and a recording one
    When the bot runs 3 candles
    Then the loop completes, the recorder hears all 3, and errors.log gets one line
    """
    clock = ManualClock(START + 10_000)
    recorder = Recorder()
    bot = make_bot(tmp_path, clock, max_candles=3, events=EventFanout([Broken(), recorder]))
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        assert bot.run() == 0
    assert len([c for c in recorder.calls if c[0] == "candle"]) == 3
    assert caplog.text.count("Broken.candle failed (reported once)") == 1


def test_observed_journal_reports_only_new_rows():
    """
    Given a journal that accepts the first row and refuses a duplicate
    When both are appended through ObservedJournal
    Then the listener hears one row, and other attributes are the journal's
    """
    class Journal:
        path = "x.csv"

        def __init__(self):
            self.seen = set()

        def append(self, row):
            if row in self.seen:
                return False
            self.seen.add(row)
            return True

    heard = []
    journal = ObservedJournal(Journal(), heard.append)
    assert journal.append("row-1") and not journal.append("row-1")
    assert heard == ["row-1"] and journal.path == "x.csv"
