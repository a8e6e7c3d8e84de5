"""Runs features/emulator.feature against a real emulator with the real ccxt binance class."""

from __future__ import annotations

import ccxt
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator

scenarios("emulator.feature")

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
