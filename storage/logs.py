"""Log set-up: a human trading log, an errors log with tracebacks, both rotating.

``logs/trading.log`` reads like a diary (``2025-02-28 12:00:00 - BUY order placed at 23000.00
USDT``); ``logs/errors.log`` holds every ERROR with its stack trace, a repeated one once and
then as a count (``RepeatCountingHandler``). Both files rotate by size
so a 72-hour run stays bounded. Times are UTC and come from the bot's clock when one is given,
so a run on an accelerated clock reads like the hours it simulates. API secrets are masked in
every line and traceback before any handler writes it.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.lognames import ERRORS_LOGGER, EVENTS_LOGGER

LOGGER_NAME = EVENTS_LOGGER
ERRORS_LOGGER_NAME = ERRORS_LOGGER
TRADING_LOG = "trading.log"
ERRORS_LOG = "errors.log"
LINE_FORMAT = "%(asctime)s - %(message)s"
ERROR_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_BACKUPS = 5
MASK = "***"
# While an error repeats, errors.log gets its traceback once, then a count line at least this
# often, and the whole traceback again once a day (so rotation never drops the diagnosis).
REPEAT_SUMMARY_S = 3600.0
REPEAT_RESHOW_S = 86_400.0
REPEAT_MEMORY = 32  # distinct errors remembered at once
MIN_SECRET_LENGTH = 4
_MARK = "_paperbot_handler"


class _Clock(Protocol):
    def now_ms(self) -> int: ...


class SecretFilter(logging.Filter):
    """Masks the given secret values in a record's message, traceback and stack text.

    Values shorter than four characters are ignored: masking them would shred ordinary
    words and they are no real secret anyway.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        unique = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(unique, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place so that no handler sees a secret; always keep it."""
        if not self._secrets:
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class ClockStampFilter(logging.Filter):
    """Gives each record its time from the bot's clock (once, whichever handler sees it first)."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp ``record.created``/``msecs`` with the clock's now; always keep the record."""
        if not getattr(record, "_paperbot_clock", False):
            now_ms = self._clock.now_ms()
            record.created = now_ms / 1000
            record.msecs = float(now_ms % 1000)
            record._paperbot_clock = True
        return True


class ErrorsOnlyFilter(logging.Filter):
    """Lets through ERROR and above from any bot logger, and anything sent to paperbot.errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        """True for records that belong in errors.log."""
        if record.levelno >= logging.ERROR:
            return True
        return record.name == ERRORS_LOGGER_NAME or record.name.startswith(
            ERRORS_LOGGER_NAME + "."
        )


class HumanFormatter(logging.Formatter):
    """One line per event for trading.log and the console: the traceback goes to errors.log."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        """``<UTC time> - <message>``, with a pointer to errors.log when there was a traceback."""
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info or record.exc_text:
            text += " (traceback in errors.log)"
        return text


class UtcFormatter(logging.Formatter):
    """The standard formatter (tracebacks included) with UTC times."""

    converter = staticmethod(time.gmtime)


def _duration(seconds: float) -> str:
    """A span for a count line: ``40 s``, ``25 min``, ``2 h``, ``3 days``."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


@dataclass
class _Seen:
    """One error's record in errors.log: when written in full, repeats not yet counted."""

    written: float
    summarized: float
    first_line: str
    level: int
    name: str
    count: int = 0
    last: float = 0.0


class RepeatCountingHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that writes a repeated error once and then counts it.

    Two records are the same error when their message and traceback match with every number
    (and hex address) taken out: a 200-minute outage is one traceback and
    ``... repeated 120 times in 2 h (until <time>): <message>``, not megabytes. The count line is
    written when another error is written, at least every ``REPEAT_SUMMARY_S`` of log time,
    before the traceback is shown again (once a day) and when the handler closes.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def _key(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = (self.formatter or logging.Formatter()).formatException(
                record.exc_info)
        text = f"{record.name}|{record.getMessage()}|{record.exc_text or ''}"
        return re.sub(r"[0-9]+", "#", re.sub(r"0x[0-9a-fA-F]+", "0x", text))

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``, or count it when the same error was written recently."""
        try:
            key = self._key(record)
        except Exception:  # noqa: BLE001 - never lose a record to the de-duplication
            super().emit(record)
            return
        now = record.created
        seen = self._seen.get(key)
        if seen is not None and now - seen.written < REPEAT_RESHOW_S:
            seen.count += 1
            seen.last = now
            if now - seen.summarized >= REPEAT_SUMMARY_S:
                self._write_count(seen)
            return
        self._flush_counts()
        super().emit(record)
        self._seen[key] = _Seen(written=now, summarized=now, level=record.levelno,
                                name=record.name,
                                first_line=record.getMessage().splitlines()[0][:300]
                                if record.getMessage() else "")
        self._seen.move_to_end(key)
        while len(self._seen) > REPEAT_MEMORY:
            self._seen.popitem(last=False)

    def _write_count(self, seen: _Seen) -> None:
        """One line: how often an error repeated since it was last written or counted."""
        if not seen.count:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seen.last))
        line = logging.LogRecord(
            seen.name, seen.level, __file__, 0,
            "... repeated %d times in %s (until %s): %s",
            (seen.count, _duration(seen.last - seen.summarized), stamp, seen.first_line), None)
        line.created, line.msecs = seen.last, (seen.last * 1000) % 1000
        super().emit(line)
        seen.count, seen.summarized = 0, seen.last

    def _flush_counts(self) -> None:
        for seen in self._seen.values():
            self._write_count(seen)

    def close(self) -> None:
        """Write the pending count lines, then close the file."""
        self.acquire()
        try:
            if self.stream is not None or not self.delay:
                self._flush_counts()
        finally:
            self.release()
        super().close()


def _install(
    logger: logging.Logger,
    handler: logging.Handler,
    formatter: logging.Formatter,
    filters: list[logging.Filter],
) -> None:
    handler.setFormatter(formatter)
    for item in filters:
        handler.addFilter(item)
    setattr(handler, _MARK, True)
    logger.addHandler(handler)


def teardown_logging() -> None:
    """Remove and close every handler ``setup_logging`` installed."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, _MARK, False):
            logger.removeHandler(handler)
            handler.close()


def setup_logging(
    logs_dir: str | Path,
    *,
    console: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
    secrets: Iterable[str | None] = (),
    clock: _Clock | None = None,
    level: int = logging.INFO,
) -> None:
    """Route the ``paperbot`` loggers to ``logs_dir/trading.log`` and ``logs_dir/errors.log``.

    trading.log gets every record at ``level`` and above as one human line; errors.log gets
    ERROR records from any ``paperbot.*`` logger plus everything logged on
    ``paperbot.errors``, with tracebacks. Each file rotates at ``max_bytes`` keeping
    ``backups`` old files. ``console`` adds the human lines on stderr. Calling it again
    replaces the handlers it installed before instead of adding more.
    """
    if max_bytes <= 0 or backups < 1:
        raise ValueError(
            f"log rotation needs max_bytes > 0 and backups >= 1 (got {max_bytes}, {backups});"
            " without both the logs would grow without bound"
        )
    directory = Path(logs_dir)
    directory.mkdir(parents=True, exist_ok=True)
    teardown_logging()
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    secret_filter = SecretFilter(secrets)
    filters: list[logging.Filter] = [secret_filter]
    if clock is not None:
        filters.insert(0, ClockStampFilter(clock))
    human = HumanFormatter(LINE_FORMAT, DATE_FORMAT)

    trading = logging.handlers.RotatingFileHandler(
        directory / TRADING_LOG, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    trading.setLevel(level)
    _install(logger, trading, human, filters)

    errors = RepeatCountingHandler(
        directory / ERRORS_LOG, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    errors.setLevel(logging.DEBUG)
    _install(logger, errors, UtcFormatter(ERROR_FORMAT, DATE_FORMAT),
             [ErrorsOnlyFilter(), *filters])

    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(max(level, logging.INFO))
        _install(logger, stream, human, filters)
