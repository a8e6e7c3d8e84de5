"""Runs features/exchange.feature: retries, skips and safe orders against the local emulator.

The real ccxt binance class talks to the emulator over 127.0.0.1; both share a ManualClock,
so waits are clock time, not wall time. The bad-candle scenarios corrupt one row of the
emulator's real reply on its way into the client (the only stand-in in this file). Each step
hands what it made or read to the next through pytest-bdd's ``target_fixture`` (the client,
the fetched candles, the price, the fill) instead of a shared dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from core.candles import CandleFetch
from core.clock import ManualClock
from core.errors import OrderRejected
from core.types import Fill
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer, RequestRecord
from exchange.client import ExchangeClient
from exchange.factory import make_exchange
from exchange.retry import RetryPolicy
from storage.logs import ERRORS_LOG, TRADING_LOG, setup_logging, teardown_logging

scenarios("exchange.feature")

MINUTE = 60_000
T0 = 1_704_067_200_000 + 120 * MINUTE + 30_000  # 30 s into a minute, 2 hours of history


@dataclass
class Stopwatch:
    """The shared clock and when the step under test started on it."""

    clock: ManualClock
    started_ms: int | None = None

    def start(self) -> None:
        """Note the clock time now as the start."""
        self.started_ms = self.clock.now_ms()

    def elapsed_ms(self) -> int:
        """Clock time since ``start``."""
        assert self.started_ms is not None, "no step started the stopwatch"
        return self.clock.now_ms() - self.started_ms


@pytest.fixture()
def clock() -> ManualClock:
    """The clock the emulator and the bot share, 30 s into a minute (T0)."""
    return ManualClock(T0)


@pytest.fixture()
def server(clock) -> Iterator[EmulatorServer]:
    """The emulator, stopped after the scenario, which must have met no unknown request."""
    server = EmulatorServer(GeneratedMarket(seed=5), clock).start()
    yield server
    server.stop()
    assert server.unknown_requests == [] and server.internal_errors == []


@pytest.fixture()
def bot_logs(tmp_path, clock) -> Iterator[Path]:
    """The bot's log folder, logging set up on the shared clock and torn down after."""
    setup_logging(tmp_path, console=False, clock=clock)
    yield tmp_path
    teardown_logging()


@pytest.fixture()
def stopwatch(clock) -> Stopwatch:
    """How much clock time the step under test took."""
    return Stopwatch(clock)


@given("the local exchange emulator trading BTC/USDT on 1-minute candles")
def emulator_running(server):
    assert server.symbol == "BTC/USDT"


@given(parsers.parse("the bot's exchange client with {attempts:d} attempts"),
       target_fixture="client")
def exchange_client(server, clock, bot_logs, attempts) -> ExchangeClient:
    exchange = make_exchange("local", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                             base_url=server.base_url, timeout_ms=2_000, clock=clock)
    client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=clock,
                            policy=RetryPolicy(attempts=attempts))
    client.load_markets()
    return client


@given(parsers.parse("the exchange answers the next {count:d} requests with HTTP {status:d}"))
def server_errors(server, count, status):
    server.faults.server_errors(count, status)


@given(parsers.parse("the exchange is down for {hours:d} hour"))
def outage(server, hours):
    server.faults.outage(hours * 3600)


@given(parsers.parse(
    "the exchange answers the next request with 429 and Retry-After {seconds:d} seconds"))
def rate_limited(server, seconds):
    server.faults.rate_limit(1, retry_after_s=seconds)


@given("the exchange refuses the next signed request with -1021",
       target_fixture="requests_before")
def clock_skew(server) -> int:
    """Returns how many requests the server had received (all the client's loading)."""
    server.faults.clock_skew(1)
    return len(server.requests)


@given("the exchange fills the next order but drops the connection")
def order_answer_lost(server):
    server.faults.order_timeout_after_fill(1)


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
def bad_reply(client, defect):
    exchange = client.exchange
    real_fetch = exchange.fetch_ohlcv

    def fetch_then_corrupt(*args, **kwargs):
        rows = [list(r) for r in real_fetch(*args, **kwargs)]
        if defect == "a repeated time":
            rows[2][0] = rows[1][0]
        else:
            rows[2] = _corrupt(rows[2], defect)
        return rows

    exchange.fetch_ohlcv = fetch_then_corrupt


