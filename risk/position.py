"""The position manager: flat -> long -> flat on signals and protective exits, crash-safe.

Every order follows the same four steps, each of which survives a kill of the process:

1. a new client order id is drawn and the intent (``pending``) is saved atomically;
2. the order is sent with that client id;
3. its fill is journaled (the journal refuses a client id it already holds);
4. the state is saved with the new position and no pending intent.

``reconcile()`` on start (and the check before every order) resolves a pending intent by
asking the exchange for that client id, so an order is neither lost, sent twice nor
journaled twice whatever step a crash interrupted.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from core.clock import Clock
from core.errors import ExchangeUnavailable, OrderRejected, OwnerMismatch
from core.formatting import format_number, format_price, format_signed, format_utc
from core.lognames import EVENTS_LOGGER
from core.outcome import BOUGHT, IGNORED_BUY, NOTHING, SOLD, Action, Outcome, skipped
from core.types import Fill
from risk.broker import Broker
from risk.pnl import (
    clean_quantity,
    fee_in_quote,
    held_quantity,
    realized_pnl,
    round_down_to_step,
)
from risk.rules import protective_exit, stop_loss_price, take_profit_price
from risk.stop_entries import after_fill, apply_orders, describe, reached
from storage.state import (
    BotState,
    PendingOrder,
    Position,
    StateStore,
    StopEntry,
)
from storage.trades import TradeJournal, TradeRow

WIPE_REASON = "testnet_wipe"
# Free quote a buy needs beyond its value at the reference price: room for the fee and for
# the price moving between the candle close and the fill.
BALANCE_MARGIN = 0.01
# A remainder this small after a sell is dust, not a position worth another order.
DUST_FRACTION = 0.01
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
        if number == 0:
            return digits


class Journal(Protocol):
    """Where the position manager journals fills (``storage.trades.TradeJournal``, or a
    wrapper that also reports each new row)."""

    def append(self, row: TradeRow) -> bool:
        """Journal ``row``; False when its client order id is already there."""
        ...


def required_quote(quantity: float, price: float, margin: float = BALANCE_MARGIN) -> float:
    """Free quote balance the bot requires before a market buy of ``quantity`` at ``price``."""
    return quantity * price * (1 + margin)


def symbol_owner_problem(state: BotState, symbol: str, state_path: Path) -> str | None:
    """Why a saved position/order in another symbol blocks this run, or None when it does not."""
    owner = state.symbol
    if owner and owner != symbol and (state.position or state.pending):
        return (f"{state_path}: the saved position/order is in {owner} but SYMBOL is"
                f" {symbol}; set SYMBOL={owner} to manage it, or close it on the exchange and"
                " move the state file away")
    return None


def exchange_owner_problem(state: BotState, exchange_name: str, state_path: Path) -> str | None:
    """Why a saved position/order on another exchange blocks this run, or None."""
    owner = state.extra.get("exchange")
    busy = state.position is not None or state.pending is not None
    if owner and owner != exchange_name and busy:
        return (f"{state_path} holds an open position on the {owner} exchange, but this run"
                f" uses {exchange_name}; run with --exchange {owner} to manage it, or use"
                " another DATA_DIR")
    return None


class PositionManager:
    """Turns signals and last prices into market orders for one symbol, long-only.

    ``on_signal`` handles the signal of each closed candle (1 buy, -1 sell, 0 nothing);
    ``on_price`` checks stop-loss and take-profit between candles; ``reconcile`` runs once
    on start. Entry prices are actual average fill prices; quantities held are net of the
    buy fee and sells are rounded down to ``quantity_step``.
    """

    def __init__(
        self,
        broker: Broker,
        journal: TradeJournal,
        state_store: StateStore,
        *,
        symbol: str,
        trade_size: float,
        stop_loss_percent: float,
        take_profit_percent: float,
        strategy_name: str,
        exchange_name: str,
        clock: Clock,
        logger: logging.Logger | None = None,
        quantity_step: float | None = None,
        balance_margin: float = BALANCE_MARGIN,
        wipe_threshold: float = 0.5,
        price_tick: float | None = None,
    ) -> None:
        if not trade_size > 0:
            raise ValueError(f"trade size must be > 0, got {trade_size}")
        if not 0 < stop_loss_percent < 1:
            raise ValueError(f"stop-loss percent must be in (0, 1), got {stop_loss_percent}")
        if not take_profit_percent > 0:
            raise ValueError(f"take-profit percent must be > 0, got {take_profit_percent}")
        if quantity_step is not None and not quantity_step > 0:
            raise ValueError(f"quantity step must be > 0, got {quantity_step}")
        if not 0 <= balance_margin < 1:
            raise ValueError(f"balance margin must be in [0, 1), got {balance_margin}")
        if not 0 < wipe_threshold <= 1:
            raise ValueError(f"wipe threshold must be in (0, 1], got {wipe_threshold}")
        self.broker = broker
        self.journal: Journal = journal
        self.store = state_store
        self.symbol = symbol
        self.trade_size = float(trade_size)
        self.stop_loss_percent = float(stop_loss_percent)
        self.take_profit_percent = float(take_profit_percent)
        self.strategy_name = strategy_name
        self.exchange_name = exchange_name
        self.clock = clock
        self.log = logger if logger is not None else logging.getLogger(EVENTS_LOGGER)
        self.errors = logging.getLogger(f"{self.log.name}.errors")
        self.quantity_step = quantity_step
        # The market's price step: armed stop levels are rounded to it (buy up, sell down).
        self.price_tick = price_tick
        self.balance_margin = float(balance_margin)
        self.wipe_threshold = float(wipe_threshold)
        self._state = state_store.load()
        problem = symbol_owner_problem(self._state, symbol, state_store.path)
        if problem:
            raise OwnerMismatch(problem)
        self._state.symbol = symbol
        # After a refusal or a balance shortfall, no new order until the next candle, so a
        # stop-loss polled every few seconds does not hammer the exchange or the logs.
        self._blocked = False
        self._pending_note: str | None = None
        self._fills = 0
        self._closed = 0
        self._realized = 0.0
        for row in journal.rows():
            if row["symbol"] in ("", symbol):
                self._count(row["order_id"] != "", row["PnL"])

    # -- read-only views --------------------------------------------------------------------

    @property
    def state(self) -> BotState:
        """The current state (the object saved to the state file)."""
        return self._state

    @property
    def position(self) -> Position | None:
        """The open position, or None when flat."""
        return self._state.position

    @property
    def last_candle_ms(self) -> int | None:
        """Open time of the last candle whose signal was handled (None before the first)."""
        return self._state.last_candle_ms

    def mark_candle_processed(self, candle_open_ms: int) -> None:
        """Record a candle as handled without a signal (saved); older candles change nothing."""
        last = self._state.last_candle_ms
        if last is None or candle_open_ms > last:
            self._state.last_candle_ms = int(candle_open_ms)
            self._save()

    @property
    def base_asset(self) -> str:
        """The asset bought (BTC in BTC/USDT)."""
        return self.broker.base_asset

    @property
    def quote_asset(self) -> str:
        """The asset paid with (USDT in BTC/USDT)."""
        return self.broker.quote_asset

    def summary(self) -> str:
        """One line for the shutdown log: position, pending order, fills and realised PnL."""
        pos = self._state.position
        if pos is None:
            held = "flat"
        else:
            held = (f"long {format_number(pos.quantity)} {self.base_asset} at "
                    f"{format_price(pos.entry_price)} {self.quote_asset}")
        pending = self._state.pending
        waiting = "" if pending is None else (
            f", pending {pending.side.upper()} {pending.client_order_id}")
        if self._state.stop_entries:
            waiting += ", armed " + ", ".join(describe(e) for e in self._state.stop_entries)
        return (f"position: {held}{waiting}; fills: {self._fills}; closed trades: "
                f"{self._closed}; realised PnL: {format_signed(self._realized)} {self.quote_asset}")

    # -- events -----------------------------------------------------------------------------

    def on_signal(self, signal: int, candle_open_ms: int, reference_price: float) -> Outcome:
        """Act on the signal of the candle that opened at ``candle_open_ms``.

        BUY when flat buys ``trade_size``; BUY while long is ignored; SELL while long sells
        the whole position; anything else does nothing. A candle at or before the last one
        handled is skipped, so a restart never acts twice on the same candle. Returns what
        happened: "bought", "sold", "ignored-buy-while-long", "nothing", "skipped: <why>"
        or "position lost: <why>".
        """
        if signal not in (-1, 0, 1):
            raise ValueError(f"signal must be 1, 0 or -1, got {signal!r}")
        last = self._state.last_candle_ms
        if last is not None and candle_open_ms <= last:
            return skipped(f"candle {format_utc(candle_open_ms)} already handled")
        self._state.last_candle_ms = int(candle_open_ms)
        self._blocked = False
        result = self._decide(signal, candle_open_ms, reference_price)
        self._save()
        return result

    def on_orders(self, orders: dict, candle_open_ms: int, reference_price: float, *,
                  long_id: str, short_id: str, oca: str = "") -> Outcome:
        """Act on a stop-entry strategy's orders of the candle that opened at ``candle_open_ms``.

        ``orders`` holds that candle's six order columns (``strategies.orders``): the armed
        stops are replaced, cancelled or armed (saved with the state), and a market entry
        among them acts like a BUY / SELL signal. A candle already handled is skipped.
        Returns what happened, as ``on_signal`` does.
        """
        last = self._state.last_candle_ms
        if last is not None and candle_open_ms <= last:
            return skipped(f"candle {format_utc(candle_open_ms)} already handled")
        self._state.last_candle_ms = int(candle_open_ms)
        self._blocked = False
        before = list(self._state.stop_entries)
        stops, signal = apply_orders(
            before, orders, long_id=long_id, short_id=short_id, oca=oca,
            tick=self.price_tick, held=self._state.position is not None,
            candle_ms=candle_open_ms)
        self._state.stop_entries = stops
        for entry in stops:
            if entry in before:
                continue
            if any(e.side == entry.side for e in before):
                # A stop re-placed at a new level each candle (a channel) is routine.
                self.log.debug("Stop entry moved: %s", describe(entry))
            else:
                self.log.info("Stop entry armed: %s", describe(entry))
        for entry in before:
            if not any(e.side == entry.side for e in stops):
                self.log.info("Stop entry cancelled: %s", describe(entry))
        result = self._decide(signal, candle_open_ms, reference_price)
        self._save()
        return result

    def _decide(self, signal: int, candle_ms: int, price: float) -> Outcome:
        if not self._pending_resolved():
            return skipped(self._pending_note or "")
        if signal == 0:
            return NOTHING
        if not (math.isfinite(price) and price > 0):
            self.log.warning("signal %d ignored: no usable reference price (%r)", signal, price)
            return skipped(f"no usable reference price ({price!r})")
        pos = self._state.position
        if signal == 1:
            if pos is not None:
                self.log.info(
                    "BUY signal ignored: already long %s %s since %s",
                    format_number(pos.quantity), self.base_asset, format_utc(pos.entry_time_ms),
                )
                return IGNORED_BUY
            return self._buy(candle_ms, price)
        if pos is None:
            return NOTHING
        self.log.info("SELL signal at %s %s", format_price(price), self.quote_asset)
        return self._sell("signal", price, candle_ms)

    def on_price(self, last_price: float | None) -> Outcome | None:
        """Check the stop-loss and take-profit of an open position against ``last_price``.

        Sells the whole position at market when a level is reached. Returns "sold:
        stop_loss", "sold: take_profit", "skipped: <why>", "position lost: <why>", or None
        when nothing happened (flat, no level reached, no price, or orders paused).
        """
        if last_price is None or not math.isfinite(last_price) or last_price <= 0:
            return None
        if not self._pending_resolved():
            return None
        pos = self._state.position
        if self._blocked:
            return None
        if pos is None:
            return self._stop_entry(last_price)
        reason = protective_exit(
            last_price, pos.entry_price, self.stop_loss_percent, self.take_profit_percent
        )
        if reason is None:
            return self._stop_entry(last_price)
        if reason == "stop_loss":
            self.log.info(
                "Stop-loss triggered at %s %s (entry %s, stop %s)", format_price(last_price),
                self.quote_asset, format_price(pos.entry_price),
                format_price(stop_loss_price(pos.entry_price, self.stop_loss_percent)),
            )
        else:
            self.log.info(
                "Take-profit triggered at %s %s (entry %s, target %s)", format_price(last_price),
                self.quote_asset, format_price(pos.entry_price),
                format_price(take_profit_price(pos.entry_price, self.take_profit_percent)),
            )
        result = self._sell(reason, last_price, None)
        return Outcome(Action.SOLD, reason) if result == SOLD else result

    def _stop_entry(self, price: float) -> Outcome | None:
        """Send the market order of an armed stop entry the last price has reached.

        A buy stop opens a long when flat; a sell stop closes the long. Reached while it has
        nothing to do (a sell stop while flat) it is spent, as in the backtester. The stop
        leaves the state in the same save as the order intent, so a crash neither loses nor
        repeats it. Returns "bought: stop_entry", "sold: stop_entry", "skipped: ..." or None.
        """
        entry = reached(self._state.stop_entries, price)
        if entry is None:
            return None
        held = self._state.position is not None
        self.log.info("Stop entry reached at %s %s: %s", format_price(price), self.quote_asset,
                      describe(entry))
        if (entry.side == "buy") == held:
            # Nothing to do (not filled): it is spent, its OCA group stays armed.
            self._state.stop_entries = [e for e in self._state.stop_entries if e is not entry]
            self._save()
            return None
        if entry.side == "buy":
            result = self._buy(None, price, reason="stop_entry", armed=entry)
        else:
            result = self._sell("stop_entry", price, None, armed=entry)
        return Outcome(result.action, "stop_entry") if result in (BOUGHT, SOLD) else result

    def reconcile(self) -> list[str]:
        """Bring the saved state in line with the exchange before trading; notes of what it did.

        A pending intent is looked up by client id: filled -> journaled once and applied;
        absent -> forgotten; exchange unavailable -> kept (no order is sent until it is
        resolved). An open position whose base asset has mostly vanished from the balance
        (a testnet wipe) is closed in the state and journaled with exit reason
        "testnet_wipe" and no PnL. The caller logs the notes; problems are also logged here.
        """
        notes: list[str] = []
        pending = self._state.pending
        if pending is not None:
            if self._pending_resolved():
                notes.append(self._pending_note or "")
            else:
                notes.append(f"{self._pending_note}; will retry before the next order")
        pos = self._state.position
        if pos is not None and self._state.pending is None:
            notes.append(self._check_position(pos))
        for entry in self._state.stop_entries:
            notes.append(f"resuming armed stop entry: {describe(entry)}")
        if self._state.position is None and self._state.pending is None and not notes:
            notes.append("flat, nothing pending")
        return notes

    def _check_position(self, pos: Position) -> str:
        """Confirm an open position against the exchange: resumed, lost, or not checkable.

        The testnet reset wipes order history and re-issues balances, so both are asked:
        an entry order the exchange no longer knows, or a base balance below
        ``wipe_threshold`` of the position, means the position is gone.
        """
        if pos.entry_client_order_id:
            try:
                entry = self.broker.find_order(pos.entry_client_order_id)
            except ExchangeUnavailable as exc:
                return f"position check skipped: {exc}"
            if entry is None:
                return str(self._position_lost(
                    f"the exchange no longer knows the entry order {pos.entry_client_order_id}"
                ))
        try:
            free = self.broker.free_balance(self.base_asset)
        except ExchangeUnavailable as exc:
            return f"balance check skipped: {exc}"
        if free < self.wipe_threshold * pos.quantity:
            return str(self._position_lost(self._shortfall(free, pos)))
        stop = stop_loss_price(pos.entry_price, self.stop_loss_percent)
        target = take_profit_price(pos.entry_price, self.take_profit_percent)
        return (
            f"resuming open position: {format_number(pos.quantity)} {self.base_asset} at "
            f"{format_price(pos.entry_price)} {self.quote_asset} (stop-loss"
            f" {format_price(stop)}, take-profit {format_price(target)})"
        )

    def _shortfall(self, free: float, pos: Position) -> str:
        return (f"free {self.base_asset} {format_number(free)} is below "
                f"{self.wipe_threshold:.0%} of the {format_number(pos.quantity)} held")

    # -- orders -----------------------------------------------------------------------------

    def _buy(self, candle_ms: int | None, price: float, reason: str = "signal",
             armed: StopEntry | None = None) -> Outcome:
        if not self.store.ready_to_open():
            # Its exit must be savable on a full disk (storage.reserve, decision 0093).
            return self._refuse("BUY skipped: no room on the disk for the reserve that keeps"
                                " a position's exit savable; free disk space in DATA_DIR")
        quantity = round_down_to_step(self.trade_size, self.quantity_step)
        if quantity <= 0:
            return self._refuse(f"trade size {format_number(self.trade_size)} is below the lot"
                                f" step {format_number(self.quantity_step)}; raise TRADE_SIZE")
        try:
            free = self.broker.free_balance(self.quote_asset)
        except ExchangeUnavailable as exc:
            self.log.warning("BUY skipped: balance unavailable (%s)", exc)
            return skipped(f"balance unavailable ({exc})")
        needed = required_quote(quantity, price, self.balance_margin)
        if free < needed:
            return self._refuse(
                f"BUY skipped: free {self.quote_asset} {format_number(free)} is below the "
                f"{format_price(needed)} needed for {format_number(quantity)} {self.base_asset} at "
                f"{format_price(price)}; top up the account or lower TRADE_SIZE"
            )
        return self._place("buy", quantity, reason, price, candle_ms, armed)

    def _sell(self, reason: str, price: float, candle_ms: int | None,
              armed: StopEntry | None = None) -> Outcome:
        pos = self._state.position
        assert pos is not None
        quantity = round_down_to_step(pos.quantity, self.quantity_step)
        try:
            free = self.broker.free_balance(self.base_asset)
        except ExchangeUnavailable as exc:
            self.log.warning("SELL skipped: balance unavailable (%s)", exc)
            return skipped(f"balance unavailable ({exc})")
        if free < self.wipe_threshold * pos.quantity:
            return self._position_lost(self._shortfall(free, pos))
        # A reset testnet re-issues balances (often 1 BTC), so during a run only the forgotten
        # entry order tells that the coins to sell are not ours: selling them would journal a
        # made-up exit of a position that no longer exists.
        if pos.entry_client_order_id:
            try:
                entry = self.broker.find_order(pos.entry_client_order_id)
            except ExchangeUnavailable as exc:
                self.log.warning("SELL skipped: entry order look-up unavailable (%s)", exc)
                return skipped(f"entry order look-up unavailable ({exc})")
            if entry is None:
                return self._position_lost(
                    f"the exchange no longer knows the entry order {pos.entry_client_order_id}"
                )
        if quantity <= 0:
            return self._refuse(f"SELL skipped: position {format_number(pos.quantity)} is below"
                                f" the lot step {format_number(self.quantity_step)}")
        if free < quantity:
            return self._refuse(
                f"SELL skipped: free {self.base_asset} {format_number(free)} is below the "
                f"{format_number(quantity)} to sell; check the account"
            )
        return self._place("sell", quantity, reason, price, candle_ms, armed)

    def _refuse(self, message: str) -> Outcome:
        """Log a reason not to trade and pause orders until the next candle."""
        self.errors.error("%s", message)
        self._blocked = True
        return skipped(message)

    def _next_client_id(self, side: str) -> str:
        """A client order id unique across restarts and state resets (<= 36 chars)."""
        self._state.order_seq += 1
        stamp = _base36(max(self.clock.now_ms(), 0))
        return f"pb-{self._state.order_seq}{side[0]}-{stamp}-{secrets.token_hex(3)}"

    def _place(
        self, side: str, quantity: float, reason: str, price: float, candle_ms: int | None,
        armed: StopEntry | None = None,
    ) -> Outcome:
        cid = self._next_client_id(side)
        pending = PendingOrder(
            client_order_id=cid, side=side, quantity=quantity, reason=reason,
            requested_price=price, signal_candle_ms=candle_ms, created_ms=self.clock.now_ms(),
        )
        self._state.pending = pending
        if armed is not None:
            # The stop is spent in the same atomic save that records the order intent.
            self._state.stop_entries = after_fill(self._state.stop_entries, armed)
        self._save()
        self.log.info("Sending %s market order for %s %s (client id %s)", side.upper(),
                      format_number(quantity), self.base_asset, cid)
        send = self.broker.market_buy if side == "buy" else self.broker.market_sell
        try:
            fill = send(quantity, cid)
        except ExchangeUnavailable as exc:
            self._pending_note = f"pending {side.upper()} order {cid} unresolved ({exc})"
            self.errors.error(
                "%s order %s: outcome unknown (%s); the intent is kept and looked up by client"
                " id before any other order", side.upper(), cid, exc,
            )
            return skipped(f"order outcome unknown ({exc})")
        except OrderRejected as exc:
            self._state.pending = None
            self._save()
            return self._refuse(f"{side.upper()} order rejected: {exc}")
        return self._apply_fill(pending, fill)

    def _pending_resolved(self) -> bool:
        """Resolve a pending intent with the exchange; False while that is not possible."""
        pending = self._state.pending
        if pending is None:
            return True
        cid = pending.client_order_id
        try:
            fill = self.broker.find_order(cid)
        except ExchangeUnavailable as exc:
            note = f"pending {pending.side.upper()} order {cid} unresolved ({exc})"
            if note != self._pending_note:
                self.log.warning("%s; no new order until it is resolved", note)
            self._pending_note = note
            return False
        if fill is None:
            self._state.pending = None
            self._save()
            self._pending_note = (f"pending {pending.side.upper()} order {cid} is not on the"
                                  " exchange: forgotten (it was never placed)")
            self.log.info("%s", self._pending_note)
            return True
        result = self._apply_fill(pending, fill)
        self._pending_note = f"pending {pending.side.upper()} order {cid} found: {result}"
        return True

    def _apply_fill(self, pending: PendingOrder, fill: Fill) -> Outcome:
        """Journal a fill once, then save the position it leaves and clear the intent."""
        if not fill.quantity > 0:
            self._state.pending = None
            self._save()
            self.log.warning("%s order %s filled nothing", pending.side.upper(),
                             pending.client_order_id)
            return skipped("order filled nothing")
        if pending.side == "buy":
            return self._open(pending, fill)
        return self._close(pending, fill)

    def _row(self, pending: PendingOrder, fill: Fill, **fields: object) -> TradeRow:
        return TradeRow(
            timestamp_ms=fill.timestamp_ms, order_id=fill.order_id, side=pending.side,
            quantity=fill.quantity, fee=fill.fee, fee_currency=fill.fee_currency,
            requested_price=pending.requested_price, filled_price=fill.price,
            client_order_id=pending.client_order_id, signal_candle_ms=pending.signal_candle_ms,
            strategy=self.strategy_name, exchange=self.exchange_name, symbol=self.symbol,
            **fields,  # type: ignore[arg-type]
        )

    def _open(self, pending: PendingOrder, fill: Fill) -> Outcome:
        reason = "" if pending.reason == "signal" else pending.reason
        self._journal(self._row(pending, fill, entry_price=fill.price, exit_reason=reason))
        held = held_quantity(fill.quantity, fill.fee, fill.fee_currency, self.base_asset)
        self._state.position = Position(
            quantity=held, entry_price=fill.price, entry_time_ms=fill.timestamp_ms,
            entry_order_id=fill.order_id, entry_client_order_id=pending.client_order_id,
            entry_fee=fill.fee, entry_fee_currency=fill.fee_currency,
            requested_price=pending.requested_price,
        )
        self._state.pending = None
        self._save()
        self.log.info(
            "BUY order placed at %s %s (qty %s, order %s)", format_price(fill.price),
            self.quote_asset, format_number(fill.quantity), fill.order_id,
        )
        return BOUGHT

    def _close(self, pending: PendingOrder, fill: Fill) -> Outcome:
        pos = self._state.position
        if pos is None:
            # A sell the state no longer explains (state reset by hand): keep the fill on
            # record, without a PnL nobody can compute.
            self._journal(self._row(pending, fill, exit_price=fill.price,
                                    exit_reason=pending.reason))
            self._state.pending = None
            self._save()
            self.errors.error("SELL order %s filled while no position was recorded",
                              fill.order_id)
            return SOLD
        remaining = clean_quantity(pos.quantity - fill.quantity)
        closes = (remaining <= pos.quantity * DUST_FRACTION
                  or round_down_to_step(remaining, self.quantity_step) <= 0)
        fee_share = pos.entry_fee if closes else pos.entry_fee * fill.quantity / pos.quantity
        pnl = realized_pnl(
            pos.entry_price, fill.price, fill.quantity,
            fee_in_quote(fee_share, pos.entry_fee_currency, pos.entry_price,
                         self.base_asset, self.quote_asset),
            fee_in_quote(fill.fee, fill.fee_currency, fill.price,
                         self.base_asset, self.quote_asset),
        )
        self._journal(self._row(
            pending, fill, entry_price=pos.entry_price, exit_price=fill.price, pnl=pnl,
            stop_loss_triggered=pending.reason == "stop_loss",
            take_profit_triggered=pending.reason == "take_profit",
            exit_reason=pending.reason,
        ))
        self._state.position = None if closes else replace(
            pos, quantity=remaining, entry_fee=pos.entry_fee - fee_share)
        self._state.pending = None
        self._save()
        self.log.info(
            "SELL order placed at %s %s (qty %s, order %s) PnL %s %s (%s)",
            format_price(fill.price), self.quote_asset, format_number(fill.quantity),
            fill.order_id, format_signed(pnl), self.quote_asset, pending.reason,
        )
        if not closes:
            self.log.warning("SELL filled partly: %s %s still held", format_number(remaining),
                             self.base_asset)
        return SOLD

    def _position_lost(self, reason: str) -> Outcome:
        """Close a position that vanished from the exchange (testnet wipe) in state and journal."""
        pos = self._state.position
        assert pos is not None
        outcome = Outcome(Action.POSITION_LOST,
                          f"{reason} (testnet wipe?); closed in the journal without PnL")
        self.errors.error("%s", outcome)
        self._journal(TradeRow(
            timestamp_ms=self.clock.now_ms(), order_id="", side="sell", quantity=pos.quantity,
            entry_price=pos.entry_price, exit_reason=WIPE_REASON,
            client_order_id=f"wipe-{pos.entry_client_order_id}", strategy=self.strategy_name,
            exchange=self.exchange_name, symbol=self.symbol,
        ))
        self._state.position = None
        self._save()
        return outcome

    # -- persistence ------------------------------------------------------------------------

    def _journal(self, row: TradeRow) -> None:
        if self.journal.append(row):
            pnl = "" if row.pnl is None else repr(row.pnl)
            self._count(row.order_id != "", pnl)

    def _count(self, is_fill: bool, pnl_text: str) -> None:
        if is_fill:
            self._fills += 1
        if pnl_text:
            self._closed += 1
            self._realized += float(pnl_text)

    def _save(self) -> None:
        self.store.save(self._state)
