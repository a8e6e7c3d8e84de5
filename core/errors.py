"""The project's errors under one root, each saying what the bot (or command) does next.

``PaperbotError`` is the root. Below it three families tell a caller how to react without
knowing which module raised:

- ``InputError``: something the user gave (settings, a file, an argument, a state file) is
  wrong. The command stops with the one-line message; nothing already stored is changed.
- ``ExchangeError``: the exchange could not be used for this call. Each subclass says whether
  the bot skips the cycle, pauses orders or stops.
- ``StartupError``: the bot cannot start; the message says what to do, ``status`` is the exit.

The errors that travel between layers (exchange -> risk -> bot, storage -> bot) are defined
here; an error of one command's own input (``SettingsError``, ``BacktestError``, ...) stays
beside the code that raises it and derives from ``InputError``. Classes that were
``ValueError`` subclasses stay so, so no existing ``except ValueError`` changes meaning.
"""

from __future__ import annotations


class PaperbotError(Exception):
    """Root of every error the project raises on purpose; its message is one line for the user."""


# --- bad input ------------------------------------------------------------------------------


class InputError(PaperbotError):
    """Input the user must fix (settings, files, arguments).

    The command stops with this one line naming what is wrong and how to fix it; no data
    already stored is lost or rewritten.
    """


class CandleFileError(InputError, ValueError):
    """A candle file or candle batch that cannot be used; the message is one line for the user.

    The bot moves a damaged candle file aside at start and begins a fresh one; commands that
    read candles (backtest, signals, compare) stop with this line.
    """


class StateFileError(InputError):
    """The state file cannot be used; the message is one line saying what to do.

    The bot refuses to start (exit 2) and keeps the damaged file aside, so no position is
    forgotten; the user checks the trades journal and removes or repairs the file.
    """


class TradeJournalError(InputError):
    """The trades journal cannot be used; the message is one line saying what to do.

    The bot refuses to start (exit 2). ``damaged`` is True for bad rows or bytes (the file is
    ours but broken: it is moved aside for the user to correct, and the next start begins a
    fresh journal), False for a file that is not a trades journal at all (a foreign header),
    which is never moved.
    """

    def __init__(self, message: str, damaged: bool = True) -> None:
        super().__init__(message)
        self.damaged = damaged


class OwnerMismatch(InputError):
    """The saved position or order belongs to another symbol or exchange than this run's.

    The bot refuses to start (exit 2) so it never manages, or forgets, a position it does not
    own; the message names the setting that would manage it.
    """


# --- the exchange ---------------------------------------------------------------------------


class ExchangeError(PaperbotError):
    """The exchange could not be used for this call; the subclass says what the bot does next."""


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached or answered with a retryable error after every retry.

    The caller skips this cycle and tries again at the next one; nothing was changed on the
    exchange (for orders: the client has already checked by client order id).
    """


class OrderRejected(ExchangeError):
    """The exchange refused an order for a reason retrying cannot fix (funds, filters, auth).

    The bot journals nothing, drops the order intent and sends no new order until the next
    candle, so a stop-loss polled every few seconds does not hammer the exchange.
    """


class ExchangeRefused(ExchangeError):
    """The exchange refused a read for a reason retrying cannot fix (API keys, symbol).

    The bot cannot work until the configuration is fixed: at start it stops with this line;
    during a run the call is logged as an error and the loop goes on to the next cycle.
    """


class EndpointRefused(ExchangeError):
    """A configured endpoint is neither Binance Spot Testnet nor the local emulator.

    The bot refuses to start (exit 2) before any request is sent: real money is out of scope.
    """


# --- start-up -------------------------------------------------------------------------------


class StartupError(PaperbotError):
    """The bot cannot start; the message is one line saying what to do. ``status`` is the exit.

    ``main.py`` prints the line and exits with ``status`` (2: fix the settings or files,
    1: the exchange is unreachable now, try again later).
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status
