"""Runs features/emulator.feature against a real emulator with the real ccxt binance class.

Steps hand what they make to later steps through ``target_fixture``: the emulator (every one
started is stopped after the scenario by the ``servers`` fixture), the ccxt client and what
it or a plain HTTP client got back.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from commands import emulator as emulator_command
from core.clock import ManualClock
from emulator.limits import RateLimits
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator
from tests.binance_http import Reply, public, signed

scenarios("emulator.feature")

T0 = 1_700_000_040_000  # a whole minute


def emulator_command_args(state: Path) -> argparse.Namespace:
    """The flags of 'python main.py emulator --port 0 --seed 3 --state FILE'."""
    parser = argparse.ArgumentParser()
    emulator_command.add_arguments(parser)
    return parser.parse_args(["--port", "0", "--seed", "3", "--state", str(state)])


@dataclass
class Buy:
    """A buy by the client: the balances before it, and its order or the ccxt error it raised."""

    before: dict[str, float]
    order: dict | None = None
    error: ccxt.BaseError | None = None


@dataclass
class TickerFetch:
    """The client's ticker request: the ticker, or the ccxt error it raised."""

    ticker: dict | None = None
    error: ccxt.BaseError | None = None


@dataclass
class Book:
    """What a plain HTTP client read of BTCUSDT: the depth, the book ticker and the last price."""

    depth: dict
    ticker: dict
    last: str


@dataclass
class Standalone:
    """A standalone emulator started as 'main.py emulator --state FILE' starts it, and FILE."""

    server: EmulatorServer
    state: Path


@dataclass
class Restart:
    """The standalone emulator after its restart, and the first order's id and BTC before it."""

    server: EmulatorServer
    first_id: int
    btc: float


@pytest.fixture()
def clock() -> ManualClock:
    """The scenario's time, starting at a whole minute (T0)."""
    return ManualClock(T0)


def _serve(servers: list[EmulatorServer], server: EmulatorServer) -> EmulatorServer:
    """Start ``server`` and have it stopped after the scenario."""
    servers.append(server.start())
    return server


@given(parsers.parse("an emulator with a market generated from seed {seed:d}"),
       target_fixture="server")
def emulator(servers, clock, seed) -> EmulatorServer:
    return _serve(servers, EmulatorServer(GeneratedMarket(seed), clock))


@given("a ccxt binance client made for it", target_fixture="client")
def ccxt_client(server) -> ccxt.binance:
    return make_ccxt_for_emulator(
        server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET, timeout_ms=2000, clock=server.clock
    )


@given(parsers.parse("the clock is {seconds:d} seconds into a minute"))
def clock_into_minute(clock, seconds):
    clock.advance(seconds)


@given("the emulator will execute the next order but drop its answer")
def drop_next_order_answer(server):
    server.faults.order_timeout_after_fill(1)


@given(parsers.parse(
    "the emulator answers the next request with 429 and Retry-After {s:d} seconds"
))
def rate_limited(client, server, s):
    client.load_markets()
    server.faults.rate_limit(1, retry_after_s=s)


@given(parsers.parse("the price is forced to {price:g} USDT from now on"))
def forced_price(server, clock, price):
    server.market.force_price(price, clock.now_ms())


@when("the client loads the markets", target_fixture="markets")
def load_markets(client) -> dict:
    return client.load_markets()


@when(parsers.parse("the client fetches the last {n:d} one-minute candles"),
      target_fixture="candles")
def fetch_candles(client, n) -> list[list]:
    return client.fetch_ohlcv("BTC/USDT", "1m", limit=n)


@when(parsers.parse('the client buys {amount:g} BTC at market with client order id "{cid}"'),
      target_fixture="buy")
def market_buy(client, amount, cid) -> Buy:
    client.load_markets()
    buy = Buy(before=client.fetch_balance()["total"])
    try:
        buy.order = client.create_order(
            "BTC/USDT", "market", "buy", amount, params={"clientOrderId": cid}
        )
    except ccxt.BaseError as exc:
        buy.error = exc
    return buy


@when("the client fetches the ticker", target_fixture="ticker_fetch")
def fetch_ticker(client) -> TickerFetch:
    try:
        return TickerFetch(ticker=client.fetch_ticker("BTC/USDT"))
    except ccxt.BaseError as exc:
        return TickerFetch(error=exc)


@then(parsers.parse('the emulator received only "{request}"'))
def only_request(server, request):
    assert [f"{r.method} {r.path}" for r in server.requests] == [request]
    assert server.unknown_requests == []


@then(parsers.parse("BTC/USDT has an amount step of {step:g} and a minimum cost of {cost:g} USDT"))
def market_rules(markets, step, cost):
    market = markets["BTC/USDT"]
    assert market["precision"]["amount"] == step
    assert market["limits"]["cost"]["min"] == cost


