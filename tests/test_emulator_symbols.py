"""Several symbols in the emulator: BTCUSDT, ETHUSDT and BNBUSDT, each its own market and rules."""

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from core.clock import ManualClock
from emulator.account import Account, SymbolRules
from emulator.market import GeneratedMarket, ReplayMarket
from emulator.persistence import load_emulator_state, read_emulator_state, save_emulator_state
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from emulator.symbols import (
    DEFAULT_SYMBOLS,
    generated_market,
    listed_markets,
    spec_for,
    symbol_seed,
)
from exchange.ccxt_emulator import make_ccxt_for_emulator

T0 = 1_700_000_040_000
NOW = T0 + 30_000
INDEX = T0 // 60_000


@pytest.fixture
def server(start_emulator):
    return start_emulator(GeneratedMarket(7), ManualClock(NOW))


@pytest.fixture
def ex(server):
    exchange = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                      clock=server.clock)
    exchange.load_markets()
    return exchange


def test_btc_market_is_the_single_symbol_one_and_others_have_their_own_level():
    """
    Given seed 7
    When the generated market of each listed symbol is built
    Then BTC/USDT's candles are exactly GeneratedMarket(7)'s, ETH/USDT trades near 2000 and
    BNB/USDT near 300, each on its own seed
    """
    btc, eth, bnb = (generated_market(s, 7) for s in DEFAULT_SYMBOLS)
    np.testing.assert_array_equal(btc.rows(INDEX, 50), GeneratedMarket(7).rows(INDEX, 50))
    assert 1_000 < eth.price_at(NOW) < 4_000 and 150 < bnb.price_at(NOW) < 600
    assert len({btc.seed, eth.seed, bnb.seed}) == 3 and btc.seed == 7
    assert symbol_seed(7, "ETHUSDT") == eth.seed != symbol_seed(8, "ETHUSDT")
    closes = [m.rows(INDEX, 300)[:, 3] for m in (btc, eth, bnb)]
    moves = [np.diff(np.log(c)) for c in closes]
    assert abs(np.corrcoef(moves[0], moves[1])[0, 1]) < 0.3  # not the same walk rescaled


def test_specs_carry_each_symbols_filters_and_unknown_pairs_get_default_rules():
    """
    Given the symbol table
    When the specs of ETH/USDT, BNB/USDT and an unlisted LTC/BTC are asked for
    Then ETH steps 0.0001, BNB 0.001, and LTC/BTC gets BTCUSDT-like rules for its own assets;
    a malformed name is a ValueError
    """
    assert spec_for("ETH/USDT").rules.step_size == Decimal("0.0001")
    assert spec_for("BNB/USDT").rules.min_qty == Decimal("0.001")
    other = spec_for("LTC/BTC")
    assert (other.rules.symbol, other.rules.step_size) == ("LTCBTC", Decimal("0.00001"))
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        spec_for("ethusdt")


def test_listed_markets_put_the_primary_first_and_accept_overrides(tmp_path):
    """
    Given a replayed ETH/USDT market as the primary and an extra market for BNB/USDT
    When the listed markets are assembled
    Then ETHUSDT comes first on the replay, BTCUSDT is generated on seed 1, BNBUSDT is the
    given one
    """
    frame = GeneratedMarket(3).rows(INDEX, 5)
    replay = ReplayMarket(pd.DataFrame({
        "timestamp": [(INDEX + i) * 60_000 for i in range(5)],
        "open": frame[:, 0], "high": frame[:, 1], "low": frame[:, 2], "close": frame[:, 3],
        "volume": frame[:, 4]}))
    extra = GeneratedMarket(99, 250.0)
    listed = listed_markets("ETH/USDT", replay, {"BNB/USDT": extra})
    assert list(listed) == ["ETHUSDT", "BTCUSDT", "BNBUSDT"]
    assert listed["ETHUSDT"][1] is replay and listed["BNBUSDT"][1] is extra
    assert listed["BTCUSDT"][1].seed == 1
    assert listed["ETHUSDT"][0].step_size == Decimal("0.0001")


