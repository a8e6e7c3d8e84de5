"""The emulator's memory across restarts: balances, orders, trades, id counters and its clock.

Spot Testnet remembers an account between two runs of the bot; so must the local emulator, or
a restarted bot finds its open position "wiped". ``EmulatorServer.export_state()`` gives a
JSON-able document (``account_state`` plus the symbol and ``clock_ms``), ``import_state``
validates one completely before replacing anything (``restore_account``), and the functions
below keep it in a file:

* ``save_emulator_state(server, path)``: atomic (temp file, fsync, ``os.replace``, directory
  fsync), so a process killed at any instant leaves the old or the new document;
* ``read_emulator_state(path)``: the validated-as-JSON document, None when absent; a damaged
  file is renamed aside to ``<name>.corrupt-<UTC stamp>`` and ValueError says where;
* ``load_emulator_state(server, path)``: read + import; returns the saved ``clock_ms`` so the
  caller starts its clock there (time on the exchange must not run backwards).

Money stays exact: every Decimal is stored as its string (``"0.00999000"``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from core.types import Fill
from emulator.account import (
    CLIENT_ID_RE,
    OPEN_STATUSES,
    ORDER_TYPES,
    STP_MODES,
    TIME_IN_FORCE,
    ZERO,
    Account,
    Order,
    Trade,
)
from storage.atomic import temp_files_for, write_atomic

log = logging.getLogger(__name__)



class StatefulExchange(Protocol):
    """What saving and loading need from the emulator (``emulator.server.EmulatorServer``).

    A protocol rather than the server class, so the server imports this module and not the
    other way round.
    """

    def export_state(self) -> dict:
        """The account and ``clock_ms`` as a JSON-able document."""
        ...

    def import_state(self, state: dict) -> None:
        """Replace the account with an exported document; ValueError when it is refused."""
        ...


STATE_FORMAT = "paperbot-emulator-state"
STATE_VERSION = 2  # 2: several symbols ("symbols", a symbol per trade); 1 still loads
# The last millisecond a calendar date can name (9999-12-31T23:59:59.999Z); a later saved
# clock is a damaged file, not a time to continue from.
MAX_CLOCK_MS = 253_402_300_799_999
STATUSES = ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "REJECTED")


# -- encoding -----------------------------------------------------------------------------------
def _order_doc(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "orig_qty": str(order.orig_qty),
        "price": str(order.price),
        "orig_quote_qty": str(order.orig_quote_qty),
        "time_in_force": order.time_in_force,
        "time_ms": order.time_ms,
        "update_ms": order.update_ms,
        "executed_qty": str(order.executed_qty),
        "cum_quote": str(order.cum_quote),
        "stop_price": str(order.stop_price),
        "working_ms": order.working_ms,
        "checked_ms": order.checked_ms,
        "expiry_reason": order.expiry_reason,
        "stp_mode": order.stp_mode,
    }


def _trade_doc(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "order_id": trade.order_id,
        "price": str(trade.price),
        "qty": str(trade.qty),
        "commission": str(trade.commission),
        "commission_asset": trade.commission_asset,
        "time_ms": trade.time_ms,
        "is_buyer": trade.is_buyer,
        "symbol": trade.symbol,
        "is_maker": trade.is_maker,
    }


def _fill_doc(fill: Fill) -> dict[str, Any]:
    return {
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "side": fill.side,
        "price": fill.price,
        "quantity": fill.quantity,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "timestamp_ms": fill.timestamp_ms,
    }


def account_state(account: Account) -> dict[str, Any]:
    """The account as a JSON-able document (without the clock: the server adds it)."""
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "symbol": account.rules.symbol,
        "symbols": list(account.symbols),
        "balances": {
            asset: {"free": str(account.free[asset]),
                    "locked": str(account.locked.get(asset, ZERO))}
            for asset in sorted(account.free)
        },
        "orders": [_order_doc(o) for o in account.orders],
        "trades": [_trade_doc(t) for t in account.trades],
        "fills": [_fill_doc(f) for f in account.fill_log],
        "next_order_id": account._next_order_id,
        "next_trade_id": account._next_trade_id,
        "update_ms": account.update_ms,
    }


# -- decoding (validates everything; raises ValueError with one line) ---------------------------
def _field(doc: Any, key: str, where: str) -> Any:
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must be a JSON object")
    if key not in doc:
        raise ValueError(f"{where} lacks '{key}'")
    return doc[key]


def _int(doc: Any, key: str, where: str, minimum: int = 0) -> int:
    value = _field(doc, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}.{key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _optional_int(doc: Any, key: str, where: str, minimum: int) -> int | None:
    """A whole number >= ``minimum`` or null/absent (fields added in version 2)."""
    if doc.get(key) is None:
        return None
    return _int(doc, key, where, minimum)


def _str(doc: Any, key: str, where: str, choices: tuple[str, ...] | None = None) -> str:
    value = _field(doc, key, where)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key} must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise ValueError(f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _dec(doc: Any, key: str, where: str) -> Decimal:
    value = _field(doc, key, where)
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0:
        raise ValueError(f"{where}.{key} must be a decimal string >= 0 such as \"0.001\","
                         f" got {value!r}")
    return number


def _float(doc: Any, key: str, where: str) -> float:
    value = _field(doc, key, where)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"{where}.{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _list(doc: Any, key: str) -> list:
    value = _field(doc, key, "state")
    if not isinstance(value, list):
        raise ValueError(f"state.{key} must be a list")
    return value


def _order(doc: Any, where: str, symbols: tuple[str, ...]) -> Order:
    client_id = _str(doc, "client_order_id", where)
    if not CLIENT_ID_RE.match(client_id):
        raise ValueError(f"{where}.client_order_id {client_id!r} is not a Binance client id")
    symbol = _str(doc, "symbol", where)
    if symbol not in symbols:
        raise ValueError(f"{where}.symbol must be one of {', '.join(symbols)}, got {symbol!r}")
    return Order(
        order_id=_int(doc, "order_id", where, 1),
        client_order_id=client_id,
        symbol=symbol,
        side=_str(doc, "side", where, ("BUY", "SELL")),
        type=_str(doc, "type", where, ORDER_TYPES),
        status=_str(doc, "status", where, STATUSES),
        orig_qty=_dec(doc, "orig_qty", where),
        price=_dec(doc, "price", where),
        orig_quote_qty=_dec(doc, "orig_quote_qty", where),
        time_in_force=_str(doc, "time_in_force", where, TIME_IN_FORCE),
        time_ms=_int(doc, "time_ms", where),
        update_ms=_int(doc, "update_ms", where),
        executed_qty=_dec(doc, "executed_qty", where),
        cum_quote=_dec(doc, "cum_quote", where),
        stop_price=_dec(doc, "stop_price", where) if "stop_price" in doc else ZERO,
        working_ms=_optional_int(doc, "working_ms", where, -1),
        checked_ms=_optional_int(doc, "checked_ms", where, 0),
        expiry_reason=doc.get("expiry_reason") if isinstance(doc.get("expiry_reason"), str)
        else None,
        stp_mode=_str(doc, "stp_mode", where, STP_MODES) if "stp_mode" in doc else "NONE",
    )


def _trade(doc: Any, where: str, symbol_of: dict[int, str]) -> Trade:
    is_buyer = _field(doc, "is_buyer", where)
    if not isinstance(is_buyer, bool):
        raise ValueError(f"{where}.is_buyer must be true or false, got {is_buyer!r}")
    return Trade(
        trade_id=_int(doc, "trade_id", where, 1),
        order_id=_int(doc, "order_id", where, 1),
        price=_dec(doc, "price", where),
        qty=_dec(doc, "qty", where),
        commission=_dec(doc, "commission", where),
        commission_asset=_str(doc, "commission_asset", where),
        time_ms=_int(doc, "time_ms", where),
        is_buyer=is_buyer,
        symbol=symbol_of.get(_int(doc, "order_id", where, 1), ""),
        is_maker=doc.get("is_maker") is True,
    )


def _fill(doc: Any, where: str) -> Fill:
    return Fill(
        order_id=_str(doc, "order_id", where),
        client_order_id=_str(doc, "client_order_id", where),
        side=_str(doc, "side", where, ("buy", "sell")),  # type: ignore[arg-type]
        price=_float(doc, "price", where),
        quantity=_float(doc, "quantity", where),
        fee=_float(doc, "fee", where),
        fee_currency=_str(doc, "fee_currency", where),
        timestamp_ms=_int(doc, "timestamp_ms", where),
    )


def _balances(doc: Any) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    raw = _field(doc, "balances", "state")
    if not isinstance(raw, dict):
        raise ValueError("state.balances must be an object of {asset: {free, locked}}")
    free, locked = {}, {}
    for asset, entry in raw.items():
        if not isinstance(asset, str) or not asset.isalnum():
            raise ValueError(f"state.balances has a bad asset name {asset!r}")
        free[asset] = _dec(entry, "free", f"balances.{asset}")
        locked[asset] = _dec(entry, "locked", f"balances.{asset}")
    return free, locked


def _check_header(doc: Any, symbols: tuple[str, ...]) -> None:
    if not isinstance(doc, dict):
        raise ValueError("the emulator state must be a JSON object")
    if doc.get("format") != STATE_FORMAT:
        raise ValueError(f"not an emulator state (format {doc.get('format')!r},"
                         f" expected {STATE_FORMAT!r})")
    if doc.get("version") not in (1, STATE_VERSION):
        raise ValueError(f"emulator state version {doc.get('version')!r} is not supported"
                         f" (this emulator reads versions 1 and {STATE_VERSION})")
    saved = doc.get("symbols") if doc.get("version") == STATE_VERSION else []
    if not isinstance(saved, list):
        raise ValueError("state.symbols must be a list of symbols such as 'BTCUSDT'")
    for symbol in [doc.get("symbol"), *saved]:
        if symbol not in symbols:
            raise ValueError(f"the state is for symbol {symbol!r}, this emulator trades"
                             f" {', '.join(symbols)}")


def _check_consistency(account: Account, orders: list[Order], trades: list[Trade],
                       locked: dict[str, Decimal], next_order: int, next_trade: int) -> None:
    """Ids unique and below their counters, trades of known orders, locks = open orders."""
    ids = [o.order_id for o in orders]
    if len(set(ids)) != len(ids):
        raise ValueError("state.orders holds the same order_id twice")
    if ids and next_order <= max(ids):
        raise ValueError(f"state.next_order_id {next_order} must be above every order_id"
                         f" ({max(ids)})")
    trade_ids = [t.trade_id for t in trades]
    if len(set(trade_ids)) != len(trade_ids):
        raise ValueError("state.trades holds the same trade_id twice")
    if trade_ids and next_trade <= max(trade_ids):
        raise ValueError(f"state.next_trade_id {next_trade} must be above every trade_id"
                         f" ({max(trade_ids)})")
    known = set(ids)
    for trade in trades:
        if trade.order_id not in known:
            raise ValueError(f"trade {trade.trade_id} belongs to order {trade.order_id},"
                             " which is not in state.orders")
    reserved: dict[str, Decimal] = {}
    for order in orders:
        if order.status in OPEN_STATUSES:
            asset, amount = account._reserved(order)
            reserved[asset] = reserved.get(asset, ZERO) + amount
    for asset in set(reserved) | set(locked):
        if reserved.get(asset, ZERO) != locked.get(asset, ZERO):
            raise ValueError(f"balances.{asset}.locked is {locked.get(asset, ZERO)} but the"
                             f" open orders reserve {reserved.get(asset, ZERO)}")


def restore_account(account: Account, doc: Any) -> None:
    """Replace ``account``'s balances, orders, trades, fills and counters with ``doc``'s.

    Everything is validated first; on any problem ValueError (one line, naming the field)
    is raised and the account is left as it was.
    """
    symbols = tuple(account.symbols)
    _check_header(doc, symbols)
    free, locked = _balances(doc)
    orders = [_order(o, f"orders[{i}]", symbols) for i, o in enumerate(_list(doc, "orders"))]
    symbol_of = {o.order_id: o.symbol for o in orders}
    trades = [_trade(t, f"trades[{i}]", symbol_of) for i, t in enumerate(_list(doc, "trades"))]
    fills = [_fill(f, f"fills[{i}]") for i, f in enumerate(_list(doc, "fills"))]
    next_order = _int(doc, "next_order_id", "state", 1)
    next_trade = _int(doc, "next_trade_id", "state", 1)
    update_ms = _int(doc, "update_ms", "state")
    _check_consistency(account, orders, trades, locked, next_order, next_trade)
    by_id = {o.order_id: o for o in orders}
    for trade in trades:
        by_id[trade.order_id].trades.append(trade)
    # A version-1 file predates the other symbols: their assets start at their defaults.
    fresh = doc.get("version") == 1
    for asset in account.assets():
        free.setdefault(asset, account.default_balance(asset) if fresh else ZERO)
    for asset in free:
        locked.setdefault(asset, ZERO)
    account.free, account.locked = free, locked
    account.orders, account.trades, account.fill_log = orders, trades, fills
    account._next_order_id, account._next_trade_id = next_order, next_trade
    account.update_ms = update_ms


# -- files --------------------------------------------------------------------------------------
def save_emulator_state(server: StatefulExchange, path: str | Path) -> None:
    """Write the server's state to ``path`` atomically (temp + fsync + os.replace)."""
    text = json.dumps(server.export_state(), separators=(",", ":"), sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), mode=0o600)


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _move_aside(path: Path) -> Path:
    """Rename a damaged file to a unique ``<name>.corrupt-<stamp>`` and return the new path."""
    base = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
    aside, counter = base, 1
    while aside.exists():
        aside = base.with_name(f"{base.name}-{counter}")
        counter += 1
    os.replace(path, aside)
    return aside


