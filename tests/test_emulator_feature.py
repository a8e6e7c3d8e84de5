"""Runs features/emulator.feature against a real emulator with the real ccxt binance class."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

import ccxt
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from commands import emulator as emulator_command
from core.clock import ManualClock
from emulator.limits import RateLimits
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator
from tests.binance_http import public, signed

scenarios("emulator.feature")


def emulator_command_args(state) -> argparse.Namespace:
    """The flags of 'python main.py emulator --port 0 --seed 3 --state FILE'."""
    parser = argparse.ArgumentParser()
    emulator_command.add_arguments(parser)
    return parser.parse_args(["--port", "0", "--seed", "3", "--state", str(state)])

T0 = 1_700_000_040_000  # a whole minute


@pytest.fixture()
def world():
    """The scenario's emulator, client and results; the emulator stops afterwards."""
    state: dict = {}
    yield state
    if "server" in state:
        state["server"].stop()


@given(parsers.parse("an emulator with a market generated from seed {seed:d}"))
def emulator(world, seed):
    world["clock"] = ManualClock(T0)
    world["server"] = EmulatorServer(GeneratedMarket(seed), world["clock"]).start()


@given("a ccxt binance client made for it")
def ccxt_client(world):
    server = world["server"]
    world["client"] = make_ccxt_for_emulator(
        server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_ms=2000, clock=server.clock
    )


@given(parsers.parse("the clock is {seconds:d} seconds into a minute"))
def clock_into_minute(world, seconds):
    world["clock"].advance(seconds)


@given("the emulator will execute the next order but drop its answer")
def drop_next_order_answer(world):
    world["server"].faults.order_timeout_after_fill(1)


@given(parsers.parse(
    "the emulator answers the next request with 429 and Retry-After {s:d} seconds"
))
def rate_limited(world, s):
    world["client"].load_markets()
    world["server"].faults.rate_limit(1, retry_after_s=s)


@given(parsers.parse("the price is forced to {price:g} USDT from now on"))
def forced_price(world, price):
    world["server"].market.force_price(price, world["clock"].now_ms())


@when("the client loads the markets")
def load_markets(world):
    world["markets"] = world["client"].load_markets()


@when(parsers.parse("the client fetches the last {n:d} one-minute candles"))
def fetch_candles(world, n):
    world["candles"] = world["client"].fetch_ohlcv("BTC/USDT", "1m", limit=n)


@when(parsers.parse('the client buys {amount:g} BTC at market with client order id "{cid}"'))
def market_buy(world, amount, cid):
    client = world["client"]
    client.load_markets()
    world["before"] = client.fetch_balance()["total"]
    try:
        world["order"] = client.create_order(
            "BTC/USDT", "market", "buy", amount, params={"clientOrderId": cid}
        )
    except ccxt.BaseError as exc:
        world["error"] = exc


@when("the client fetches the ticker")
def fetch_ticker(world):
    try:
        world["ticker"] = world["client"].fetch_ticker("BTC/USDT")
    except ccxt.BaseError as exc:
        world["error"] = exc


@then(parsers.parse('the emulator received only "{request}"'))
def only_request(world, request):
    server = world["server"]
    assert [f"{r.method} {r.path}" for r in server.requests] == [request]
    assert server.unknown_requests == []


@then(parsers.parse("BTC/USDT has an amount step of {step:g} and a minimum cost of {cost:g} USDT"))
def market_rules(world, step, cost):
    market = world["markets"]["BTC/USDT"]
    assert market["precision"]["amount"] == step
    assert market["limits"]["cost"]["min"] == cost


@then("the last candle opened at the start of the current minute")
def last_candle_open(world):
    now = world["clock"].now_ms()
    assert world["candles"][-1][0] == now // 60_000 * 60_000


@then("its close is the ticker's last price")
def close_is_last(world):
    assert world["candles"][-1][4] == world["client"].fetch_ticker("BTC/USDT")["last"]


@then("the order is filled at the ticker's last price")
def filled_at_last(world):
    order = world["order"]
    assert order["status"] == "closed"
    assert order["average"] == world["client"].fetch_ticker("BTC/USDT")["last"]


@then(parsers.parse("the fee is {pct:g} % of {amount:g} BTC, paid in BTC"))
def fee_in_btc(world, pct, amount):
    assert world["order"]["fee"]["currency"] == "BTC"
    assert world["order"]["fee"]["cost"] == pytest.approx(amount * pct / 100)