@then("the last candle opened at the start of the current minute")
def last_candle_open(clock, candles):
    now = clock.now_ms()
    assert candles[-1][0] == now // 60_000 * 60_000


@then("its close is the ticker's last price")
def close_is_last(client, candles):
    assert candles[-1][4] == client.fetch_ticker("BTC/USDT")["last"]


@then("the order is filled at the ticker's last price")
def filled_at_last(client, buy):
    order = buy.order
    assert order["status"] == "closed"
    assert order["average"] == client.fetch_ticker("BTC/USDT")["last"]


@then(parsers.parse("the fee is {pct:g} % of {amount:g} BTC, paid in BTC"))
def fee_in_btc(buy, pct, amount):
    assert buy.order["fee"]["currency"] == "BTC"
    assert buy.order["fee"]["cost"] == pytest.approx(amount * pct / 100)


@then(parsers.parse("the BTC balance grew by {delta:g}"))
def btc_grew(client, buy, delta):
    after = client.fetch_balance()["total"]["BTC"]
    assert after - buy.before["BTC"] == pytest.approx(delta)


@then("the client saw a network error")
def saw_network_error(buy):
    assert isinstance(buy.error, ccxt.NetworkError)


@then(parsers.parse('the order "{cid}" is found filled when looked up by its client order id'))
def found_by_client_id(client, cid):
    order = client.fetch_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert order["status"] == "closed" and order["clientOrderId"] == cid


@then("the client saw DDoSProtection")
def saw_ddos(ticker_fetch):
    assert isinstance(ticker_fetch.error, ccxt.DDoSProtection)


@then(parsers.parse('the last response header Retry-After is "{value}"'))
def retry_after_header(client, value):
    assert client.last_response_headers["Retry-After"] == value


@then(parsers.parse("the last price is {price:g}"))
def last_price(ticker_fetch, price):
    assert ticker_fetch.ticker["last"] == price


@then("the markets listed are BTC/USDT, ETH/USDT and BNB/USDT")
def three_markets(client):
    assert sorted(client.markets) == ["BNB/USDT", "BTC/USDT", "ETH/USDT"]


@then(parsers.parse("the amount steps are {btc:g} for BTC/USDT, {eth:g} for ETH/USDT and"
                    " {bnb:g} for BNB/USDT"))
def amount_steps(client, btc, eth, bnb):
    markets = client.markets
    steps = [markets[s]["precision"]["amount"] for s in ("BTC/USDT", "ETH/USDT", "BNB/USDT")]
    assert steps == [btc, eth, bnb]


@then(parsers.parse("ETH/USDT trades between {eth_lo:g} and {eth_hi:g} USDT and BNB/USDT"
                    " between {bnb_lo:g} and {bnb_hi:g} USDT"))
def price_levels(client, eth_lo, eth_hi, bnb_lo, bnb_hi):
    assert eth_lo < client.fetch_ticker("ETH/USDT")["last"] < eth_hi
    assert bnb_lo < client.fetch_ticker("BNB/USDT")["last"] < bnb_hi


@when(parsers.parse("the client buys {amount:g} ETH at market"), target_fixture="buy")
def eth_buy(client, amount) -> Buy:
    before = client.fetch_balance()["total"]
    return Buy(before=before, order=client.create_order("ETH/USDT", "market", "buy", amount))


@then(parsers.parse("the ETH balance grew by {delta:g}"))
def eth_grew(client, buy, delta):
    after = client.fetch_balance()["total"]["ETH"]
    assert after - buy.before["ETH"] == pytest.approx(delta, abs=1e-12)


@then(parsers.parse("the BTC and BNB balances are still {amount:g}"))
def others_untouched(client, amount):
    total = client.fetch_balance()["total"]
    assert (total["BTC"], total["BNB"]) == (amount, amount)


# -- wire, limits, order types, --state (issue 15) ------------------------------------------
@when("a plain HTTP client asks for the BTCUSDT depth of 5 levels and the book ticker",
      target_fixture="book")
