"""Log set-up: file routing, formats, clock times, rotation, secret masking, idempotence."""

from __future__ import annotations

import logging
import re

import pytest

from core.clock import ManualClock
from storage.logs import (
    ERRORS_LOG,
    TRADING_LOG,
    SecretFilter,
    setup_logging,
    teardown_logging,
)

T0 = 1_740_744_000_000  # 2025-02-28 12:00:00 UTC
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@pytest.fixture(autouse=True)
def _clean_handlers():
    yield
    teardown_logging()


def _read(path):
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_info_goes_to_trading_log_as_a_human_line_in_clock_time(tmp_path):
    """
    Given logging set up with a manual clock at 2025-02-28 12:00:00 UTC
    When the bot logs a BUY event
    Then trading.log holds "2025-02-28 12:00:00 - BUY order placed at 23000 USDT"
    And errors.log stays empty
    """
    clock = ManualClock(T0)
    setup_logging(tmp_path, console=False, clock=clock)
    logging.getLogger("paperbot").info("BUY order placed at %s USDT", 23000)
    clock.advance(72 * 3600)
    logging.getLogger("paperbot").info("still running")
    lines = _read(tmp_path / TRADING_LOG).splitlines()
    assert lines == [
        "2025-02-28 12:00:00 - BUY order placed at 23000 USDT",
        "2025-03-03 12:00:00 - still running",
    ]
    assert _read(tmp_path / ERRORS_LOG) == ""


def test_without_a_clock_times_are_utc_wall_time(tmp_path):
    """
    Given logging set up without a clock
    When a message is logged
    Then the line starts with a UTC time in the YYYY-MM-DD HH:MM:SS form
    """
    setup_logging(tmp_path, console=False)
    logging.getLogger("paperbot").info("hello")
    line = _read(tmp_path / TRADING_LOG).strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - hello", line)


def test_errors_get_tracebacks_in_errors_log_and_one_line_in_trading_log(tmp_path):
    """
    Given logging set up
    When an exception is logged at ERROR on the paperbot logger
    Then errors.log has the message with level, logger and the stack trace
    And trading.log has one line pointing to errors.log
    """
    setup_logging(tmp_path, console=False, clock=ManualClock(T0))
    try:
        raise RuntimeError("exchange went away")
    except RuntimeError:
        logging.getLogger("paperbot").exception("order failed")
    errors = _read(tmp_path / ERRORS_LOG)
    assert errors.startswith("2025-02-28 12:00:00 - ERROR - paperbot - order failed\n")
    assert "Traceback (most recent call last)" in errors
    assert "RuntimeError: exchange went away" in errors
    assert _read(tmp_path / TRADING_LOG).splitlines() == [
        "2025-02-28 12:00:00 - order failed (traceback in errors.log)"
    ]


def test_errors_log_takes_errors_from_children_and_everything_from_paperbot_errors(tmp_path):
    """
    Given logging set up
    When a child logger logs an ERROR, paperbot.errors logs a WARNING and paperbot a WARNING
    Then errors.log has the first two only, and trading.log has all three
    """
    setup_logging(tmp_path, console=False)
    logging.getLogger("paperbot.exchange").error("child error")
    logging.getLogger("paperbot.errors").warning("explicit error-log entry")
    logging.getLogger("paperbot").warning("ordinary warning")
    errors = _read(tmp_path / ERRORS_LOG)
    assert "child error" in errors and "explicit error-log entry" in errors
    assert "ordinary warning" not in errors
    assert len(_read(tmp_path / TRADING_LOG).splitlines()) == 3


def test_setup_twice_does_not_duplicate_lines(tmp_path):
    """
    Given logging set up twice (the second time into another directory)
    When one message is logged
    Then it is written once, into the second directory only
    """
    setup_logging(tmp_path / "a", console=True)
    setup_logging(tmp_path / "b", console=False)
    logging.getLogger("paperbot").info("once")
    assert _read(tmp_path / "b" / TRADING_LOG).count("once") == 1
    assert _read(tmp_path / "a" / TRADING_LOG) == ""
    marked = [h for h in logging.getLogger("paperbot").handlers if hasattr(h, "_paperbot_handler")]
    assert len(marked) == 2


def test_rotation_keeps_the_logs_bounded(tmp_path):
    """
    Given logging set up with 400-byte files and 2 backups
    When 500 lines are logged
    Then trading.log, trading.log.1 and trading.log.2 exist, no third backup, each near 400 bytes
    """
    setup_logging(tmp_path, console=False, max_bytes=400, backups=2, clock=ManualClock(T0))
    log = logging.getLogger("paperbot")
    for i in range(500):
        log.info("price check %04d", i)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [ERRORS_LOG, TRADING_LOG, f"{TRADING_LOG}.1", f"{TRADING_LOG}.2"]
    for name in names:
        assert (tmp_path / name).stat().st_size <= 400
    assert "price check 0499" in _read(tmp_path / TRADING_LOG)


def test_bad_rotation_settings_are_refused(tmp_path):
    """
    Given a max_bytes of 0 (which would disable rotation)
    When logging is set up
    Then ValueError explains that the logs would grow without bound
    """
    with pytest.raises(ValueError, match="without bound"):
        setup_logging(tmp_path, max_bytes=0)