@then(parsers.parse("the BTC balance grew by {delta:g}"))
def btc_grew(world, delta):
    after = world["client"].fetch_balance()["total"]["BTC"]
    assert after - world["before"]["BTC"] == pytest.approx(delta)


@then("the client saw a network error")
def saw_network_error(world):
    assert isinstance(world.get("error"), ccxt.NetworkError)


@then(parsers.parse('the order "{cid}" is found filled when looked up by its client order id'))
def found_by_client_id(world, cid):
    order = world["client"].fetch_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert order["status"] == "closed" and order["clientOrderId"] == cid


@then("the client saw DDoSProtection")
def saw_ddos(world):
    assert isinstance(world.get("error"), ccxt.DDoSProtection)


@then(parsers.parse('the last response header Retry-After is "{value}"'))
def retry_after_header(world, value):
    assert world["client"].last_response_headers["Retry-After"] == value


@then(parsers.parse("the last price is {price:g}"))
def last_price(world, price):
    assert world["ticker"]["last"] == price


@then("the markets listed are BTC/USDT, ETH/USDT and BNB/USDT")
def three_markets(world):
    assert sorted(world["client"].markets) == ["BNB/USDT", "BTC/USDT", "ETH/USDT"]


@then(parsers.parse("the amount steps are {btc:g} for BTC/USDT, {eth:g} for ETH/USDT and"
                    " {bnb:g} for BNB/USDT"))
def amount_steps(world, btc, eth, bnb):
    markets = world["client"].markets
    steps = [markets[s]["precision"]["amount"] for s in ("BTC/USDT", "ETH/USDT", "BNB/USDT")]
    assert steps == [btc, eth, bnb]


@then(parsers.parse("ETH/USDT trades between {eth_lo:g} and {eth_hi:g} USDT and BNB/USDT"
                    " between {bnb_lo:g} and {bnb_hi:g} USDT"))
def price_levels(world, eth_lo, eth_hi, bnb_lo, bnb_hi):
    client = world["client"]
    assert eth_lo < client.fetch_ticker("ETH/USDT")["last"] < eth_hi
    assert bnb_lo < client.fetch_ticker("BNB/USDT")["last"] < bnb_hi


@when(parsers.parse("the client buys {amount:g} ETH at market"))
def eth_buy(world, amount):
    world["before"] = world["client"].fetch_balance()["total"]
    world["order"] = world["client"].create_order("ETH/USDT", "market", "buy", amount)


@then(parsers.parse("the ETH balance grew by {delta:g}"))
def eth_grew(world, delta):
    after = world["client"].fetch_balance()["total"]["ETH"]
    assert after - world["before"]["ETH"] == pytest.approx(delta, abs=1e-12)


@then(parsers.parse("the BTC and BNB balances are still {amount:g}"))
def others_untouched(world, amount):
    total = world["client"].fetch_balance()["total"]
    assert (total["BTC"], total["BNB"]) == (amount, amount)


