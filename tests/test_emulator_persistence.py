"""The emulator remembers balances, orders, trades and its clock across a restart.

Orders go through the real ccxt binance class over 127.0.0.1; the "restart" is a second
EmulatorServer built on the saved document, as the bot's offline mode builds one per run.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from decimal import Decimal

import ccxt
import pytest

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.persistence import (
    STATE_VERSION,
    _move_aside,
    _utc_stamp,
    load_emulator_state,
    read_emulator_state,
    save_emulator_state,
)
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator
from exchange.client import ExchangeClient
from exchange.retry import RetryPolicy

T0 = 1_704_067_200_000 + 300 * 60_000 + 30_000
SYMBOL = "BTC/USDT"


def emulator(clock_ms: int = T0, **kwargs) -> EmulatorServer:
    return EmulatorServer(GeneratedMarket(9), ManualClock(clock_ms), **kwargs).start()


def ccxt_for(server: EmulatorServer):
    return make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                  timeout_ms=2_000, clock=server.clock)


def trade_a_little(server: EmulatorServer) -> None:
    """A buy, a sell, a resting limit buy and a cancelled limit sell, one minute apart."""
    ex = ccxt_for(server)
    ex.load_markets()
    price = ex.fetch_ticker(SYMBOL)["last"]
    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "bot-buy-1"})
    server.clock.advance(60)
    ex.create_order(SYMBOL, "market", "sell", 0.004, None, {"clientOrderId": "bot-sell-1"})
    server.clock.advance(60)
    ex.create_order(SYMBOL, "limit", "buy", 0.002, round(price * 0.5, 2),
                    {"clientOrderId": "rest-1"})
    ex.create_order(SYMBOL, "limit", "sell", 0.003, round(price * 2, 2),
                    {"clientOrderId": "gone-1"})
    ex.cancel_order(None, SYMBOL, {"clientOrderId": "gone-1"})
    server.clock.advance(60)


@pytest.fixture
def traded():
    server = emulator()
    trade_a_little(server)
    yield server
    server.stop()
    assert server.unknown_requests == [] and server.internal_errors == []


def snapshot(server: EmulatorServer):
    return (server.orders, server.trades, server.fills, server.balances(),
            server.locked_balances())


def test_round_trip_keeps_orders_trades_balances_and_counters(traded):
    """
    Given an emulator after a buy, a sell, a resting limit order and a cancelled one
    When its state goes through JSON into a fresh emulator on a clock started at clock_ms
    Then orders, trades, fills, free and locked balances are identical
    And ccxt still finds the old buy by its client id, and a new order gets the next order id
    """
    doc = json.loads(json.dumps(traded.export_state()))
    assert doc["clock_ms"] == traded.clock.now_ms()
    fresh = emulator(doc["clock_ms"])
    try:
        fresh.import_state(doc)
        assert snapshot(fresh) == snapshot(traded)
        ex = ccxt_for(fresh)
        ex.load_markets()
        old = ex.fetch_order(None, SYMBOL, {"clientOrderId": "bot-buy-1"})
        assert (old["status"], old["filled"], old["side"]) == ("closed", 0.01, "buy")
        assert [o["clientOrderId"] for o in ex.fetch_open_orders(SYMBOL)] == ["rest-1"]
        mine = ex.fetch_my_trades(SYMBOL)
        assert [t["order"] for t in mine] == [str(o["orderId"]) for o in traded.orders[:2]]
        new = ex.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "next-1"})
        assert int(new["id"]) == max(o["orderId"] for o in traded.orders) + 1
        assert fresh.internal_errors == []
    finally:
        fresh.stop()


def test_bot_client_finds_its_fill_after_the_restart(traded):
    """
    Given the bot's ExchangeClient knowing only its client order id "bot-sell-1"
    When it looks the order up on an emulator restarted from the saved state
    Then it gets the same fill (price, quantity, fee) the first emulator made
    """
    fresh = emulator(traded.clock.now_ms())
    try:
        fresh.import_state(traded.export_state())
        exchange = make_ccxt_for_emulator(fresh.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                          timeout_ms=2_000)
        exchange.nonce = fresh.clock.now_ms
        client = ExchangeClient(exchange, SYMBOL, "1m", clock=fresh.clock, policy=RetryPolicy())
        fill = client.find_order("bot-sell-1")
        original = next(f for f in traded.fills if f.client_order_id == "bot-sell-1")
        assert fill is not None
        assert (fill.price, fill.quantity, fill.fee, fill.fee_currency) == (
            original.price, original.quantity, original.fee, original.fee_currency)
    finally:
        fresh.stop()


def test_export_is_plain_json_with_every_part(traded):
    """
    Given an emulator that traded
    When its state is exported
    Then it serialises to JSON and holds balances, orders, trades, fills, counters and clock
    with money as exact decimal strings
    """
    doc = traded.export_state()
    assert json.loads(json.dumps(doc)) == doc
    assert {"balances", "orders", "trades", "fills", "next_order_id", "next_trade_id",
            "clock_ms", "version", "symbol"} <= set(doc)
    assert doc["version"] == STATE_VERSION and doc["symbol"] == "BTCUSDT"
    assert doc["next_order_id"] == 5 and doc["next_trade_id"] == 3
    assert doc["trades"][0]["qty"] == "0.01" and isinstance(doc["balances"]["BTC"]["free"], str)


def _mutations():
    def drop(key):
        return lambda d: d.pop(key)

    def order(key, value):
        return lambda d: d["orders"][0].__setitem__(key, value)

    return [
        ("not an object", lambda d: d.clear() or d.update({"format": None}), "format"),
        ("version", lambda d: d.__setitem__("version", 99), "version 99 is not supported"),
        ("symbol", lambda d: d.__setitem__("symbol", "DOGEUSDT"), "for symbol 'DOGEUSDT'"),
        ("symbols", lambda d: d.__setitem__("symbols", ["BTCUSDT", "XRPUSDT"]),
         "for symbol 'XRPUSDT'"),
        ("no orders", drop("orders"), "lacks 'orders'"),
        ("orders not a list", lambda d: d.__setitem__("orders", {}), "state.orders must be a"),
        ("side", order("side", "HOLD"), "orders[0].side must be one of BUY, SELL"),
        ("qty", order("orig_qty", "-1"), "orders[0].orig_qty must be a decimal string"),
        ("qty float", order("orig_qty", 0.01), "orders[0].orig_qty must be a decimal string"),
        ("id", order("order_id", "1"), "orders[0].order_id must be a whole number"),
        ("client id", order("client_order_id", "bad id!"), "is not a Binance client id"),
        ("balance", lambda d: d["balances"]["BTC"].__setitem__("free", "x"),
         "balances.BTC.free must be a decimal string"),
        ("locked", lambda d: d["balances"]["USDT"].__setitem__("locked", "0"),
         "balances.USDT.locked is 0 but the open orders reserve"),
        ("orphan trade", lambda d: d["trades"][0].__setitem__("order_id", 77),
         "belongs to order 77, which is not in state.orders"),
        ("counter", lambda d: d.__setitem__("next_order_id", 2),
         "next_order_id 2 must be above every order_id (4)"),
        ("twice", lambda d: d["orders"].append(dict(d["orders"][0])), "same order_id twice"),
        ("buyer", lambda d: d["trades"][0].__setitem__("is_buyer", "yes"), "is_buyer must be"),
        ("fill", lambda d: d["fills"][0].__setitem__("price", "1"), "fills[0].price must be a"),
    ]


@pytest.mark.parametrize("name, mutate, message", _mutations(), ids=[m[0] for m in _mutations()])
def test_a_bad_document_is_refused_in_one_line_and_changes_nothing(traded, name, mutate,
                                                                    message):
    """
    Given a valid exported state with one thing broken
    When a fresh emulator imports it
    Then ValueError names the problem in one line, and the emulator keeps its own state
    """
    doc = copy.deepcopy(traded.export_state())
    mutate(doc)
    fresh = emulator()
    try:
        before = snapshot(fresh)
        with pytest.raises(ValueError) as caught:
            fresh.import_state(doc)
        assert message in str(caught.value) and "\n" not in str(caught.value)
        assert str(caught.value).startswith("emulator state rejected: ")
        assert snapshot(fresh) == before
    finally:
        fresh.stop()


def test_autosave_after_a_fill_without_stopping(tmp_path):
    """
    Given an emulator saving its state to a file
    When a market buy is answered, and the process is then "killed" (never stopped)
    Then the file already holds that order and fill, and a restart from it finds the order
    """
    path = tmp_path / "emulator.json"
    server = emulator(state_path=path)
    ex = ccxt_for(server)
    ex.load_markets()
    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "kill-1"})
    saved = json.loads(path.read_text())
    assert [o["client_order_id"] for o in saved["orders"]] == ["kill-1"]
    assert len(saved["trades"]) == 1
    assert Decimal(saved["balances"]["BTC"]["free"]) == Decimal("1.00999")
    clock_ms = read_emulator_state(path)["clock_ms"]
    restarted = EmulatorServer(GeneratedMarket(9), ManualClock(clock_ms), state_path=path).start()
    try:
        assert load_emulator_state(restarted, path) == clock_ms
        assert restarted.orders == server.orders and restarted.balances() == server.balances()
    finally:
        restarted.stop()
        server.state_path = None  # the "killed" one: no final save when its port is released
        server.stop()


def test_autosave_on_a_dropped_order_answer_cancel_wipe_and_stop(tmp_path):
    """
    Given an emulator saving to a file
    When an order executes but its answer is dropped, a limit order is cancelled, the account
    is wiped, and finally the clock moves and the emulator stops
    Then the file follows each step: the executed order, the cancel, the wipe, the last clock
    """
    path = tmp_path / "emulator.json"
    server = emulator(state_path=path)
    ex = ccxt_for(server)
    ex.load_markets()
    server.faults.order_timeout_after_fill(1)
    with pytest.raises(ccxt.NetworkError):
        ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "lost-1"})
    assert json.loads(path.read_text())["orders"][0]["status"] == "FILLED"
    ex.create_order(SYMBOL, "limit", "buy", 0.01, 1000.0, {"clientOrderId": "rest-1"})
    ex.cancel_order(None, SYMBOL, {"clientOrderId": "rest-1"})
    assert json.loads(path.read_text())["orders"][1]["status"] == "CANCELED"
    server.wipe()
    after_wipe = json.loads(path.read_text())
    assert after_wipe["orders"] == [] and len(after_wipe["fills"]) == 1
    server.clock.advance(3600)
    server.stop()
    assert json.loads(path.read_text())["clock_ms"] == T0 + 3_600_000
    assert server.save_errors == []


def test_save_is_atomic_owner_only_and_cleans_leftovers(traded, tmp_path):
    """
    Given a save killed earlier (its temp file left behind)
    When the state is saved and read back
    Then the file is owner-only, no temp file remains, and the document is the export
    """
    path = tmp_path / "emulator.json"
    leftover = tmp_path / ".emulator.json.abc123.tmp"
    leftover.write_text("{half")
    save_emulator_state(traded, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = read_emulator_state(path)
    assert not leftover.exists()
    assert doc == json.loads(json.dumps(traded.export_state()))


def test_absent_file_loads_nothing(tmp_path):
    """
    Given no state file yet (a first run)
    When it is loaded
    Then None comes back and the emulator keeps its default account
    """
    server = emulator()
    try:
        assert load_emulator_state(server, tmp_path / "none.json") is None
        assert server.balances() == {"BNB": 1.0, "BTC": 1.0, "ETH": 1.0, "USDT": 10_000.0}
    finally:
        server.stop()


@pytest.mark.parametrize("content, reason", [
    (b'{"format": "paperbot-emulator-state", "orders": [', "not JSON"),
    (b"", "the file is empty"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"clock_ms": "soon"}', "clock_ms must be whole epoch milliseconds"),
    (b'{"clock_ms": 5, "format": "paperbot-emulator-state", "version": 1, "symbol": "DOGEUSDT"}',
     "for symbol 'DOGEUSDT'"),
])
def test_damaged_file_is_kept_aside_with_a_clear_error(tmp_path, content, reason):
    """
    Given a state file that is truncated, empty, not an object, without a clock or for
    another symbol
    When the emulator loads it
    Then ValueError (one line) gives the reason and where the file was kept,
    the bytes are kept as <name>.corrupt-<stamp>, and the next autosave starts a fresh file
    """
    path = tmp_path / "emulator.json"
    path.write_bytes(content)
    server = emulator(state_path=path)
    try:
        with pytest.raises(ValueError) as caught:
            load_emulator_state(server, path)
        message = str(caught.value)
        kept = list(tmp_path.glob("emulator.json.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == content
        assert reason in message and str(kept[0]) in message and "\n" not in message
        assert not path.exists()
        server.wipe()
        assert read_emulator_state(path)["orders"] == []
    finally:
        server.stop()


def test_a_state_file_not_loaded_is_never_overwritten(traded, tmp_path):
    """
    Given a saved state, and a new emulator pointed at it that did not load it
    When that emulator fills an order and stops
    Then the saved file is untouched and the refusal is in save_errors
    """
    path = tmp_path / "emulator.json"
    save_emulator_state(traded, path)
    before = path.read_bytes()
    careless = emulator(state_path=path)
    ex = ccxt_for(careless)
    ex.load_markets()
    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "oops-1"})
    careless.stop()
    assert path.read_bytes() == before
    assert careless.save_errors and "has not loaded" in careless.save_errors[0]


def test_a_failing_save_is_reported_not_fatal(tmp_path):
    """
    Given an emulator whose state path is inside a plain file (it cannot be written)
    When an order fills
    Then the order is answered normally and the failure is kept in save_errors
    """
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    server = emulator(state_path=blocker / "emulator.json")
    try:
        ex = ccxt_for(server)
        ex.load_markets()
        order = ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "d-1"})
        assert order["status"] == "closed"
        assert server.save_errors and "could not save" in server.save_errors[0]
        assert server.internal_errors == []
    finally:
        server.stop()


def test_move_aside_never_clobbers_and_stamps_in_utc(tmp_path):
    """
    Given two damaged files moved aside within the same second
    When the second one is moved
    Then it gets a numbered name, both copies exist, and the stamp reads YYYYmmddTHHMMSSZ
    """
    path = tmp_path / "s.json"
    path.write_text("1")
    first = _move_aside(path)
    path.write_text("2")
    second = _move_aside(path)
    assert first != second and first.read_text() == "1" and second.read_text() == "2"
    stamp = _utc_stamp()
    assert len(stamp) == 16 and stamp[8] == "T" and stamp.endswith("Z")
    assert os.path.basename(first).startswith("s.json.corrupt-")


def test_the_persistence_doc_names_the_file_the_bot_writes():
    """
    Given the bot's local exchange state file name
    When docs/readme/emulator-persistence.md is read
    Then it names data/local_exchange.json and no other state file name
    """
    from bot.wiring import LOCAL_STATE_FILE
    from tests.conftest import PROJECT_DIR

    text = (PROJECT_DIR / "docs" / "readme" / "emulator-persistence.md").read_text()
    assert f"data/{LOCAL_STATE_FILE}" in text
    assert "emulator_state.json" not in text