def test_exchange_info_lists_three_symbols_with_their_own_filters(server):
    """
    Given the emulator
    When ccxt loads the markets, and exchangeInfo is asked for one symbol or a list
    Then BTC/USDT, ETH/USDT and BNB/USDT are all listed with their own amount steps, and the
    symbol/symbols parameters select entries
    """
    exchange = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    markets = exchange.load_markets()
    assert sorted(markets) == ["BNB/USDT", "BTC/USDT", "ETH/USDT"]
    steps = {s: markets[s]["precision"]["amount"] for s in markets}
    assert steps == {"BTC/USDT": 0.00001, "ETH/USDT": 0.0001, "BNB/USDT": 0.001}
    one = exchange.publicGetExchangeInfo({"symbol": "ETHUSDT"})["symbols"]
    assert [s["symbol"] for s in one] == ["ETHUSDT"]
    two = exchange.publicGetExchangeInfo({"symbols": '["BNBUSDT","BTCUSDT"]'})["symbols"]
    assert [s["symbol"] for s in two] == ["BNBUSDT", "BTCUSDT"]


def test_candles_and_tickers_come_from_each_symbols_market(ex, server):
    """
    Given the emulator at NOW
    When ccxt fetches candles and tickers of every symbol, and all last prices at once
    Then each comes from that symbol's market, and the symbol-less price ticker holds all three
    """
    for unified in DEFAULT_SYMBOLS:
        market = server.market_of(unified.replace("/", ""))
        bars = ex.fetch_ohlcv(unified, "1m", limit=3)
        assert bars[-1][0] == T0 and bars[-1][4] == market.price_at(NOW)
        assert ex.fetch_ticker(unified)["last"] == market.price_at(NOW)
    prices = ex.publicGetTickerPrice()
    assert [p["symbol"] for p in prices] == ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
    assert len(ex.publicGetTicker24hr()) == 3


def test_orders_on_each_symbol_move_its_own_assets(ex, server):
    """
    Given the default account (1 BTC, 1 ETH, 1 BNB, 10000 USDT)
    When ccxt buys 0.01 ETH at market, sells 0.1 BNB, and rests a BNB limit buy far below
    Then each fills at its symbol's price with its fee in the received asset, open orders and
    trades are listed per symbol, and cancelling on the wrong symbol finds nothing
    """
    eth_price = server.market_of("ETHUSDT").price_at(NOW)
    buy = ex.create_order("ETH/USDT", "market", "buy", 0.01)
    assert buy["average"] == eth_price and buy["fee"] == {"currency": "ETH", "cost": 0.00001}
    sell = ex.create_order("BNB/USDT", "market", "sell", 0.1)
    assert sell["fee"]["currency"] == "USDT"
    rest = ex.create_order("BNB/USDT", "limit", "buy", 0.1, 100.0)
    assert rest["status"] == "open"
    balances = server.balances()
    assert balances["ETH"] == pytest.approx(1.00999) and balances["BNB"] == pytest.approx(0.9)
    assert balances["BTC"] == 1.0 and server.locked_balances()["USDT"] == pytest.approx(10.0)
    assert [o["id"] for o in ex.fetch_open_orders("BNB/USDT")] == [rest["id"]]
    assert ex.fetch_open_orders("ETH/USDT") == []
    assert [t["order"] for t in ex.fetch_my_trades("ETH/USDT")] == [buy["id"]]
    assert ex.fetch_my_trades("BTC/USDT") == []
    assert [o["id"] for o in ex.fetch_orders("BNB/USDT")] == [sell["id"], rest["id"]]
    with pytest.raises(Exception, match="Unknown order"):
        ex.cancel_order(rest["id"], "ETH/USDT")
    ex.cancel_order(rest["id"], "BNB/USDT")
    assert server.locked_balances()["USDT"] == 0


