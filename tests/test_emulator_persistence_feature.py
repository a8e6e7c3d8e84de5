"""Runs features/emulator_persistence.feature: a local exchange restarted from its state file.

Orders go through the real ccxt binance class over 127.0.0.1. "Killed" means the first
emulator's port is released without its final save on stop, as when the process dies.
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.persistence import load_emulator_state
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator

scenarios("emulator_persistence.feature")

T0 = 1_704_067_200_000 + 300 * 60_000


@pytest.fixture()
def world(tmp_path):
    state: dict = {"dir": tmp_path, "servers": []}
    yield state
    for server in state["servers"]:
        server.stop()


def ccxt_for(server):
    exchange = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                      timeout_ms=2_000, clock=server.clock)
    exchange.load_markets()
    return exchange


def start(world, name, clock_ms):
    server = EmulatorServer(GeneratedMarket(2), ManualClock(clock_ms),
                            state_path=world["dir"] / name).start()
    world["servers"].append(server)
    return server


@given(parsers.parse("a local exchange saving its state to {name}"))
def saving_exchange(world, name):
    world["first"] = start(world, name, T0)


@given(parsers.parse('the bot bought {amount:g} BTC with client order id "{cid}"'))
def bought(world, amount, cid):
    first = world["first"]
    world["btc_before"] = first.balances()["BTC"]
    order = ccxt_for(first).create_order("BTC/USDT", "market", "buy", amount, None,
                                         {"clientOrderId": cid})
    world["order_ids"] = [int(order["id"])]


@given(parsers.parse("{name} holds half a JSON document"))
def half_document(world, name):
    world["damaged"] = b'{"format": "paperbot-emulator-state", "balances": {"BTC": {"fr'
    (world["dir"] / name).write_bytes(world["damaged"])


@when(parsers.parse("the bot process is killed and the local exchange is started again from"
                    " {name}"))
def killed_and_restarted(world, name):
    first = world["first"]
    first.state_path = None  # killed: nothing more is saved after the last order
    first.stop()
    restart(world, name)


@when(parsers.parse("the local exchange is started again from {name}"))
def restart(world, name):
    second = start(world, name, T0 - 3_600_000)  # a fresh clock would start in the past
    try:
        clock_ms = load_emulator_state(second, world["dir"] / name)
    except ValueError as exc:
        world["error"] = str(exc)
    else:
        if clock_ms is not None:
            second.clock.advance((clock_ms - second.clock.now_ms()) / 1000)
    world["second"] = second


@then("the exchange's clock resumes where it stopped")
def clock_resumes(world):
    # The last save was the order's (the kill came before the final save on stop).
    assert world["second"].clock.now_ms() == world["first"].orders[-1]["time"] == T0


@then(parsers.parse("the BTC balance still includes the {amount:g} BTC bought"))
def balance_kept(world, amount):
    assert world["second"].balances()["BTC"] == pytest.approx(world["btc_before"] + amount)


@then(parsers.parse('the order "{cid}" is found by its client order id, filled'))
def order_found(world, cid):
    order = ccxt_for(world["second"]).fetch_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert order["status"] == "closed" and int(order["id"]) in world["order_ids"]


@then("a new order gets an order id never used before")
def fresh_order_id(world):
    order = ccxt_for(world["second"]).create_order("BTC/USDT", "market", "sell", 0.001)
    assert int(order["id"]) > max(world["order_ids"])


@then("it refuses the file in one line saying where the damaged copy was kept")
def refused(world):
    message = world["error"]
    assert "damaged emulator state" in message and ".corrupt-" in message
    assert "\n" not in message


@then("the damaged bytes are kept next to it")
def kept(world):
    copies = list(world["dir"].glob("emulator_state.json.corrupt-*"))
    assert [c.read_bytes() for c in copies] == [world["damaged"]]


@then(parsers.parse("the exchange has the default balances of {btc:g} BTC, {eth:g} ETH,"
                    " {bnb:g} BNB and {usdt:g} USDT"))
def default_balances(world, btc, eth, bnb, usdt):
    assert world["second"].balances() == {"BTC": btc, "ETH": eth, "BNB": bnb, "USDT": usdt}