# -- wire, limits, order types, --state (issue 15) ------------------------------------------
@when("a plain HTTP client asks for the BTCUSDT depth of 5 levels and the book ticker")
def depth_and_book(world):
    server = world["server"]
    world["depth"] = public(server, "/api/v3/depth", symbol="BTCUSDT", limit=5).body
    world["book"] = public(server, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").body
    world["last"] = public(server, "/api/v3/ticker/price", symbol="BTCUSDT").body["price"]


@then("the best bid and the best ask are both the ticker's last price")
def book_at_last(world):
    depth, book, last = world["depth"], world["book"], world["last"]
    assert depth["bids"][0][0] == depth["asks"][0][0] == book["bidPrice"] == book["askPrice"]
    assert book["askPrice"] == last


@then(parsers.parse("each side lists {n:d} levels one tick apart"))
def levels_apart(world, n):
    for side, sign in (("bids", -1), ("asks", 1)):
        prices = [Decimal(p) for p, _ in world["depth"][side]]
        assert len(prices) == n
        steps = [b - a for a, b in zip(prices, prices[1:], strict=False)]
        assert steps == [sign * Decimal("0.01")] * (n - 1)


@when("a plain HTTP client asks for ping, then exchangeInfo")
def ping_then_info(world):
    server = world["server"]
    world["replies"] = [public(server, "/api/v3/ping"), public(server, "/api/v3/exchangeInfo")]


@then(parsers.parse("the X-MBX-USED-WEIGHT-1M headers read {first:d}, then {second:d}"))
def weights_read(world, first, second):
    assert [int(r.headers["x-mbx-used-weight-1m"]) for r in world["replies"]] == [first, second]


@given(parsers.parse("an emulator allowing {weight:d} request weight per minute and banning"
                     " after {refusals:d} refusals"))
def limited_emulator(world, weight, refusals):
    world["server"].stop()
    world["server"] = EmulatorServer(
        GeneratedMarket(7), world["clock"],
        limits=RateLimits(weight_per_minute=weight, ban_after=refusals)).start()


@when(parsers.parse("a plain HTTP client asks for exchangeInfo {n:d} times"))
def info_times(world, n):
    world["replies"] = [public(world["server"], "/api/v3/exchangeInfo") for _ in range(n)]


@then("the answers are 429, 429 and 418, each with a Retry-After header")
def limited_answers(world):
    assert [r.status for r in world["replies"]] == [429, 429, 418]
    assert all(int(r.headers["retry-after"]) > 0 for r in world["replies"])


@then(parsers.parse("the 418 says the IP is banned until a time {s:d} seconds ahead"))
def banned_until(world, s):
    until = world["clock"].now_ms() + s * 1000
    assert f"IP banned until {until}." in world["replies"][-1].body["msg"]


@then(parsers.parse('the raw order answer\'s price is "{text}"'))
def raw_price(world, text):
    raw = json.loads(world["client"].last_http_response)
    assert raw["price"] == text and "E-" not in world["client"].last_http_response


@when(parsers.parse('a plain HTTP client sends a market buy of quantity "{quantity}"'))
def scientific_buy(world, quantity):
    world["reply"] = signed(world["server"], "POST", "/api/v3/order", symbol="BTCUSDT",
                            side="BUY", type="MARKET", quantity=quantity)


@then(parsers.parse('the answer is {code:d} "{msg}"'))
def answer_is(world, code, msg):
    assert world["reply"].body == {"code": code, "msg": msg}


@given(parsers.parse("the price will fall from {high:g} to {low:g} over the next minutes"))
def scripted_fall(world, high, low):
    world["server"].market.script(T0, [high, high, low], gap=True)


@when(parsers.parse("the client places a stop-loss sell of {amount:g} BTC at {stop:g}"))
def stop_loss_sell(world, amount, stop):
    client = world["client"]
    client.load_markets()
    world["order"] = client.create_order("BTC/USDT", "STOP_LOSS", "sell", amount,
                                         params={"stopPrice": stop})


@then("the order is open and not working yet")
def open_not_working(world):
    raw = signed(world["server"], "GET", "/api/v3/order", symbol="BTCUSDT",
                 orderId=world["order"]["id"]).body
    assert (raw["status"], raw["isWorking"], raw["workingTime"]) == ("NEW", False, -1)


@when("the clock passes the fall")
def pass_the_fall(world):
    world["clock"].advance(180)


@then(parsers.parse("the order is filled near {price:g}"))
def filled_near(world, price):
    order = world["client"].fetch_order(world["order"]["id"], "BTC/USDT")
    assert order["status"] == "closed" and order["average"] == pytest.approx(price, abs=0.02)


@given("a standalone emulator keeping its state in a file")
def standalone_with_state(world, tmp_path):
    world["state"] = tmp_path / "exchange.json"
    world["standalone"] = emulator_command.build_server(
        emulator_command_args(world["state"]), env={}).start()


@when("it fills an order and is restarted on the same file")
def fill_and_restart(world):
    first = world["standalone"]
    client = make_ccxt_for_emulator(first.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                    clock=first.clock)
    world["first_id"] = int(client.create_market_buy_order("BTC/USDT", 0.001)["id"])
    world["btc"] = first.balances()["BTC"]
    first.stop()
    second = emulator_command.build_server(emulator_command_args(world["state"]), env={})
    world["second"] = second.start()


@then("the next order gets the following order id")
def following_id(world):
    second = world["second"]
    client = make_ccxt_for_emulator(second.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                    clock=second.clock)
    world["balance_after"] = second.balances()["BTC"]
    order = client.create_market_sell_order("BTC/USDT", 0.001)
    second.stop()
    assert int(order["id"]) == world["first_id"] + 1


@then("the BTC balance is the one before the restart")
def balance_kept(world):
    assert world["balance_after"] == world["btc"]
