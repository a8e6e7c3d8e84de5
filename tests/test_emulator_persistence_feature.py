"""Runs features/emulator_persistence.feature: a local exchange restarted from its state file.

Orders go through the real ccxt binance class over 127.0.0.1. "Killed" means the first
emulator's port is released without its final save on stop, as when the process dies. Each
step hands what it made to the next through pytest-bdd's ``target_fixture`` (the first
emulator, the purchase, the restarted emulator) instead of a shared dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ccxt
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.persistence import load_emulator_state
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator

scenarios("emulator_persistence.feature")

T0 = 1_704_067_200_000 + 300 * 60_000


@dataclass(frozen=True)
class Purchase:
    """The BTC balance before the bot's buy and the order ids the exchange gave it."""

    btc_before: float
    order_ids: list[int]


@dataclass(frozen=True)
class Restarted:
    """The emulator started again from a state file, and why it refused the file, if it did."""

    server: EmulatorServer
    error: str | None = None


def ccxt_for(server: EmulatorServer) -> ccxt.binance:
    exchange = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                      timeout_ms=2_000, clock=server.clock)
    exchange.load_markets()
    return exchange


def start(servers: list[EmulatorServer], state_path: Path, clock_ms: int) -> EmulatorServer:
    """Start an emulator saving to ``state_path`` and have it stopped after the scenario."""
    server = EmulatorServer(GeneratedMarket(2), ManualClock(clock_ms),
                            state_path=state_path).start()
    servers.append(server)
    return server


@given(parsers.parse("a local exchange saving its state to {name}"), target_fixture="first")
def saving_exchange(servers, tmp_path, name) -> EmulatorServer:
    return start(servers, tmp_path / name, T0)


@given(parsers.parse('the bot bought {amount:g} BTC with client order id "{cid}"'),
       target_fixture="purchase")
def bought(first, amount, cid) -> Purchase:
    btc_before = first.balances()["BTC"]
    order = ccxt_for(first).create_order("BTC/USDT", "market", "buy", amount, None,
                                         {"clientOrderId": cid})
    return Purchase(btc_before=btc_before, order_ids=[int(order["id"])])


@given(parsers.parse("{name} holds half a JSON document"), target_fixture="damaged")
def half_document(tmp_path, name) -> bytes:
    damaged = b'{"format": "paperbot-emulator-state", "balances": {"BTC": {"fr'
    (tmp_path / name).write_bytes(damaged)
    return damaged


@when(parsers.parse("the bot process is killed and the local exchange is started again from"
                    " {name}"), target_fixture="restarted")
def killed_and_restarted(first, servers, tmp_path, name) -> Restarted:
    first.state_path = None  # killed: nothing more is saved after the last order
    first.stop()
    return restart(servers, tmp_path, name)


@when(parsers.parse("the local exchange is started again from {name}"),
      target_fixture="restarted")
def restart(servers, tmp_path, name) -> Restarted:
    state_path = tmp_path / name
    second = start(servers, state_path, T0 - 3_600_000)  # a fresh clock would start in the past
    try:
        clock_ms = load_emulator_state(second, state_path)
    except ValueError as exc:
        return Restarted(second, error=str(exc))
    if clock_ms is not None:
        second.clock.advance((clock_ms - second.clock.now_ms()) / 1000)
    return Restarted(second)


@then("the exchange's clock resumes where it stopped")
def clock_resumes(restarted, first):
    # The last save was the order's (the kill came before the final save on stop).
    assert restarted.server.clock.now_ms() == first.orders[-1]["time"] == T0


@then(parsers.parse("the BTC balance still includes the {amount:g} BTC bought"))
def balance_kept(restarted, purchase, amount):
    assert restarted.server.balances()["BTC"] == pytest.approx(purchase.btc_before + amount)


@then(parsers.parse('the order "{cid}" is found by its client order id, filled'))
def order_found(restarted, purchase, cid):
    order = ccxt_for(restarted.server).fetch_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert order["status"] == "closed" and int(order["id"]) in purchase.order_ids


@then("a new order gets an order id never used before")
def fresh_order_id(restarted, purchase):
    order = ccxt_for(restarted.server).create_order("BTC/USDT", "market", "sell", 0.001)
    assert int(order["id"]) > max(purchase.order_ids)


@then("it refuses the file in one line saying where the damaged copy was kept")
def refused(restarted):
    message = restarted.error
    assert message is not None
    assert "damaged emulator state" in message and ".corrupt-" in message
    assert "\n" not in message


@then("the damaged bytes are kept next to it")
def kept(tmp_path, damaged):
    copies = list(tmp_path.glob("emulator_state.json.corrupt-*"))
    assert [c.read_bytes() for c in copies] == [damaged]


@then(parsers.parse("the exchange has the default balances of {btc:g} BTC, {eth:g} ETH,"
                    " {bnb:g} BNB and {usdt:g} USDT"))
def default_balances(restarted, btc, eth, bnb, usdt):
    assert restarted.server.balances() == {"BTC": btc, "ETH": eth, "BNB": bnb, "USDT": usdt}
