"""bot/failures.py and the loop: failures that cannot heal stop the bot, transient ones do not."""

from __future__ import annotations

import errno

import pytest

from bot.failures import BotStop, FailureGuard, signature
from core.errors import ExchangeUnavailable
from exchange.client import ExchangeRefused
from tests.bot_harness import BotHarness
from tests.resilience_helpers import started_bot


def test_identical_failures_stop_after_the_limit_with_one_line():
    """
    Given a guard with a limit of 3
    When the same OSError (numbers aside) fails three times in a row
    Then the third raises BotStop with exit 1 and one line naming the error and the count
    """
    guard = FailureGuard(limit=3)
    for n in range(2):
        guard.check(IsADirectoryError(21, f"Is a directory (try {n})"), "the candle cycle")
    with pytest.raises(BotStop) as caught:
        guard.check(IsADirectoryError(21, "Is a directory (try 9)"), "the candle cycle")
    assert caught.value.status == 1
    message = str(caught.value)
    assert "the candle cycle failed 3 times in a row" in message and "Is a directory" in message
    assert "\n" not in message


def test_a_success_or_another_failure_starts_the_count_again():
    """
    Given a guard with a limit of 2
    When a failure is followed by a success, or by a different failure
    Then nothing stops
    """
    guard = FailureGuard(limit=2)
    guard.check(ValueError("a"), "x")
    guard.success()
    guard.check(ValueError("a"), "x")
    guard.check(KeyError("b"), "x")
    guard.check(ValueError("a"), "x")
    assert guard.count == 1


def test_refusals_stop_at_once_and_transient_failures_never():
    """
    Given a guard
    When the exchange refuses (bad interval), is unavailable, or the disk is full, many times
    Then the refusal stops at the first try with exit 2; the others never stop the bot
    """
    guard = FailureGuard(limit=2)
    for _ in range(10):
        guard.check(ExchangeUnavailable("down"), "x")
        guard.check(OSError(errno.ENOSPC, "No space left on device"), "x")
    with pytest.raises(BotStop) as caught:
        guard.check(ExchangeRefused("fetch OHLCV refused (Invalid interval)"), "the candle cycle")
    assert caught.value.status == 2 and "Invalid interval" in str(caught.value)
    with pytest.raises(ValueError):
        FailureGuard(limit=0)


def test_signature_ignores_numbers():
    """
    Given two errors that differ only in numbers
    When their signatures are taken
    Then they are equal, and differ from another type's
    """
    assert signature(OSError("port 5001")) == signature(OSError("port 6002"))
    assert signature(OSError("x")) != signature(ValueError("x"))


def test_a_candle_file_turned_into_a_folder_stops_the_bot_with_exit_1(tmp_path):
    """
    Given the bot running on the emulator with --max-candles 50
    When its candle file is replaced by a folder
    Then run() returns 1 after 5 failed cycles with a stop reason naming the cause
    And errors.log holds the cycle's traceback once, then a count of the repeats
    """
    harness = BotHarness(tmp_path)
    try:
        bot = started_bot(harness)
        bot.max_candles = bot.candles_processed + 50
        csv = harness.settings.candles_csv
        csv.unlink()
        csv.mkdir()
        assert bot.run() == 1
        assert bot.cycles_skipped == 5
        assert "failed 5 times in a row" in bot.stop_reason
        assert "IsADirectoryError" in bot.stop_reason
    finally:
        harness.close()
    errors_log = (harness.settings.logs_dir / "errors.log").read_text()
    assert errors_log.count("Cycle failed and was skipped") == 2  # the traceback, the count
    assert "repeated 4 times" in errors_log


def test_an_interval_the_exchange_refuses_stops_at_the_first_try_with_exit_2(tmp_path):
    """
    Given the bot running on the emulator
    When the exchange refuses its candle interval (-1120 Invalid interval)
    Then run() returns 2 after that one cycle, the reason saying to check TIMEFRAME
    """
    harness = BotHarness(tmp_path)
    try:
        bot = started_bot(harness)
        bot.max_candles = bot.candles_processed + 50
        bot.client.timeframe = "7m"  # as if TIMEFRAME named an interval this exchange lacks
        assert bot.run() == 2
        assert bot.cycles_skipped == 1
        assert "Invalid interval" in bot.stop_reason and "check TIMEFRAME" in bot.stop_reason
    finally:
        harness.close()