@when(parsers.parse("the bot fetches the last {count:d} closed candles"),
      target_fixture="fetched")
def fetch_candles(client, stopwatch, count) -> CandleFetch:
    stopwatch.start()
    return client.fetch_closed_candles(count)


@when("the bot reads the last price", target_fixture="price")
def read_price(client, stopwatch) -> float | None:
    stopwatch.start()
    return client.last_price()


@when("the bot reads its free USDT balance", target_fixture="balance")
def read_balance(client) -> float:
    return client.free_balance("USDT")


@when(parsers.parse('the bot buys {quantity:g} BTC with client order id "{cid}"'),
      target_fixture="fill")
def buy(client, quantity, cid) -> Fill:
    return client.market_buy(quantity, cid)


@when(parsers.parse('the bot tries to buy {quantity:g} BTC with client order id "{cid}"'),
      target_fixture="rejection")
def try_buy(client, quantity, cid) -> str:
    with pytest.raises(OrderRejected) as caught:
        client.market_buy(quantity, cid)
    return str(caught.value)


@then(parsers.parse("it gets {count:d} closed candles"))
def got_candles(fetched, count):
    assert fetched.skip_reason is None
    assert len(fetched.frame) == count


@then("the still-open candle is not among them")
def no_open_candle(fetched, clock):
    last_open = int(fetched.frame["timestamp"].iat[-1])
    assert last_open + MINUTE <= clock.now_ms()
    assert last_open + 2 * MINUTE > clock.now_ms()  # the newest closed one is there


@then("the cycle is skipped because the exchange is unavailable")
def skipped_unavailable(fetched):
    assert fetched.frame is None
    assert fetched.skip_reason.startswith("exchange unavailable")


@then("trading.log says the cycle is skipped")
def trading_log_skip(bot_logs):
    text = (bot_logs / TRADING_LOG).read_text("utf-8")
    assert "skipping this cycle: exchange unavailable" in text


@then("errors.log holds the failure with its stack trace")
def errors_log_trace(bot_logs):
    text = (bot_logs / ERRORS_LOG).read_text("utf-8")
    assert "failed after 3 attempt(s)" in text
    assert "Traceback (most recent call last)" in text


@then(parsers.parse("{seconds:d} seconds passed on the bot's clock"))
def exact_clock_time(stopwatch, seconds):
    assert stopwatch.elapsed_ms() == seconds * 1000


@then(parsers.parse("at least {seconds:d} seconds passed on the bot's clock"))
def min_clock_time(stopwatch, seconds):
    assert stopwatch.elapsed_ms() >= seconds * 1000


@then("it gets a price")
def got_price(price):
    assert price is not None and price > 0


@then(parsers.parse("it gets {amount:d} USDT"))
def got_balance(balance, amount):
    assert balance == amount


@then("the client asked the server time before retrying")
def resynced(server, requests_before):
    calls = [(r.path, r.status) for r in server.requests[requests_before:]]
    assert calls == [("/api/v3/account", 400), ("/api/v3/time", 200), ("/api/v3/account", 200)]


@then(parsers.parse('the bot gets a fill of {quantity:g} BTC for "{cid}"'))
def got_fill(fill, quantity, cid):
    assert fill.quantity == quantity and fill.client_order_id == cid and fill.price > 0


def _order_requests(server: EmulatorServer) -> list[RequestRecord]:
    return [r for r in server.requests if r.method == "POST" and r.path == "/api/v3/order"]


@then(parsers.parse(
    "the exchange made exactly {fills:d} fill and received {orders:d} order request"))
def one_fill(server, fills, orders):
    assert len(server.trades) == fills
    assert len(_order_requests(server)) == orders


@then("the order is rejected for insufficient funds")
def rejected_funds(rejection):
    assert "InsufficientFunds" in rejection


@then(parsers.parse("the exchange made no fill and received {orders:d} order request"))
def no_fill(server, orders):
    assert server.trades == []
    assert len(_order_requests(server)) == orders


@then(parsers.parse('the cycle is skipped naming candle {position:d} and "{reason}"'))
def skipped_bad_candle(fetched, position, reason):
    assert fetched.frame is None
    assert f"candle {position} of " in fetched.skip_reason
    assert reason in fetched.skip_reason