def depth_and_book(server) -> Book:
    return Book(
        depth=public(server, "/api/v3/depth", symbol="BTCUSDT", limit=5).body,
        ticker=public(server, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").body,
        last=public(server, "/api/v3/ticker/price", symbol="BTCUSDT").body["price"],
    )


@then("the best bid and the best ask are both the ticker's last price")
def book_at_last(book):
    depth, ticker, last = book.depth, book.ticker, book.last
    assert depth["bids"][0][0] == depth["asks"][0][0] == ticker["bidPrice"] == ticker["askPrice"]
    assert ticker["askPrice"] == last


@then(parsers.parse("each side lists {n:d} levels one tick apart"))
def levels_apart(book, n):
    for side, sign in (("bids", -1), ("asks", 1)):
        prices = [Decimal(p) for p, _ in book.depth[side]]
        assert len(prices) == n
        steps = [b - a for a, b in zip(prices, prices[1:], strict=False)]
        assert steps == [sign * Decimal("0.01")] * (n - 1)


@when("a plain HTTP client asks for ping, then exchangeInfo", target_fixture="replies")
def ping_then_info(server) -> list[Reply]:
    return [public(server, "/api/v3/ping"), public(server, "/api/v3/exchangeInfo")]


@then(parsers.parse("the X-MBX-USED-WEIGHT-1M headers read {first:d}, then {second:d}"))
def weights_read(replies, first, second):
    assert [int(r.headers["x-mbx-used-weight-1m"]) for r in replies] == [first, second]


@given(parsers.parse("an emulator allowing {weight:d} request weight per minute and banning"
                     " after {refusals:d} refusals"), target_fixture="server")
def limited_emulator(servers, server, clock, weight, refusals) -> EmulatorServer:
    server.stop()
    return _serve(servers, EmulatorServer(
        GeneratedMarket(7), clock,
        limits=RateLimits(weight_per_minute=weight, ban_after=refusals)))


@when(parsers.parse("a plain HTTP client asks for exchangeInfo {n:d} times"),
      target_fixture="replies")
def info_times(server, n) -> list[Reply]:
    return [public(server, "/api/v3/exchangeInfo") for _ in range(n)]


@then("the answers are 429, 429 and 418, each with a Retry-After header")
def limited_answers(replies):
    assert [r.status for r in replies] == [429, 429, 418]
    assert all(int(r.headers["retry-after"]) > 0 for r in replies)


@then(parsers.parse("the 418 says the IP is banned until a time {s:d} seconds ahead"))
def banned_until(clock, replies, s):
    until = clock.now_ms() + s * 1000
    assert f"IP banned until {until}." in replies[-1].body["msg"]


@then(parsers.parse('the raw order answer\'s price is "{text}"'))
def raw_price(client, text):
    raw = json.loads(client.last_http_response)
    assert raw["price"] == text and "E-" not in client.last_http_response


@when(parsers.parse('a plain HTTP client sends a market buy of quantity "{quantity}"'),
      target_fixture="reply")
def scientific_buy(server, quantity) -> Reply:
    return signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                  type="MARKET", quantity=quantity)


@then(parsers.parse('the answer is {code:d} "{msg}"'))
def answer_is(reply, code, msg):
    assert reply.body == {"code": code, "msg": msg}


@given(parsers.parse("the price will fall from {high:g} to {low:g} over the next minutes"))
def scripted_fall(server, high, low):
    server.market.script(T0, [high, high, low], gap=True)


@when(parsers.parse("the client places a stop-loss sell of {amount:g} BTC at {stop:g}"),
      target_fixture="order")
def stop_loss_sell(client, amount, stop) -> dict:
    client.load_markets()
    return client.create_order("BTC/USDT", "STOP_LOSS", "sell", amount,
                               params={"stopPrice": stop})


@then("the order is open and not working yet")
def open_not_working(server, order):
    raw = signed(server, "GET", "/api/v3/order", symbol="BTCUSDT", orderId=order["id"]).body
    assert (raw["status"], raw["isWorking"], raw["workingTime"]) == ("NEW", False, -1)


@when("the clock passes the fall")
def pass_the_fall(clock):
    clock.advance(180)


@then(parsers.parse("the order is filled near {price:g}"))
def filled_near(client, order, price):
    filled = client.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["average"] == pytest.approx(price, abs=0.02)


@given("a standalone emulator keeping its state in a file", target_fixture="standalone")
def standalone_with_state(servers, tmp_path) -> Standalone:
    state = tmp_path / "exchange.json"
    server = emulator_command.build_server(emulator_command_args(state), env={})
    return Standalone(_serve(servers, server), state)


@when("it fills an order and is restarted on the same file", target_fixture="restart")
def fill_and_restart(servers, standalone) -> Restart:
    first = standalone.server
    client = make_ccxt_for_emulator(first.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                    clock=first.clock)
    first_id = int(client.create_market_buy_order("BTC/USDT", 0.001)["id"])
    btc = first.balances()["BTC"]
    first.stop()
    second = emulator_command.build_server(emulator_command_args(standalone.state), env={})
    return Restart(_serve(servers, second), first_id, btc)


@then("the next order gets the following order id", target_fixture="balance_after")
def following_id(restart) -> float:
    second = restart.server
    client = make_ccxt_for_emulator(second.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                    clock=second.clock)
    balance_after = second.balances()["BTC"]
    order = client.create_market_sell_order("BTC/USDT", 0.001)
    second.stop()
    assert int(order["id"]) == restart.first_id + 1
    return balance_after


@then("the BTC balance is the one before the restart")
def balance_kept(restart, balance_after):
    assert balance_after == restart.btc
