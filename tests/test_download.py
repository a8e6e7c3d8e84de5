"""download_candles against the emulator: the real ccxt binance class over 127.0.0.1.

The emulator and the client share a ManualClock at T0: 5,000 one-minute candles have closed
since 2024-01-01, retry waits cost no wall time, and an outage ends when the clock moves past
it. The only stand-ins are the markets of ``download_support`` with a hole or a broken candle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.candles import CANDLE_COLUMNS
from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from emulator.market import GeneratedMarket, ReplayMarket
from exchange.download import (
    DownloadFileError,
    DownloadInterrupted,
    DownloadProgress,
    DownloadResult,
    Gap,
    _gaps_inside,
    _merge,
    _Tally,
    check_candle_file,
    download_candles,
    last_closed_end,
    resume_point,
    span,
    tail_timestamps,
)
from exchange.validation import CandleDataError
from storage.candles import read_candles
from tests.download_support import (
    DAY0,
    MINUTE,
    T0,
    BrokenMarket,
    HoleMarket,
    kline_requests,
    make_client,
    start_server,
)

HOUR = 60 * MINUTE


@pytest.fixture
def server(start_emulator):
    return start_emulator(GeneratedMarket(3), ManualClock(T0))


@pytest.fixture
def client(server):
    return make_client(server)


def expected_frame(server, start_ms: int, count: int) -> pd.DataFrame:
    """The emulator market's own candles: what a download must have written."""
    rows = server.market.rows(start_ms // MINUTE, count)
    frame = pd.DataFrame(rows, columns=CANDLE_COLUMNS[1:])
    frame.insert(0, "timestamp", start_ms + MINUTE * np.arange(count, dtype="int64"))
    return frame


def test_fresh_download_writes_every_closed_candle_once(server, client, tmp_path):
    """
    Given an emulator with 5,000 closed one-minute candles since 2024-01-01
    When they are downloaded from 2024-01-01 with no end into a new file
    Then the file holds exactly those 5,000 candles with the market's values, read back clean
    And it took 5 pages of 1000, and the still-open candle is not in the file
    """
    out = tmp_path / "btc.csv"
    result = download_candles(client, out, DAY0, None)
    frame = read_candles(out)
    assert len(frame) == 5_000 == result.rows_written
    assert (result.first_ms, result.last_ms) == (DAY0, DAY0 + 4_999 * MINUTE)
    assert result.pages == 5 and result.reached_last_closed and result.gaps == ()
    assert frame["timestamp"].iat[-1] + MINUTE <= server.clock.now_ms()
    pd.testing.assert_frame_equal(frame, expected_frame(server, DAY0, 5_000))
    assert [int(r.params["limit"]) for r in kline_requests(server)] == [1000] * 5


def test_until_is_exclusive(client, tmp_path):
    """
    Given the emulator with years of history
    When two hours from 2024-01-01 are downloaded until 02:00
    Then the file ends with the 01:59 candle and the 02:00 candle is not in it
    """
    out = tmp_path / "btc.csv"
    result = download_candles(client, out, DAY0, DAY0 + 2 * HOUR)
    stamps = read_candles(out)["timestamp"]
    assert stamps.iat[-1] == DAY0 + 2 * HOUR - MINUTE
    assert len(stamps) == 120 == result.rows_written
    assert not result.reached_last_closed


def test_until_in_the_future_stops_at_the_last_closed_candle(server, client, tmp_path):
    """
    Given the clock 30 s into a minute
    When a download from 90 minutes before now (also 30 s into a minute) asks until tomorrow
    Then it starts with the next whole minute, stops after the last closed candle (89 in all)
    And it says it reached the last closed candle, with no gap
    """
    out = tmp_path / "btc.csv"
    result = download_candles(client, out, T0 - 90 * MINUTE, T0 + 24 * HOUR)
    assert result.reached_last_closed and result.gaps == ()
    assert result.first_ms == T0 - 90 * MINUTE + 30_000
    assert result.last_ms == last_closed_end(T0, MINUTE) - MINUTE
    assert result.rows_written == 89


def test_resume_starts_after_the_last_row_without_duplicates(server, client, tmp_path):
    """
    Given a file downloaded up to 2024-01-02 12:00
    When the download is run again to the last closed candle
    Then the first request starts one minute after the file's last row
    And the file equals a single download of the whole range, with no duplicate timestamp
    """
    out = tmp_path / "btc.csv"
    download_candles(client, out, DAY0, DAY0 + 36 * HOUR)
    seen = len(kline_requests(server))
    result = download_candles(client, out, DAY0, None)
    assert int(kline_requests(server)[seen].params["startTime"]) == DAY0 + 36 * HOUR
    assert result.resumed_after_ms == DAY0 + 36 * HOUR - MINUTE
    assert result.start_ms == DAY0 + 36 * HOUR
    assert result.rows_written == 5_000 - 36 * 60
    whole = tmp_path / "whole.csv"
    download_candles(client, whole, DAY0, None)
    assert out.read_bytes() == whole.read_bytes()
    assert read_candles(out)["timestamp"].is_unique


def test_up_to_date_file_asks_for_no_page(server, client, tmp_path):
    """
    Given a file that already ends at the last closed candle
    When the download runs again
    Then no klines request is made, nothing is written and the result says so
    """
    out = tmp_path / "btc.csv"
    download_candles(client, out, T0 - HOUR, None)
    before, seen = out.read_bytes(), len(kline_requests(server))
    result = download_candles(client, out, T0 - HOUR, None)
    assert len(kline_requests(server)) == seen
    assert result.rows_written == 0 and result.pages == 0 and result.start_ms >= result.end_ms
    assert out.read_bytes() == before


def test_outage_mid_download_interrupts_and_a_rerun_resumes(server, client, tmp_path):
    """
    Given a download of 5,000 candles, and the exchange going down for an hour after page 2
    When the download runs, and again once the outage is over
    Then the first run stops with ExchangeUnavailable as cause after writing 2,000 valid rows
    And the second run resumes after them and the file equals an uninterrupted download
    """
    out = tmp_path / "btc.csv"

    def outage_after_page_2(done: DownloadProgress) -> None:
        if done.pages == 2:
            server.faults.outage(3600)

    with pytest.raises(DownloadInterrupted) as caught:
        download_candles(client, out, DAY0, DAY0 + 5_000 * MINUTE, progress=outage_after_page_2)
    partial = caught.value.result
    assert isinstance(caught.value.cause, ExchangeUnavailable)
    assert partial.rows_written == 2_000 and partial.last_ms == DAY0 + 1_999 * MINUTE
    assert len(read_candles(out)) == 2_000
    server.clock.advance(3600)
    result = download_candles(client, out, DAY0, DAY0 + 5_000 * MINUTE)
    assert result.resumed_after_ms == partial.last_ms and result.rows_written == 3_000
    whole = tmp_path / "whole.csv"
    download_candles(client, whole, DAY0, DAY0 + 5_000 * MINUTE)
    assert out.read_bytes() == whole.read_bytes()


def test_short_outage_is_retried_away(server, client, tmp_path):
    """
    Given the exchange down for 2 seconds after the first page
    When 3,000 candles are downloaded with 3 attempts (waits of 1 s then 2 s)
    Then the download completes with every candle
    """
    out = tmp_path / "btc.csv"

    def blip(done: DownloadProgress) -> None:
        if done.pages == 1:
            server.faults.outage(2)

    result = download_candles(client, out, DAY0, DAY0 + 3_000 * MINUTE, progress=blip)
    assert result.rows_written == 3_000 and len(read_candles(out)) == 3_000


def test_outage_before_the_first_page_writes_nothing(server, client, tmp_path):
    """
    Given the exchange down for an hour
    When a download starts
    Then it is interrupted before any page, and no file is created
    """
    server.faults.outage(3600)
    out = tmp_path / "btc.csv"
    with pytest.raises(DownloadInterrupted) as caught:
        download_candles(client, out, DAY0, None)
    assert caught.value.result.rows_written == 0 and caught.value.result.pages == 0
    assert not out.exists()


def test_long_stretch_without_candles_is_passed_over(tmp_path):
    """
    Given an exchange with no candles for 2,500 minutes (longer than two pages) after 10:00
    When 5,000 minutes from 2024-01-01 are downloaded
    Then the candles on both sides are written, the stretch is reported as one gap
    And the download asks no more than 7 pages (it never loops on the empty stretch)
    """
    hole = (DAY0 + 600 * MINUTE, DAY0 + 3_100 * MINUTE)
    server = start_server(HoleMarket(3, *hole))
    try:
        client = make_client(server)
        out = tmp_path / "btc.csv"
        result = download_candles(client, out, DAY0, DAY0 + 5_000 * MINUTE)
        stamps = read_candles(out)["timestamp"]
        assert len(stamps) == 5_000 - 2_500 == result.rows_written
        assert not ((stamps >= hole[0]) & (stamps < hole[1])).any()
        assert result.gaps == (Gap(*hole),) and result.missing_candles == 2_500
        assert result.pages <= 7
    finally:
        server.stop()


def test_history_starting_after_since_is_a_leading_gap(tmp_path):
    """
    Given a replayed market whose first candle is 2,000 minutes after the requested start
    When the download runs to the end of the replay
    Then it writes the replay's candles only and reports the 2,000 minutes before them as a gap
    """
    first = DAY0 + 2_000 * MINUTE
    frame = pd.DataFrame({"timestamp": first + MINUTE * np.arange(300, dtype="int64"),
                          "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5,
                          "volume": 1.0})
    from core.clock import ManualClock

    server = start_server(ReplayMarket(frame), ManualClock(first + 300 * MINUTE + 5_000))
    try:
        out = tmp_path / "btc.csv"
        result = download_candles(make_client(server), out, DAY0, None)
        pd.testing.assert_frame_equal(read_candles(out), frame)
        assert result.gaps == (Gap(DAY0, first),)
    finally:
        server.stop()


def test_bad_candle_interrupts_without_writing_its_page(tmp_path):
    """
    Given an exchange whose candle at 2024-01-01 20:00 has its high below its low
    When 2,000 minutes are downloaded
    Then the download stops on the second page with a CandleDataError naming that candle
    And the file holds the 1,000 good candles of the first page only
    """
    broken = DAY0 + 1_200 * MINUTE
    server = start_server(BrokenMarket(3, broken))
    try:
        out = tmp_path / "btc.csv"
        with pytest.raises(DownloadInterrupted) as caught:
            download_candles(make_client(server), out, DAY0, DAY0 + 2_000 * MINUTE)
        assert isinstance(caught.value.cause, CandleDataError)
        assert "2024-01-01 20:00 UTC" in str(caught.value.cause)
        assert len(read_candles(out)) == 1_000 == caught.value.result.rows_written
    finally:
        server.stop()


def test_hourly_download_aligns_to_the_hour(server, tmp_path):
    """
    Given the emulator serving hourly candles aggregated from its minutes
    When 24 hours are downloaded from a start time in the middle of an hour
    Then the first candle is the next whole hour and the candles are an hour apart
    """
    client = make_client(server, "1h")
    out = tmp_path / "btc-1h.csv"
    download_candles(client, out, DAY0 + 30 * MINUTE, DAY0 + 25 * HOUR)
    stamps = read_candles(out)["timestamp"]
    assert stamps.iat[0] == DAY0 + HOUR and len(stamps) == 24
    assert (stamps.diff().dropna() == HOUR).all()


def test_progress_is_called_after_every_page(client, tmp_path):
    """
    Given a download of 2,500 candles
    When it runs with a progress callback
    Then the callback sees 3 pages with growing rows and cursor, ending at 100 %
    """
    seen: list[DownloadProgress] = []
    download_candles(client, tmp_path / "btc.csv", DAY0, DAY0 + 2_500 * MINUTE,
                     progress=seen.append)
    assert [p.pages for p in seen] == [1, 2, 3]
    assert [p.rows_written for p in seen] == [1_000, 2_000, 2_500]
    assert seen[-1].cursor_ms == DAY0 + 2_500 * MINUTE and seen[-1].fraction == 1.0


def test_end_before_start_is_refused(client, tmp_path):
    """
    Given an end before the start
    When the download is asked for
    Then ValueError says the end must be after the start, and nothing is fetched or written
    """
    with pytest.raises(ValueError, match="must be after the start"):
        download_candles(client, tmp_path / "btc.csv", DAY0, DAY0 - MINUTE)
    assert not (tmp_path / "btc.csv").exists()


# -- the file checks ----------------------------------------------------------------------------
def write_rows(path, stamps):
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{t},1.0,2.0,0.5,1.5,3.0" for t in stamps]
    path.write_text("\n".join(lines) + "\n")


def test_not_a_candle_file_is_refused(tmp_path):
    """
    Given an output path holding a trade journal rather than candles
    When it is checked for resuming
    Then DownloadFileError names its first line and asks for another --out
    """
    journal = tmp_path / "trades.csv"
    journal.write_text("timestamp,order_id,side\n1,2,buy\n")
    with pytest.raises(DownloadFileError, match="not a candle CSV.*another --out"):
        check_candle_file(journal)
    with pytest.raises(DownloadFileError, match="is not a file"):
        check_candle_file(tmp_path)
    check_candle_file(tmp_path / "absent.csv")  # absent: fine, it will be created


def test_resume_point_after_the_last_row_or_since(tmp_path):
    """
    Given an absent file, an empty file, and a file ending at 00:04 with a partial last line
    When the resume point is asked for a one-minute download from 2024-01-01
    Then the first two start at since and the third one minute after 00:04
    """
    assert resume_point(tmp_path / "absent.csv", DAY0, MINUTE) == (DAY0, None)
    (tmp_path / "empty.csv").write_text("")
    assert resume_point(tmp_path / "empty.csv", DAY0, MINUTE) == (DAY0, None)
    path = tmp_path / "btc.csv"
    write_rows(path, [DAY0 + i * MINUTE for i in range(5)])
    with path.open("a") as handle:
        handle.write(f"{DAY0 + 5 * MINUTE},1.0,2")  # a killed writer's leftover
    assert resume_point(path, DAY0, MINUTE) == (DAY0 + 5 * MINUTE, DAY0 + 4 * MINUTE)


def test_resume_point_refuses_a_file_of_another_timeframe(tmp_path):
    """
    Given a file of one-minute candles and one of hourly candles
    When they are resumed as hourly and as one-minute downloads
    Then both are refused with a line naming the spacing found and the timeframe asked
    """
    minutes, hours = tmp_path / "m.csv", tmp_path / "h.csv"
    write_rows(minutes, [DAY0 + i * MINUTE for i in range(61)])
    write_rows(hours, [DAY0 + i * HOUR for i in range(5)])
    with pytest.raises(DownloadFileError, match="candles 1m apart.*the 1h timeframe"):
        resume_point(minutes, DAY0, HOUR)
    with pytest.raises(DownloadFileError, match="candles 1h apart.*the 1m timeframe"):
        resume_point(hours, DAY0, MINUTE)
    single = tmp_path / "one.csv"
    write_rows(single, [DAY0 + MINUTE])
    with pytest.raises(DownloadFileError, match="a candle at 2024-01-01 00:01 UTC"):
        resume_point(single, DAY0, HOUR)


def test_tail_timestamps_reads_complete_rows_only(tmp_path):
    """
    Given a file of 30 rows and a partial line at its end
    When the last timestamps are read
    Then the last 20 complete rows' times come back, oldest first
    """
    path = tmp_path / "btc.csv"
    write_rows(path, [DAY0 + i * MINUTE for i in range(30)])
    with path.open("a") as handle:
        handle.write("999")
    assert tail_timestamps(path) == [DAY0 + i * MINUTE for i in range(10, 30)]


def test_last_closed_end_and_span():
    """
    Given a time 30 s into a minute and some durations
    When the end after the last closed candle and the interval names are computed
    Then the end is that minute's open, and durations read 1m, 4h, 1d, 90s
    """
    assert last_closed_end(T0, MINUTE) == T0 - 30_000
    assert last_closed_end(T0 - 30_000, MINUTE) == T0 - 30_000
    assert [span(MINUTE), span(4 * HOUR), span(24 * HOUR), span(90_000)] == [
        "1m", "4h", "1d", "90s"]


def test_gaps_merge_and_describe():
    """
    Given two touching gaps and a separate one
    When they are merged in order
    Then the touching ones become one, and a gap counts and describes its candles
    """
    gaps: list[Gap] = []
    for gap in (Gap(0, 2 * MINUTE), Gap(2 * MINUTE, 5 * MINUTE), Gap(9 * MINUTE, 10 * MINUTE)):
        _merge(gaps, gap)
    assert gaps == [Gap(0, 5 * MINUTE), Gap(9 * MINUTE, 10 * MINUTE)]
    assert gaps[0].candles(MINUTE) == 5
    assert Gap(DAY0, DAY0 + HOUR).describe() == "2024-01-01 00:00 UTC -> 2024-01-01 01:00 UTC"


def test_gaps_inside_a_page():
    """
    Given a page starting 2 minutes after the cursor with a 3-minute hole inside
    When its gaps are listed
    Then both the leading gap and the inner hole are found
    """
    page = pd.DataFrame({"timestamp": [2 * MINUTE, 3 * MINUTE, 7 * MINUTE]})
    assert _gaps_inside(page, 0, MINUTE) == [Gap(0, 2 * MINUTE), Gap(4 * MINUTE, 7 * MINUTE)]


def test_tally_counts_only_written_rows():
    """
    Given a page of 3 candles of which append_candles wrote the last 2, then one of 0
    When they are tallied
    Then 2 rows count, first and last being the written ones
    """
    tally = _Tally()
    tally.add(pd.Series([1, 2, 3]), 2)
    tally.add(pd.Series([4]), 0)
    assert (tally.rows, tally.first, tally.last) == (2, 2, 3)


def test_progress_fraction_and_result_missing_candles(tmp_path):
    """
    Given progress a quarter through a range, an empty range, and a result with two gaps
    When the fraction and missing candles are read
    Then they are 0.25, 1.0 and the gaps' candle count
    """
    assert DownloadProgress(1, 0, 25, 0, 100).fraction == 0.25
    assert DownloadProgress(0, 0, 5, 5, 5).fraction == 1.0
    result = DownloadResult(tmp_path, MINUTE, 0, 10 * MINUTE,
                            gaps=(Gap(0, 2 * MINUTE), Gap(5 * MINUTE, 6 * MINUTE)))
    assert result.missing_candles == 3
