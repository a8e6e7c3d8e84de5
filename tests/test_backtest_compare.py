"""Export dates to UTC, timezone detection and the trade-by-trade comparison."""

import numpy as np
import pytest

from backtest.compare import (
    CompareError,
    Comparison,
    OurTrade,
    compare_trades,
    describe_tz,
    detect_tz,
    entry_score,
    parse_times,
    resolve_tz,
)
from backtest.tvexport import ExportTrade, Number

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000


def export_trade(number, entry_time, exit_time, entry=100.0, exit_=104.0, pnl="4",
                 direction=1, is_open=False):
    """An export trade with 2-decimal prices."""
    return ExportTrade(number, direction, entry_time, exit_time, Number(entry, 2),
                       Number(exit_, 2), 1.0, Number(float(pnl), 0 if "." not in pnl else
                                                     len(pnl.split(".")[1])),
                       "L", "S", is_open)


def test_dates_with_offsets_convert_exactly_and_ignore_tz():
    """
    Given dates written with -0500 and -0400 offsets
    When they are converted
    Then both give their UTC instant whatever tz is passed
    """
    got = parse_times(["2024-01-01T19:00:00-0500", "2024-07-01T19:00:00-0400"], "Asia/Tokyo")
    assert list(got) == [T0 + 24 * HOUR, T0 + (182 * 24 + 23) * HOUR]


def test_naive_dates_need_a_zone():
    """
    Given naive dates
    When they are converted without a zone, with a fixed offset and with a named zone
    Then the first fails and the others shift by the zone's offset (DST included)
    """
    with pytest.raises(CompareError, match="--tz"):
        parse_times(["2024-01-01 02:00"], None)
    assert list(parse_times(["2024-01-01 02:00"], 120)) == [T0]
    berlin = parse_times(["2024-01-01 01:00", "2024-07-01 02:00"], "Europe/Berlin")
    assert list(berlin) == [T0, T0 + 182 * 24 * HOUR]


def test_a_local_time_skipped_by_dst_becomes_minus_one():
    """
    Given 02:30 on the day New York skips from 02:00 to 03:00
    When it is converted in America/New_York
    Then it is -1 (no such instant)
    """
    assert list(parse_times(["2024-03-10 02:30"], "America/New_York")) == [-1]


@pytest.mark.parametrize(
    ("texts", "tz", "words"),
    [
        (["2024-01-01T00:00:00+0000", "2024-01-01 00:00"], "UTC", "mixes"),
        (["not a date"], "UTC", "unreadable date"),
        (["2024-01-01 00:00"], "Mars/Olympus", "unknown timezone"),
    ],
)
def test_bad_dates_or_zones_are_one_line_errors(texts, tz, words):
    """
    Given mixed dates, an unreadable date or an unknown zone
    When the dates are converted
    Then CompareError says so in one line
    """
    with pytest.raises(CompareError, match=words) as caught:
        parse_times(texts, tz)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("+02:00", 120), ("-0500", -300), ("UTC+3", 180), ("GMT-4:30", -270), ("UTC", "UTC"),
     ("Europe/Berlin", "Europe/Berlin"), (None, None)],
)
def test_resolve_tz_reads_offsets_and_names(text, expected):
    """
    Given a --tz value
    When it is resolved
    Then offsets become minutes east of UTC and names stay names
    """
    assert resolve_tz(text) == expected


def test_describe_tz():
    """
    Given an offset of -270 minutes, a zone name and None
    When they are described
    Then they read UTC-04:30, the name and 'offsets written in the export'
    """
    assert describe_tz(-270) == "UTC-04:30"
    assert describe_tz("Asia/Tokyo") == "Asia/Tokyo"
    assert describe_tz(None) == "offsets written in the export"


def candles_for_detection():
    """Hourly stamps and opens 100, 101, ... (2 decimals)."""
    stamps = T0 + HOUR * np.arange(48, dtype=np.int64)
    return stamps, 100.0 + np.arange(48)


