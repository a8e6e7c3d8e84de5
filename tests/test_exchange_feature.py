"""Runs features/exchange.feature: retries, skips and safe orders against the local emulator.

The real ccxt binance class talks to the emulator over 127.0.0.1; both share a ManualClock,
so waits are clock time, not wall time. The bad-candle scenarios corrupt one row of the
emulator's real reply on its way into the client (the only stand-in in this file).
"""

from __future__ import annotations

import math

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.clock import ManualClock
from core.errors import OrderRejected
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.client import ExchangeClient
from exchange.factory import make_exchange
from exchange.retry import RetryPolicy
from storage.logs import ERRORS_LOG, TRADING_LOG, setup_logging, teardown_logging

scenarios("exchange.feature")

MINUTE = 60_000
T0 = 1_704_067_200_000 + 120 * MINUTE + 30_000  # 30 s into a minute, 2 hours of history


@pytest.fixture()
def world(tmp_path):
    """The emulator, the shared clock, the bot's logs and what the steps observed."""
    clock = ManualClock(T0)
    server = EmulatorServer(GeneratedMarket(seed=5), clock).start()
    setup_logging(tmp_path, console=False, clock=clock)
    state = {"clock": clock, "server": server, "logs": tmp_path}
    yield state
    teardown_logging()
    server.stop()
    assert server.unknown_requests == [] and server.internal_errors == []


@given("the local exchange emulator trading BTC/USDT on 1-minute candles")
def emulator_running(world):
    assert world["server"].symbol == "BTC/USDT"


@given(parsers.parse("the bot's exchange client with {attempts:d} attempts"))
def exchange_client(world, attempts):
    exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                             base_url=world["server"].base_url, timeout_ms=2_000,
                             clock=world["clock"])
    client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=world["clock"],
                            policy=RetryPolicy(attempts=attempts))
    client.load_markets()
    world["client"] = client
    world["mark"] = len(world["server"].requests)


@given(parsers.parse("the exchange answers the next {count:d} requests with HTTP {status:d}"))
def server_errors(world, count, status):
    world["server"].faults.server_errors(count, status)


@given(parsers.parse("the exchange is down for {hours:d} hour"))
def outage(world, hours):
    world["server"].faults.outage(hours * 3600)


@given(parsers.parse(
    "the exchange answers the next request with 429 and Retry-After {seconds:d} seconds"))
def rate_limited(world, seconds):
    world["server"].faults.rate_limit(1, retry_after_s=seconds)


@given("the exchange refuses the next signed request with -1021")
def clock_skew(world):
    world["server"].faults.clock_skew(1)


@given("the exchange fills the next order but drops the connection")
def order_answer_lost(world):
    world["server"].faults.order_timeout_after_fill(1)


def _corrupt(row, defect):
    if defect == "a missing row":
        return None
    row = list(row)
    if defect == "no high":
        row[2] = None
    elif defect == "a NaN low":
        row[3] = math.nan
    elif defect == "a zero open":
        row[1] = 0.0
    elif defect == "high below low":
        row[2] = row[3] - 1.0
    elif defect == "close above high":
        row[4] = row[2] + 1.0
    else:
        raise AssertionError(f"unknown defect {defect!r}")
    return row


@given(parsers.parse("the exchange's reply has {defect} in its 3rd candle"))
def bad_reply(world, defect):
    exchange = world["client"].exchange
    real_fetch = exchange.fetch_ohlcv

    def fetch_then_corrupt(*args, **kwargs):
        rows = [list(r) for r in real_fetch(*args, **kwargs)]
        if defect == "a repeated time":
            rows[2][0] = rows[1][0]
        else:
            rows[2] = _corrupt(rows[2], defect)
        return rows

    exchange.fetch_ohlcv = fetch_then_corrupt


@when(parsers.parse("the bot fetches the last {count:d} closed candles"))
def fetch_candles(world, count):
    world["start_ms"] = world["clock"].now_ms()
    world["fetched"] = world["client"].fetch_closed_candles(count)