def test_secrets_are_masked_in_messages_args_and_tracebacks(tmp_path, capsys):
    """
    Given logging set up with the API key and secret, console on
    When a message, a %-argument and an exception text contain them
    Then no log file nor the console contains either value, and *** stands in their place
    """
    setup_logging(tmp_path, console=True, secrets=[KEY, SECRET])
    log = logging.getLogger("paperbot")
    log.info("using key %s", KEY)
    log.warning(f"signed with {SECRET}")
    try:
        raise ConnectionError(f"GET /api/v3/account?apiKey={KEY}&secret={SECRET} failed")
    except ConnectionError:
        logging.getLogger("paperbot.exchange").exception("request failed")
    log.error("where", stack_info=True, extra={"k": KEY})
    console = capsys.readouterr().err
    texts = [_read(tmp_path / TRADING_LOG), _read(tmp_path / ERRORS_LOG), console]
    for text in texts:
        assert KEY not in text and SECRET not in text
    assert "using key ***" in texts[0]
    assert "apiKey=***&secret=*** failed" in texts[1]
    assert "using key ***" in console


def test_console_shows_human_lines_on_stderr(tmp_path, capsys):
    """
    Given logging set up with the console on and a manual clock
    When an event is logged
    Then stderr shows the same human line as trading.log
    """
    setup_logging(tmp_path, console=True, clock=ManualClock(T0))
    logging.getLogger("paperbot").info("SELL order placed")
    assert capsys.readouterr().err == "2025-02-28 12:00:00 - SELL order placed\n"


def test_secret_filter_ignores_short_and_empty_values():
    """
    Given a SecretFilter built with None, an empty string, a 3-letter value and a real secret
    When text holding all of them is masked
    Then only the real secret is replaced
    """
    masker = SecretFilter([None, "", "BTC", SECRET])
    assert masker.mask(f"BTC {SECRET}") == "BTC ***"


def test_secret_filter_masks_a_longer_secret_before_its_prefix():
    """
    Given two secrets where one starts with the other
    When text holding the longer one is masked
    Then the longer one is masked whole, leaving no tail
    """
    masker = SecretFilter(["abcd", "abcdefgh"])
    assert masker.mask("x abcdefgh y") == "x *** y"


def test_secret_filter_without_secrets_leaves_records_alone():
    """
    Given a SecretFilter with no secrets
    When a record passes through it
    Then the record is kept and unchanged
    """
    record = logging.LogRecord("paperbot", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert SecretFilter([]).filter(record) is True
    assert record.msg == "a %s" and record.args == ("b",)


def test_teardown_removes_only_our_handlers(tmp_path):
    """
    Given a foreign handler on the paperbot logger and logging set up
    When teardown_logging runs
    Then our handlers are gone and the foreign one stays
    """
    logger = logging.getLogger("paperbot")
    foreign = logging.NullHandler()
    logger.addHandler(foreign)
    try:
        setup_logging(tmp_path, console=True)
        teardown_logging()
        assert logger.handlers == [foreign]
    finally:
        logger.removeHandler(foreign)


def _fail(port: int) -> None:
    raise ConnectionRefusedError(f"connect to 127.0.0.1:{port} refused")


def test_a_repeated_traceback_is_written_once_then_counted(tmp_path):
    """
    Given errors.log set up on a manual clock
    When the same failure (only its port number differs) is logged with its traceback every
    minute for 2 hours, and then a different error
    Then errors.log holds the traceback once, count lines for the repeats (1 h, then the rest)
    And the different error in full, and it stays a few KB instead of megabytes
    """
    clock = ManualClock(T0)
    setup_logging(tmp_path, console=False, clock=clock)
    errors = logging.getLogger("paperbot.errors")
    for minute in range(121):
        try:
            _fail(50_000 + minute)
        except ConnectionRefusedError:
            errors.exception("fetch OHLCV failed after 3 attempt(s)")
        clock.advance(60)
    errors.error("something else broke")
    teardown_logging()
    text = _read(tmp_path / ERRORS_LOG)
    assert text.count("Traceback") == 1
    counts = re.findall(r"\.\.\. repeated (\d+) times in (\S+ \S+)", text)
    assert counts == [("60", "1 h"), ("60", "1 h")]
    assert "something else broke" in text and len(text) < 3000


def test_pending_repeats_are_counted_when_the_log_closes(tmp_path):
    """
    Given an error logged three times within a minute
    When logging is torn down (the bot stops)
    Then errors.log ends with a count line for the two repeats
    """
    clock = ManualClock(T0)
    setup_logging(tmp_path, console=False, clock=clock)
    for _ in range(3):
        logging.getLogger("paperbot").error("candle file is a folder")
        clock.advance(10)
    teardown_logging()
    lines = _read(tmp_path / ERRORS_LOG).splitlines()
    assert len(lines) == 2 and "repeated 2 times in 20 s" in lines[-1]
    assert "candle file is a folder" in lines[-1]


def test_a_repeated_error_is_shown_in_full_again_after_a_day(tmp_path):
    """
    Given an error that repeats every hour for more than a day
    When it is logged
    Then the full message appears again after 24 h, so rotation cannot drop the diagnosis
    """
    clock = ManualClock(T0)
    setup_logging(tmp_path, console=False, clock=clock)
    for _ in range(26):
        logging.getLogger("paperbot.errors").error("disk full")
        clock.advance(3600)
    teardown_logging()
    text = _read(tmp_path / ERRORS_LOG)
    full = [line for line in text.splitlines() if line.endswith("paperbot.errors - disk full")]
    assert len(full) == 2
