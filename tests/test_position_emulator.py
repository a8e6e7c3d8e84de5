"""The position manager on the real exchange client, ccxt and the local emulator (127.0.0.1).

No doubles: real HTTP and signing, the emulator's own fills, fees and balances, and the real
journal and state files. Checks that what the bot journals is what the exchange did.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("emulator.server")

from core.clock import ManualClock  # noqa: E402
from core.outcome import BOUGHT, Action, Outcome
from emulator.market import GeneratedMarket  # noqa: E402
from emulator.server import (  # noqa: E402
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
)
from exchange.client import ExchangeClient  # noqa: E402
from exchange.factory import make_exchange  # noqa: E402
from risk.position import PositionManager  # noqa: E402
from storage.state import StateStore  # noqa: E402
from storage.trades import TradeJournal  # noqa: E402
from tests.position_doubles import Crash  # noqa: E402

MINUTE = 60_000
T0 = 1_704_067_200_000 + 90 * MINUTE + 30_000


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def server(start_emulator, clock):
    return start_emulator(GeneratedMarket(seed=5), clock)


def _client(server, clock) -> ExchangeClient:
    exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                             base_url=server.base_url, timeout_ms=2_000, clock=clock)
    client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=clock)
    client.load_markets()
    return client


def _manager(broker, tmp_path, clock, step) -> PositionManager:
    return PositionManager(
        broker, TradeJournal(tmp_path / "trades.csv"), StateStore(tmp_path / "state.json"),
        symbol="BTC/USDT", trade_size=0.001, stop_loss_percent=0.02, take_profit_percent=0.04,
        strategy_name="sma_rsi", exchange_name="local", clock=clock,
        logger=logging.getLogger("paperbot"), quantity_step=step,
    )


class _DiesAfterSend:
    """The real client, but the process dies the moment an order has been accepted."""

    def __init__(self, client: ExchangeClient) -> None:
        self._client = client
        self.base_asset, self.quote_asset = client.base_asset, client.quote_asset

    def free_balance(self, asset):
        return self._client.free_balance(asset)

    def market_buy(self, quantity, client_order_id):
        self._client.market_buy(quantity, client_order_id)
        raise Crash("killed with the order on the exchange")

    def market_sell(self, quantity, client_order_id):
        return self._client.market_sell(quantity, client_order_id)

    def find_order(self, client_order_id):
        return self._client.find_order(client_order_id)


def test_round_trip_journal_matches_the_exchange(server, clock, tmp_path):
    """
    Given the bot on the emulator with 10000 USDT and 1 BTC, lot step from the market rules
    When a BUY signal fills and then a take-profit level is reported
    Then the journal's buy and sell rows carry the emulator's fills, prices and fees
    And the sell PnL equals the account's quote change less the BTC fee kept as dust
    """
    client = _client(server, clock)
    manager = _manager(client, tmp_path, clock, client.market_rules().step)
    before = server.balances()
    price = client.last_price()
    assert manager.on_signal(1, T0 - 30_000 - MINUTE, price) == BOUGHT
    buy_fill = server.fills[-1]
    pos = manager.position
    assert pos.entry_price == buy_fill.price
    assert pos.quantity == pytest.approx(buy_fill.quantity - buy_fill.fee)
    assert server.balances()["BTC"] == pytest.approx(before["BTC"] + pos.quantity)
    clock.advance(10)
    assert manager.on_price(pos.entry_price * 1.05) == Outcome(Action.SOLD, "take_profit")
    sell_fill = server.fills[-1]
    buy_row, sell_row = TradeJournal(tmp_path / "trades.csv").rows()
    assert (buy_row["order_id"], sell_row["order_id"]) == (buy_fill.order_id, sell_fill.order_id)
    assert float(sell_row["exit_price"]) == pytest.approx(sell_fill.price)
    assert float(sell_row["fee"]) == pytest.approx(sell_fill.fee)
    assert sell_row["take_profit_triggered"] == "True"
    expected = ((sell_fill.price - buy_fill.price) * sell_fill.quantity
                - buy_fill.fee * buy_fill.price - sell_fill.fee)
    assert float(sell_row["PnL"]) == pytest.approx(expected, abs=1e-8)
    after = server.balances()
    dust = after["BTC"] - before["BTC"]
    quote_change = after["USDT"] - before["USDT"]
    # The quote change pays for the dust left by lot rounding; at the entry price it is PnL.
    assert quote_change + dust * buy_fill.price == pytest.approx(float(sell_row["PnL"]),
                                                                 abs=1e-6)
    assert manager.position is None


def test_killed_after_the_order_left_restart_journals_it_once(server, clock, tmp_path):
    """
    Given the bot killed right after the emulator accepted its BUY
    When it restarts on the same files and reconciles
    Then the order is found by client id, journaled once, and the position matches the fill
    """
    client = _client(server, clock)
    dying = _manager(_DiesAfterSend(client), tmp_path, clock, None)
    with pytest.raises(Crash):
        dying.on_signal(1, T0 - 30_000 - MINUTE, client.last_price())
    assert TradeJournal(tmp_path / "trades.csv").rows() == []
    restarted = _manager(client, tmp_path, clock, None)
    notes = restarted.reconcile()
    assert notes[0].endswith("found: bought")
    assert len(server.fills) == 1
    [row] = TradeJournal(tmp_path / "trades.csv").rows()
    assert row["order_id"] == server.fills[0].order_id
    assert restarted.position.entry_price == server.fills[0].price


def test_testnet_wipe_while_away_closes_the_position_on_record(server, clock, tmp_path):
    """
    Given an open position and then the emulator's testnet reset (orders gone, balances reissued)
    When the bot restarts and reconciles
    Then the position is closed in the journal as testnet_wipe and the bot is flat
    """
    client = _client(server, clock)
    manager = _manager(client, tmp_path, clock, None)
    manager.on_signal(1, T0 - 30_000 - MINUTE, client.last_price())
    server.wipe()
    restarted = _manager(client, tmp_path, clock, None)
    notes = restarted.reconcile()
    assert notes[0].startswith("position lost: the exchange no longer knows the entry order")
    assert restarted.position is None
    assert TradeJournal(tmp_path / "trades.csv").rows()[-1]["exit_reason"] == "testnet_wipe"
