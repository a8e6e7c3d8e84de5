"""Which failures of the loop stop the bot, and when.

A days-long run must survive a bad cycle, but a failure that repeats every cycle without
changing (a candle file that is a folder, a broken symlink, ``/proc``; an interval the exchange
refuses) would otherwise loop forever: thousands of failed cycles, megabytes of tracebacks and
``--max-candles`` never reached. Three kinds:

* **refusals** (``ExchangeRefused``: bad interval, bad symbol, refused API key): retrying cannot
  fix them, so the first one stops the bot (exit 2, a setting to fix);
* **transient** (the exchange unreachable, a full disk): they heal by themselves; the loop
  backs off and goes on;
* **anything else**: counted by its signature (type and message with the numbers taken out);
  ``limit`` identical failures in a row stop the bot (exit 1) with one line naming the cause.
  Any success, or a different failure, starts the count again.
"""

from __future__ import annotations

import errno
import re

from core.errors import ExchangeRefused, ExchangeUnavailable

DEFAULT_LIMIT = 5
# A full disk or quota heals when space is freed: the bot keeps going (and back-fills later).
TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class BotStop(Exception):
    """The bot must stop; ``status`` is the exit status, the message one line for the user."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def signature(exc: BaseException) -> str:
    """What makes two failures "the same": type and message, numbers replaced by ``#``."""
    return f"{type(exc).__name__}: {re.sub(r'[0-9]+', '#', str(exc))}"


def is_refusal(exc: BaseException) -> bool:
    """True for an exchange refusal that no retry can fix."""
    return isinstance(exc, ExchangeRefused)


def is_transient(exc: BaseException) -> bool:
    """True for failures that heal by themselves (exchange unreachable, disk full)."""
    if isinstance(exc, ExchangeUnavailable):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class FailureGuard:
    """Counts identical consecutive failures; ``check`` raises BotStop when one cannot heal."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the failure limit must be at least 1, got {limit}")
        self.limit = limit
        self.last: str | None = None
        self.count = 0

    def success(self) -> None:
        """A step went through: the count starts again."""
        self.last, self.count = None, 0

    def check(self, exc: BaseException, where: str) -> None:
        """Record a failure of ``where`` (e.g. "the candle cycle"); BotStop if it cannot heal."""
        from exchange.retry import one_line

        if is_refusal(exc):
            raise BotStop(f"stopping: {where} was refused by the exchange, which no retry can"
                          f" fix: {exc}", status=2) from exc
        if is_transient(exc):
            return
        key = signature(exc)
        self.count = self.count + 1 if key == self.last else 1
        self.last = key
        if self.count >= self.limit:
            raise BotStop(f"stopping: {where} failed {self.count} times in a row with the same"
                          f" error, which does not heal by itself: {one_line(exc)}; fix it and"
                          " start again", status=1) from exc