def test_account_checks_symbols_and_keeps_orders_apart():
    """
    Given an account listing BTCUSDT and ETHUSDT
    When an ETH order is placed and looked up under BTCUSDT, and DOGEUSDT is named
    Then the ETH rules apply, the lookup under BTCUSDT is -2013, and DOGEUSDT is -1121
    """
    btc, eth = spec_for("BTC/USDT").rules, spec_for("ETH/USDT").rules
    acc = Account([btc, eth], {"USDT": 1000, "ETH": 1})
    assert acc.check_symbol({"symbol": "ETHUSDT"}) is eth and acc.rules is btc
    assert acc.assets() == ["BTC", "ETH", "USDT"] and acc.free["BTC"] == 0
    order = acc.place({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",
                       "quantity": "0.0123"}, 2000.0, NOW)
    assert order.symbol == "ETHUSDT" and order.trades[0].symbol == "ETHUSDT"
    with pytest.raises(Exception) as caught:
        acc.get({"symbol": "BTCUSDT", "orderId": str(order.order_id)})
    assert caught.value.code == -2013
    with pytest.raises(Exception) as caught:
        acc.check_symbol({"symbol": "DOGEUSDT"})
    assert caught.value.code == -1121
    with pytest.raises(ValueError, match="at least one symbol"):
        Account([], {})
    assert isinstance(SymbolRules.from_unified("ETH/USDT"), SymbolRules)


def test_state_keeps_every_symbols_orders_across_a_restart(tmp_path):
    """
    Given an emulator that traded ETH and rests a BNB order, saved to a file
    When a new emulator loads the file
    Then orders, trades (with their symbols), balances and locks of every symbol are back
    """
    path = tmp_path / "state.json"
    first = EmulatorServer(GeneratedMarket(7), ManualClock(NOW), state_path=path)
    acc = first._account
    acc.place({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
              2000.0, NOW)
    acc.place({"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1",
               "price": "100", "timeInForce": "GTC"}, 300.0, NOW)
    save_emulator_state(first, path)
    doc = read_emulator_state(path)
    assert doc["version"] == 2 and doc["symbols"] == ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
    assert [t["symbol"] for t in doc["trades"]] == ["ETHUSDT"]
    second = EmulatorServer(GeneratedMarket(7), ManualClock(NOW))
    assert load_emulator_state(second, path) == NOW
    assert second.orders == first.orders and second.balances() == first.balances()
    assert second.locked_balances()["USDT"] == Decimal("10")
    assert second._account.trades[0].symbol == "ETHUSDT"


def test_a_single_symbol_state_file_still_loads(tmp_path):
    """
    Given a version-1 state file of the single-symbol emulator (BTCUSDT, 0.5 BTC, one fill)
    When today's emulator loads it
    Then its BTC and USDT balances and its order come back, the trade belongs to BTCUSDT, and
    ETH and BNB (which the file predates) start at their default balances
    """
    path = tmp_path / "local_exchange.json"
    path.write_text(json.dumps({
        "format": "paperbot-emulator-state", "version": 1, "symbol": "BTCUSDT",
        "clock_ms": NOW,
        "balances": {"BTC": {"free": "0.50000000", "locked": "0"},
                     "USDT": {"free": "12000.00000000", "locked": "0"}},
        "orders": [{"order_id": 4, "client_order_id": "bot-1", "symbol": "BTCUSDT",
                    "side": "SELL", "type": "MARKET", "status": "FILLED",
                    "orig_qty": "0.5", "price": "0", "orig_quote_qty": "0",
                    "time_in_force": "GTC", "time_ms": NOW, "update_ms": NOW,
                    "executed_qty": "0.5", "cum_quote": "15000"}],
        "trades": [{"trade_id": 9, "order_id": 4, "price": "30000", "qty": "0.5",
                    "commission": "15", "commission_asset": "USDT", "time_ms": NOW,
                    "is_buyer": False}],
        "fills": [], "next_order_id": 5, "next_trade_id": 10, "update_ms": NOW}))
    server = EmulatorServer(GeneratedMarket(7), ManualClock(NOW))
    assert load_emulator_state(server, path) == NOW
    assert server.balances() == {"BNB": 1.0, "BTC": 0.5, "ETH": 1.0, "USDT": 12_000.0}
    assert [o["orderId"] for o in server.orders] == [4]
    assert server._account.trades[0].symbol == "BTCUSDT"


def test_an_absurd_saved_clock_is_refused_in_one_line(tmp_path):
    """
    Given a state file whose clock is 1e16 ms (year 318857)
    When it is read
    Then ValueError says in one line that the clock is past the year 9999, and the file is
    kept aside
    """
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"clock_ms": 10**16}))
    with pytest.raises(ValueError) as caught:
        read_emulator_state(path)
    message = str(caught.value)
    assert "past the year 9999" in message and "\n" not in message
    assert not path.exists() and len(list(tmp_path.glob("state.json.corrupt-*"))) == 1
