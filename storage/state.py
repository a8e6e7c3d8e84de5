"""The bot's state file: the open position and the order intent in flight, saved atomically.

The state file is what lets a killed bot resume: it says whether a position is open (and at
what actual fill price) and whether an order was about to be, or may have been, sent. It is
rewritten whole on every change through ``write_atomic``, so it is always either the previous
or the next version, never a mix.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StateFileError
from core.lognames import EVENTS_LOGGER
from storage.atomic import temp_files_for, write_atomic

STATE_VERSION = 1
PENDING_REASONS = ("signal", "stop_loss", "take_profit", "stop_entry")
PENDING_SIDES = ("buy", "sell")

log = logging.getLogger(EVENTS_LOGGER)


@dataclass
class Position:
    """An open long position as the exchange filled it.

    ``quantity`` is the base amount held: the filled quantity less the buy fee when the fee
    was charged in the base asset. ``entry_price`` is the actual average fill price.
    """

    quantity: float
    entry_price: float
    entry_time_ms: int
    entry_order_id: str
    entry_client_order_id: str
    entry_fee: float = 0.0
    entry_fee_currency: str = ""
    requested_price: float | None = None


@dataclass
class PendingOrder:
    """An order the bot decided to send and whose outcome is not yet recorded.

    Saved before the order is sent; cleared once its fill is journaled and the position
    updated, or once the exchange confirms it has no order with this client id.
    """

    client_order_id: str
    side: str
    quantity: float
    reason: str
    requested_price: float | None
    signal_candle_ms: int | None
    created_ms: int


@dataclass
class StopEntry:
    """A stop entry armed client-side, watched by the price poll like the stop-loss.

    ``side`` buy opens a long when the last price reaches ``level`` from below; sell closes
    the long when it falls to ``level`` (the spot bot never shorts). ``entry_id`` is the
    strategy's order id (one order per id), ``oca`` its OCA cancel group ("" for none).
    """

    side: str
    level: float
    entry_id: str
    oca: str = ""
    placed_candle_ms: int | None = None


@dataclass
class BotState:
    """Everything the bot must remember across restarts.

    ``symbol`` is the market the position and pending order belong to; ``extra`` is free
    room for the bot loop (JSON values only).
    """

    position: Position | None = None
    pending: PendingOrder | None = None
    last_candle_ms: int | None = None
    order_seq: int = 0
    version: int = STATE_VERSION
    symbol: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    stop_entries: list[StopEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this state."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> BotState:
        """Build a state from a parsed state file; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
        version = data.get("version")
        if not isinstance(version, int):
            raise ValueError("'version' is missing or not an integer")
        if version > STATE_VERSION:
            raise ValueError(f"version {version} is newer than this bot understands")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
        state = cls(
            position=_record(Position, data.get("position"), "position"),
            pending=_pending(data.get("pending")),
            last_candle_ms=_optional_int(data.get("last_candle_ms"), "last_candle_ms"),
            order_seq=_int(data.get("order_seq", 0), "order_seq"),
            version=STATE_VERSION,
            symbol=_str(data.get("symbol", ""), "symbol"),
            extra=_dict(data.get("extra", {}), "extra"),
            stop_entries=_stop_entries(data.get("stop_entries", [])),
        )
        problem = state_value_problem(state)
        if problem is not None:
            raise ValueError(problem)
        return state


_NUMBER_FIELDS = {"quantity", "entry_price", "entry_fee", "requested_price", "level"}
_INT_FIELDS = {"entry_time_ms", "signal_candle_ms", "created_ms", "placed_candle_ms"}
# Numbers that must be above 0 when present; the others (a fee) must be at least 0.
_POSITIVE_FIELDS = {"quantity", "entry_price", "requested_price", "level"}


def state_value_problem(state: BotState) -> str | None:
    """The first out-of-range number of a state (one phrase naming it), or None.

    Every number must be finite; quantities and prices above 0, fees, times and the order
    sequence at least 0. A NaN quantity could never be sold, an infinite entry price fires an
    instant stop-loss, a negative one makes up a profit: none may reach the position manager.
    """
    records: list[tuple[str, Any]] = [("position", state.position), ("pending", state.pending)]
    records += [(f"stop_entries[{k}]", e) for k, e in enumerate(state.stop_entries)]
    for name, record in records:
        if record is None:
            continue
        for spec in fields(record):
            value = getattr(record, spec.name)
            label = f"{name}.{spec.name}"
            if spec.name in _NUMBER_FIELDS and value is not None:
                if not math.isfinite(value):
                    return f"'{label}' is {value!r}, not a finite number"
                if spec.name in _POSITIVE_FIELDS and value <= 0:
                    return f"'{label}' is {value!r}; it must be above 0"
                if value < 0:
                    return f"'{label}' is {value!r}; it must not be negative"
            if spec.name in _INT_FIELDS and value is not None and value < 0:
                return f"'{label}' is {value!r}; a time cannot be negative"
    if state.last_candle_ms is not None and state.last_candle_ms < 0:
        return f"'last_candle_ms' is {state.last_candle_ms!r}; a time cannot be negative"
    if state.order_seq < 0:
        return f"'order_seq' is {state.order_seq!r}; it must not be negative"
    return None


