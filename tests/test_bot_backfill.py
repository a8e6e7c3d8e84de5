"""bot/backfill.py: every closed candle since the file's last row is stored, gaps logged once."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from bot.backfill import CandleRecorder
from core.candles import CANDLE_COLUMNS
from core.errors import ExchangeUnavailable
from storage.candles import append_candles, read_candles

TF = 60_000
T0 = 1_767_225_600_000


def candles(stamps) -> pd.DataFrame:
    rows = [[t, 100.0, 101.0, 99.0, 100.5, 1.0] for t in stamps]
    return pd.DataFrame(rows, columns=CANDLE_COLUMNS).astype({"timestamp": "int64"})


class PagedExchange:
    """An exchange client double for one function: serves ``stamps`` 1000 (or ``page``) at a
    time from ``since`` on, as ``fetch_ohlcv`` does; ``fail_after`` pages then unavailable."""

    timeframe_ms = TF

    def __init__(self, stamps, now_ms, page=1000, fail_after=None):
        self.stamps, self.now_ms = list(stamps), now_ms
        self.page, self.fail_after = page, fail_after
        self.calls = 0

    def server_time_ms(self):
        return self.now_ms

    def fetch_ohlcv_page(self, since_ms=None, limit=1000):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise ExchangeUnavailable("connection refused")
        chosen = [t for t in self.stamps if t >= since_ms][: min(limit, self.page)]
        return candles(chosen).values.tolist()


def test_a_stall_longer_than_the_window_is_back_filled_by_pages(tmp_path, caplog):
    """
    Given a candle file ending at T0 and an exchange with 2500 candles since (a long stall)
    When the recorder stores a 200-candle window ending at the last closed candle
    Then the 2300 candles before the window are paged in (3 pages), the log says how many
    And the file holds every candle once, without a gap
    """
    path = tmp_path / "c.csv"
    append_candles(path, candles([T0]))
    stamps = [T0 + i * TF for i in range(1, 2501)]
    client = PagedExchange(stamps, now_ms=stamps[-1] + TF + 1)
    with caplog.at_level(logging.INFO, logger="paperbot"):
        result = CandleRecorder(client, path, TF).store(candles(stamps[-200:]))
    assert (result.backfilled, result.appended, result.complete) == (2300, 200, True)
    assert client.calls == 3
    assert "Back-filled 2300 closed candles" in caplog.text
    assert read_candles(path)["timestamp"].tolist() == [T0, *stamps]


def test_a_gap_the_exchange_has_is_logged_once(tmp_path, caplog):
    """
    Given an exchange missing 30 candles in the stretch being back-filled
    When the recorder stores the window, and then the next window
    Then one warning names the 30 missing candles, and the next cycle logs no gap again
    """
    path = tmp_path / "c.csv"
    append_candles(path, candles([T0]))
    stamps = [T0 + i * TF for i in range(1, 400) if not 100 <= i < 130]
    client = PagedExchange(stamps, now_ms=stamps[-1] + TF + 1)
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        recorder = CandleRecorder(client, path, TF)
        recorder.store(candles(stamps[-50:]))
        recorder.store(candles(stamps[-49:] + [stamps[-1] + TF]))
    gaps = [r for r in caplog.records if "has no candles" in r.getMessage()]
    assert len(gaps) == 1 and "(30 candles)" in gaps[0].getMessage()
    assert len(read_candles(path)) == 1 + len(stamps) + 1


def test_a_hole_inside_the_window_is_logged_when_stored(tmp_path, caplog):
    """
    Given a window whose candles skip 5 candles (the exchange has none there)
    When it is stored
    Then one warning names the 5 missing candles
    """
    path = tmp_path / "c.csv"
    stamps = [T0 + i * TF for i in range(20) if not 10 <= i < 15]
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        CandleRecorder(PagedExchange([], 0), path, TF).store(candles(stamps))
    assert "(5 candles)" in caplog.text


def test_an_interrupted_back_fill_keeps_the_window_out_until_it_can_finish(tmp_path):
    """
    Given a stall of 2500 candles and an exchange that fails after the first page
    When the recorder stores the window, then again once the exchange answers
    Then the first store keeps the 1000 paged candles but not the window (no sealed gap)
    And the second store completes the file without a gap
    """
    path = tmp_path / "c.csv"
    append_candles(path, candles([T0]))
    stamps = [T0 + i * TF for i in range(1, 2501)]
    client = PagedExchange(stamps, now_ms=stamps[-1] + TF + 1, fail_after=1)
    recorder = CandleRecorder(client, path, TF)
    first = recorder.store(candles(stamps[-200:]))
    assert (first.complete, first.backfilled, first.appended) == (False, 1000, 0)
    client.fail_after = None
    second = recorder.store(candles(stamps[-200:]))
    assert second.complete and second.backfilled == 1300
    assert read_candles(path)["timestamp"].tolist() == [T0, *stamps]


@pytest.mark.parametrize("before", [None, "contiguous"])
def test_no_back_fill_without_a_gap(tmp_path, before):
    """
    Given no candle file, or one whose last row is just before the window
    When the window is stored
    Then the exchange is not asked for anything more
    """
    path = tmp_path / "c.csv"
    stamps = [T0 + i * TF for i in range(10)]
    if before:
        append_candles(path, candles([T0 - TF]))
    client = PagedExchange(stamps, now_ms=stamps[-1] + TF)
    result = CandleRecorder(client, path, TF).store(candles(stamps))
    assert client.calls == 0 and result.backfilled == 0 and result.appended == 10


def test_a_gap_of_years_is_filled_a_few_pages_per_cycle(tmp_path, caplog):
    """
    Given a candle file whose last row is 2500 candles old and a limit of 1 page per cycle
    When the recorder stores the window on three cycles
    Then each cycle pages in one more page and says how many are left; the window is stored
    only once the gap before it is filled, and the file ends without a gap
    """
    path = tmp_path / "c.csv"
    append_candles(path, candles([T0]))
    stamps = [T0 + i * TF for i in range(1, 2501)]
    client = PagedExchange(stamps, now_ms=stamps[-1] + TF + 1)
    recorder = CandleRecorder(client, path, TF, pages_per_cycle=1)
    with caplog.at_level(logging.INFO, logger="paperbot"):
        results = [recorder.store(candles(stamps[-200:])) for _ in range(3)]
    assert [(r.backfilled, r.appended, r.complete) for r in results] == [
        (1000, 0, False), (1000, 0, False), (300, 200, True)]
    assert "1300 more to go, next cycle" in caplog.text
    assert read_candles(path)["timestamp"].tolist() == [T0, *stamps]
    with pytest.raises(ValueError):
        CandleRecorder(client, path, TF, pages_per_cycle=0)


def test_a_last_row_cut_inside_its_volume_is_replaced_by_the_exchanges(tmp_path, caplog):
    """
    Given a candle file whose last row lost the end of its volume (it looked whole: 5.0 -> 5)
    When the recorder stores a window that holds that candle again
    Then the row is replaced with the exchange's values, with a warning, and nothing doubled
    """
    path = tmp_path / "c.csv"
    stamps = [T0 + i * TF for i in range(5)]
    window = candles(stamps)
    window.loc[4, "volume"] = 5.25
    append_candles(path, window.head(4))
    with path.open("a") as handle:
        handle.write(f"{stamps[4]},100.0,101.0,99.0,100.5,5\n")  # volume 5.25 cut to 5
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        result = CandleRecorder(PagedExchange([], 0), path, TF).store(window)
    assert result.appended == 0 and "replaced it with the exchange's" in caplog.text
    stored = read_candles(path)
    assert stored["timestamp"].tolist() == stamps and stored["volume"].iloc[-1] == 5.25
    caplog.clear()
    CandleRecorder(PagedExchange([], 0), path, TF).store(window)
    assert "differs" not in caplog.text


def test_a_bot_behind_by_more_than_a_cycles_pages_catches_up_then_acts(tmp_path, monkeypatch):
    """
    Given a bot whose candle file ends 2,500 candles before the exchange's last closed one
     and a back-fill of 1 page (1000 candles) a cycle
    When the bot runs for one closed candle
    Then it pages on cycle after cycle without waiting for a candle close or counting a failure
    And it acts once, on a complete file that holds every candle once
    """
    import bot.backfill
    from tests.bot_harness import HARNESS_START_MS, BotHarness

    monkeypatch.setattr(bot.backfill, "PAGES_PER_CYCLE", 1)
    harness = BotHarness(tmp_path, start_ms=HARNESS_START_MS)
    try:
        path = harness.settings.data_dir / "historical_data.csv"
        stamps = [HARNESS_START_MS - (2_500 - i) * TF for i in range(3)]
        append_candles(path, candles(stamps))
        runner = harness.new_bot(1)
        runner.recorder.pages_per_cycle = 1
        started = harness.clock.now_ms()
        assert runner.run() == 0
        stored = read_candles(path)["timestamp"].to_numpy()
        assert stored[0] == stamps[0] and (stored[1:] - stored[:-1] == TF).all()
        assert (runner.candles_processed, runner.cycles_skipped) == (1, 0)
        # Three catch-up cycles ran back to back: the clock moved about one candle, not four.
        assert harness.clock.now_ms() - started < 2 * TF + 60_000
    finally:
        harness.close()