@when("the bot reads the last price")
def read_price(world):
    world["start_ms"] = world["clock"].now_ms()
    world["price"] = world["client"].last_price()


@when("the bot reads its free USDT balance")
def read_balance(world):
    world["balance"] = world["client"].free_balance("USDT")


@when(parsers.parse('the bot buys {quantity:g} BTC with client order id "{cid}"'))
def buy(world, quantity, cid):
    world["fill"] = world["client"].market_buy(quantity, cid)


@when(parsers.parse('the bot tries to buy {quantity:g} BTC with client order id "{cid}"'))
def try_buy(world, quantity, cid):
    with pytest.raises(OrderRejected) as caught:
        world["client"].market_buy(quantity, cid)
    world["rejection"] = str(caught.value)


@then(parsers.parse("it gets {count:d} closed candles"))
def got_candles(world, count):
    fetched = world["fetched"]
    assert fetched.skip_reason is None
    assert len(fetched.frame) == count


@then("the still-open candle is not among them")
def no_open_candle(world):
    last_open = int(world["fetched"].frame["timestamp"].iat[-1])
    assert last_open + MINUTE <= world["clock"].now_ms()
    assert last_open + 2 * MINUTE > world["clock"].now_ms()  # the newest closed one is there


@then("the cycle is skipped because the exchange is unavailable")
def skipped_unavailable(world):
    fetched = world["fetched"]
    assert fetched.frame is None
    assert fetched.skip_reason.startswith("exchange unavailable")


@then("trading.log says the cycle is skipped")
def trading_log_skip(world):
    text = (world["logs"] / TRADING_LOG).read_text("utf-8")
    assert "skipping this cycle: exchange unavailable" in text


@then("errors.log holds the failure with its stack trace")
def errors_log_trace(world):
    text = (world["logs"] / ERRORS_LOG).read_text("utf-8")
    assert "failed after 3 attempt(s)" in text
    assert "Traceback (most recent call last)" in text


@then(parsers.parse("{seconds:d} seconds passed on the bot's clock"))
def exact_clock_time(world, seconds):
    assert world["clock"].now_ms() - world["start_ms"] == seconds * 1000


@then(parsers.parse("at least {seconds:d} seconds passed on the bot's clock"))
def min_clock_time(world, seconds):
    assert world["clock"].now_ms() - world["start_ms"] >= seconds * 1000


@then("it gets a price")
def got_price(world):
    assert world["price"] is not None and world["price"] > 0


@then(parsers.parse("it gets {amount:d} USDT"))
def got_balance(world, amount):
    assert world["balance"] == amount


@then("the client asked the server time before retrying")
def resynced(world):
    calls = [(r.path, r.status) for r in world["server"].requests[world["mark"]:]]
    assert calls == [("/api/v3/account", 400), ("/api/v3/time", 200), ("/api/v3/account", 200)]


@then(parsers.parse('the bot gets a fill of {quantity:g} BTC for "{cid}"'))
def got_fill(world, quantity, cid):
    fill = world["fill"]
    assert fill.quantity == quantity and fill.client_order_id == cid and fill.price > 0


def _order_requests(world):
    return [r for r in world["server"].requests
            if r.method == "POST" and r.path == "/api/v3/order"]


@then(parsers.parse(
    "the exchange made exactly {fills:d} fill and received {orders:d} order request"))
def one_fill(world, fills, orders):
    assert len(world["server"].trades) == fills
    assert len(_order_requests(world)) == orders


@then("the order is rejected for insufficient funds")
def rejected_funds(world):
    assert "InsufficientFunds" in world["rejection"]


@then(parsers.parse("the exchange made no fill and received {orders:d} order request"))
def no_fill(world, orders):
    assert world["server"].trades == []
    assert len(_order_requests(world)) == orders


@then(parsers.parse('the cycle is skipped naming candle {position:d} and "{reason}"'))
def skipped_bad_candle(world, position, reason):
    fetched = world["fetched"]
    assert fetched.frame is None
    assert f"candle {position} of " in fetched.skip_reason
    assert reason in fetched.skip_reason