def _record(kind: type, raw: Any, name: str) -> Any:
    """A Position or PendingOrder from its dict, checking every field's type."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"'{name}' is not an object")
    expected = {f.name: f for f in fields(kind)}
    unknown = set(raw) - set(expected)
    if unknown:
        raise ValueError(f"'{name}' has unknown key(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, spec in expected.items():
        if key not in raw:
            if spec.default is not MISSING:
                continue
            raise ValueError(f"'{name}.{key}' is missing")
        value = raw[key]
        label = f"{name}.{key}"
        if key in _NUMBER_FIELDS:
            values[key] = _optional_number(value, label)
        elif key in _INT_FIELDS:
            values[key] = _optional_int(value, label)
        elif not isinstance(value, str):
            raise ValueError(f"'{label}' is not a string")
        else:
            values[key] = value
    try:
        return kind(**values)
    except TypeError as exc:
        raise ValueError(f"'{name}' is incomplete ({exc})") from None


def _pending(raw: Any) -> PendingOrder | None:
    """A PendingOrder with its side and reason checked."""
    pending = _record(PendingOrder, raw, "pending")
    if pending is None:
        return None
    if pending.side not in PENDING_SIDES:
        raise ValueError(f"'pending.side' {pending.side!r} is not buy or sell")
    if pending.reason not in PENDING_REASONS:
        raise ValueError(f"'pending.reason' {pending.reason!r} is not one of {PENDING_REASONS}")
    return pending


def _stop_entries(raw: Any) -> list[StopEntry]:
    """The armed stop entries, each with its side checked."""
    if not isinstance(raw, list):
        raise ValueError("'stop_entries' is not a list")
    entries = []
    for k, item in enumerate(raw):
        entry = _record(StopEntry, item, f"stop_entries[{k}]")
        if entry.side not in PENDING_SIDES:
            raise ValueError(f"'stop_entries[{k}].side' {entry.side!r} is not buy or sell")
        if entry.level is None:
            raise ValueError(f"'stop_entries[{k}].level' is not a number")
        entries.append(entry)
    return entries


def _optional_number(value: Any, label: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{label}' is not a number")
    return float(value)


def _optional_int(value: Any, label: str) -> int | None:
    if value is None:
        return None
    return _int(value, label)


def _int(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{label}' is not an integer")
    return value


def _str(value: Any, label: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{label}' is not a string")
    return value


def _dict(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"'{label}' is not an object")
    return value


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class StateStore:
    """Loads and atomically saves a ``BotState`` as JSON at ``path`` (permission 0o600).

    With a ``reserve`` (storage.reserve.DiskReserve) a save that fails on a full disk frees
    the reserve and tries again, so a stop-loss can still save its intent and sell.
    """

    def __init__(self, path: str | Path, reserve: Any = None) -> None:
        self.path = Path(path)
        self.reserve = reserve

    def ready_to_open(self) -> bool:
        """False while the disk reserve a new position needs cannot be made (disk full)."""
        return self.reserve is None or self.reserve.ready()

    def load(self) -> BotState:
        """The saved state, or a fresh flat state when no file exists yet.

        A file that cannot be parsed is moved aside to ``<name>.corrupt-<UTC stamp>`` (so the
        evidence is kept and the next start is not blocked by it) and StateFileError is raised
        naming that copy and what to do. Temp files left by a killed save are removed.
        """
        for leftover in temp_files_for(self.path):
            log.warning("removed %s left by an interrupted state save", leftover)
            leftover.unlink(missing_ok=True)
        if not self.path.exists():
            return BotState()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise StateFileError(
                f"{self.path}: cannot read the state file ({exc.strerror}); fix its permission"
                " or move it away"
            ) from None
        try:
            state = BotState.from_dict(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            reason = "the file is empty" if not raw.strip() else str(exc).splitlines()[0]
            aside = self._move_aside()
            raise StateFileError(
                f"{self.path}: damaged state file ({reason}); it was kept as {aside}."
                " Check the last rows of the trades journal for an open position (close it on"
                " the exchange if needed), then start again: the bot starts flat"
            ) from None
        self._tighten_permission()
        return state

    def save(self, state: BotState) -> None:
        """Write ``state`` atomically (temp file + fsync + rename + directory fsync)."""
        data = (json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
        if self.reserve is None:
            write_atomic(self.path, data, mode=0o600)
            return
        self.reserve.write_or_release(lambda: write_atomic(self.path, data, mode=0o600),
                                      "saving the state")

    def _move_aside(self) -> Path:
        """Rename the damaged file to a unique ``.corrupt-<stamp>`` name and return it."""
        base = self.path.with_name(f"{self.path.name}.corrupt-{_utc_stamp()}")
        aside = base
        counter = 1
        while aside.exists():
            aside = base.with_name(f"{base.name}-{counter}")
            counter += 1
        os.replace(self.path, aside)
        return aside

    def _tighten_permission(self) -> None:
        """Make a state file written by someone else owner-only, as save() would."""
        try:
            if stat.S_IMODE(self.path.stat().st_mode) & 0o077:
                os.chmod(self.path, 0o600)
        except OSError:
            pass