def _damaged(path: Path, reason: str) -> ValueError:
    aside = _move_aside(path)
    return ValueError(
        f"{path}: damaged emulator state ({reason}); it was kept as {aside}. The local exchange"
        " starts afresh (default balances, no orders): check the trades journal for a position"
    )


def read_emulator_state(path: str | Path) -> dict[str, Any] | None:
    """The saved document (a JSON object with a whole ``clock_ms``), or None when absent.

    Leftover temp files of a killed save are removed. A file that is not such a document is
    renamed aside to ``<name>.corrupt-<UTC stamp>`` and ValueError (one line) says where.
    """
    path = Path(path)
    for leftover in temp_files_for(path):
        log.warning("removed %s left by an interrupted emulator state save", leftover)
        leftover.unlink(missing_ok=True)
    if not path.exists():
        return None
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = "the file is empty" if not raw.strip() else f"not JSON: {exc}"
        raise _damaged(path, reason) from None
    if not isinstance(doc, dict):
        raise _damaged(path, "not a JSON object")
    clock_ms = doc.get("clock_ms")
    if isinstance(clock_ms, bool) or not isinstance(clock_ms, int) or clock_ms < 0:
        raise _damaged(path, f"clock_ms must be whole epoch milliseconds, got {clock_ms!r}")
    if clock_ms > MAX_CLOCK_MS:
        raise _damaged(path, f"clock_ms {clock_ms} is past the year 9999, no exchange time")
    return doc


def load_emulator_state(server: StatefulExchange, path: str | Path) -> int | None:
    """Import the state saved at ``path`` into ``server``; return its ``clock_ms``.

    None when there is no file (a first run). A damaged file, or one the server refuses
    (another symbol, inconsistent orders), is renamed aside to ``<name>.corrupt-<stamp>`` and
    ValueError (one line) names the problem and the copy; the server is left unchanged.
    """
    path = Path(path)
    doc = read_emulator_state(path)
    if doc is None:
        return None
    try:
        server.import_state(doc)
    except ValueError as exc:
        raise _damaged(path, str(exc)) from None
    return int(doc["clock_ms"])