def test_entry_score_counts_entries_on_a_matching_open():
    """
    Given two entries at hours 3 and 5 priced 103 and 999
    When they are scored against the candles
    Then only the first counts
    """
    stamps, opens = candles_for_detection()
    ms = np.array([T0 + 3 * HOUR, T0 + 5 * HOUR])
    assert entry_score(ms, [Number(103.0, 2), Number(999.0, 2)], stamps, opens) == 1


def test_detect_tz_finds_an_unusual_fixed_offset():
    """
    Given naive export dates written at UTC+05:45 (a zone not in the common list)
    When the timezone is detected
    Then +345 minutes is found with every entry matching
    """
    stamps, opens = candles_for_detection()
    trades = []
    for k, hour in enumerate((2, 7, 11, 20)):
        local = np.datetime64(T0 + hour * HOUR + 345 * 60_000, "ms").astype(object)
        text = local.strftime("%Y-%m-%d %H:%M")
        trades.append(export_trade(k + 1, text, text, entry=100.0 + hour))
    assert detect_tz(trades, stamps, opens) == (345, 4)


def test_detect_tz_is_none_when_dates_carry_offsets():
    """
    Given export dates with offsets
    When the timezone is detected
    Then None is returned: the dates convert by themselves
    """
    stamps, opens = candles_for_detection()
    trade = export_trade(1, "2024-01-01T02:00:00+0000", "2024-01-01T04:00:00+0000")
    assert detect_tz([trade], stamps, opens) == (None, 1)


def ours(entry_ms, exit_ms, entry=100.0, exit_=104.0, pnl=4.0, direction=1, is_open=False):
    """A backtest trade."""
    return OurTrade(direction, entry_ms, exit_ms, entry, exit_, pnl, is_open)


def test_identical_trades_match():
    """
    Given one backtest trade equal to the export's within its rounding
    When they are compared
    Then it matches and the comparison passes
    """
    theirs = [export_trade(1, "a", "b", pnl="4.0")]
    got = compare_trades([ours(T0, T0 + HOUR, pnl=4.04)], theirs, np.array([T0]),
                         np.array([T0 + HOUR]))
    assert got.matched == [1] and got.all_match


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"exit_": 104.5}, "exit price"),
        ({"entry": 99.0}, "entry price"),
        ({"pnl": 4.2}, "net P&L"),
        ({"direction": -1}, "side short vs long"),
        ({"exit_ms": T0 + 2 * HOUR}, "exit time 2024-01-01 02:00 UTC vs 2024-01-01 01:00 UTC"),
        ({"entry_ms": T0 - HOUR}, "entry time"),
        ({"is_open": True}, "status open vs closed"),
    ],
)
def test_a_differing_field_is_reported(change, words):
    """
    Given a backtest trade that differs from the export in one field
    When they are compared
    Then the trade is mismatched with that field named, backtest value first
    """
    fields = {"entry_ms": T0, "exit_ms": T0 + HOUR, **change}
    theirs = [export_trade(1, "a", "b", pnl="4.0")]
    got = compare_trades([ours(**fields)], theirs, np.array([T0]), np.array([T0 + HOUR]))
    assert not got.all_match
    assert any(words in d for d in got.differences[1])


def test_missing_trades_on_either_side_are_mismatches():
    """
    Given two backtest trades against an export holding trades #1 and #3
    When they are compared
    Then #1 matches, #2 is missing in the export and #3 missing in the backtest
    """
    theirs = [export_trade(1, "a", "b"), export_trade(3, "c", "d")]
    mine = [ours(T0, T0 + HOUR), ours(T0 + 2 * HOUR, T0 + 3 * HOUR)]
    got = compare_trades(mine, theirs, np.array([T0, T0]), np.array([T0 + HOUR, T0 + HOUR]))
    assert got.matched == [1]
    assert got.differences == {2: ["missing in the export"], 3: ["missing in the backtest"]}


def test_an_empty_comparison_does_not_pass():
    """
    Given no trades on either side
    When the outcome is judged
    Then it does not count as all matching
    """
    assert not Comparison().all_match
    assert not compare_trades([], [], np.array([]), np.array([])).all_match
