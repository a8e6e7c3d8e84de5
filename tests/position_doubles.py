"""Test doubles for the position manager: an in-memory broker and crash points.

``FakeBroker`` keeps balances like a Binance spot account (buy fee in base, sell fee in
quote) and remembers fills by client id, so ``find_order`` works as on the exchange. A
``Crash`` is a BaseException: nothing in the bot catches it, like a kill -9 between two
lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.clock import ManualClock
from core.errors import OrderRejected
from core.types import Fill
from risk.position import PositionManager
from storage.state import StateStore
from storage.trades import TradeJournal, TradeRow

T0 = 1_740_744_000_000  # 2025-02-28 12:00:00 UTC
MINUTE = 60_000


class Crash(BaseException):
    """The process dies here."""


class FakeBroker:
    """An in-memory BTC/USDT spot account with market orders filled at ``price``."""

    base_asset = "BTC"
    quote_asset = "USDT"

    def __init__(self, clock: ManualClock, price: float = 23000.0, quote: float = 10_000.0,
                 base: float = 0.0, fee_rate: float = 0.001) -> None:
        self.clock = clock
        self.price = price
        self.fee_rate = fee_rate
        self.balances = {"BTC": base, "USDT": quote}
        self.orders: dict[str, Fill] = {}
        self.sent: list[tuple[str, float, str]] = []
        self.next_id = 100
        self.fill_fraction = 1.0
        self.fail_send: BaseException | None = None
        self.fail_after_send: BaseException | None = None
        self.fail_find: BaseException | None = None
        self.fail_balance: BaseException | None = None

    def free_balance(self, asset: str) -> float:
        if self.fail_balance is not None:
            raise self.fail_balance
        return self.balances.get(asset, 0.0)

    def market_buy(self, quantity: float, client_order_id: str) -> Fill:
        return self._execute("buy", quantity, client_order_id)

    def market_sell(self, quantity: float, client_order_id: str) -> Fill:
        return self._execute("sell", quantity, client_order_id)

    def find_order(self, client_order_id: str) -> Fill | None:
        if self.fail_find is not None:
            raise self.fail_find
        return self.orders.get(client_order_id)

    def _execute(self, side: str, quantity: float, cid: str) -> Fill:
        self.sent.append((side, quantity, cid))
        if self.fail_send is not None:
            exc, self.fail_send = self.fail_send, None
            raise exc
        filled = quantity * self.fill_fraction
        if side == "buy":
            fee, currency = filled * self.fee_rate, "BTC"
            self.balances["BTC"] += filled - fee
            self.balances["USDT"] -= filled * self.price
        else:
            if self.balances["BTC"] < filled - 1e-12:
                raise OrderRejected("Account has insufficient balance for requested action.")
            fee, currency = filled * self.price * self.fee_rate, "USDT"
            self.balances["BTC"] -= filled
            self.balances["USDT"] += filled * self.price - fee
        fill = Fill(str(self.next_id), cid, side, self.price, filled, fee, currency,
                    self.clock.now_ms())
        self.next_id += 1
        self.orders[cid] = fill
        if self.fail_after_send is not None:
            exc, self.fail_after_send = self.fail_after_send, None
            raise exc
        return fill


class CrashingJournal(TradeJournal):
    """A journal that dies right after its next successful append when ``armed``."""

    armed = False

    def append(self, row: TradeRow) -> bool:
        written = super().append(row)
        if self.armed:
            self.armed = False
            raise Crash("killed after the journal write")
        return written


class Files:
    """The bot's files in a temp directory, and managers built on them as after a restart."""

    def __init__(self, directory: Path, clock: ManualClock, broker: FakeBroker) -> None:
        self.journal_path = directory / "historical_trades.csv"
        self.state_path = directory / "state.json"
        self.clock = clock
        self.broker = broker

    def manager(self, *, journal: TradeJournal | None = None, **kwargs: object) -> PositionManager:
        """A fresh manager reading the files, as the bot builds it on start."""
        options: dict[str, object] = {
            "symbol": "BTC/USDT", "trade_size": 0.001, "stop_loss_percent": 0.02,
            "take_profit_percent": 0.04, "strategy_name": "sma_rsi", "exchange_name": "local",
            "clock": self.clock, "logger": logging.getLogger("paperbot"),
        }
        options.update(kwargs)
        return PositionManager(
            self.broker, journal or TradeJournal(self.journal_path), StateStore(self.state_path),
            **options,  # type: ignore[arg-type]
        )

    def rows(self) -> list[dict[str, str]]:
        """The journal rows as a new reader sees them."""
        return TradeJournal(self.journal_path).rows()
