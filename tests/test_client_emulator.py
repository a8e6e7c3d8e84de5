"""ExchangeClient against the local emulator: the real ccxt binance class over 127.0.0.1.

No ccxt mocks here: real HTTP, real HMAC signing, real ccxt parsing and error mapping. The
emulator and the client share a ManualClock, so every retry wait is measured in clock time and
costs no wall time. Only the "slow" and "order timeout" faults wait for real (a few 100 ms),
because what they exercise is the client's socket timeout.
"""

from __future__ import annotations

import logging

import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable, OrderRejected
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET
from exchange.client import ExchangeClient, ExchangeRefused
from exchange.factory import make_exchange
from exchange.retry import RetryPolicy

MINUTE = 60_000
T0 = 1_704_067_200_000 + 90 * MINUTE + 30_000  # 30 s into a minute, 90 candles of history
FAST_TIMEOUT_MS = 300


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def server(start_emulator, clock):
    return start_emulator(GeneratedMarket(seed=11), clock)


def make_client(server, clock, *, timeout_ms=2_000, api_key=DEFAULT_API_KEY, policy=None):
    exchange = make_exchange("local", api_key=api_key, api_secret=DEFAULT_API_SECRET,
                             base_url=server.base_url, timeout_ms=timeout_ms, clock=clock)
    return ExchangeClient(exchange, "BTC/USDT", "1m", clock=clock, policy=policy)


@pytest.fixture
def client(server, clock):
    client = make_client(server, clock)
    client.load_markets()
    return client


def requests_to(server, path, method="GET"):
    return [r for r in server.requests if r.path == path and r.method == method]


def test_load_markets_reads_spot_rules_only(server, clock):
    """
    Given the emulator listing BTCUSDT with Binance's filters
    When the client loads markets
    Then it gets the lot step, min/max quantity, min notional and tick,
    having asked only /api/v3/time and /api/v3/exchangeInfo (no futures endpoints)
    """
    client = make_client(server, clock)
    rules = client.load_markets()
    assert (rules.step, rules.min_qty, rules.min_notional, rules.tick) == (1e-05, 1e-05, 5.0, 0.01)
    assert (client.base_asset, client.quote_asset) == ("BTC", "USDT")
    assert {r.path for r in server.requests} == {"/api/v3/time", "/api/v3/exchangeInfo"}


def test_closed_candles_drop_the_open_one(client, clock):
    """
    Given the emulator's clock 30 s into a minute
    When 50 closed candles are fetched
    Then 50 clean candles come back, the newest closed at or before now, while the raw reply
    ended with the still-open candle
    """
    raw = client.fetch_ohlcv_page(None, 51)
    assert raw[-1][0] + MINUTE > clock.now_ms()
    fetched = client.fetch_closed_candles(50)
    assert fetched.skip_reason is None
    frame = fetched.frame
    assert len(frame) == 50
    assert frame["timestamp"].iat[-1] + MINUTE <= clock.now_ms()
    assert frame["timestamp"].iat[-1] == raw[-2][0]
    assert (frame["timestamp"].diff().dropna() == MINUTE).all()


def test_closed_page_for_download_from_a_start_time(client):
    """
    Given 90 candles of history before now
    When a closed page is fetched from the first of them
    Then it starts at that time and holds only closed candles
    """
    start = T0 - 30_000 - 90 * MINUTE
    page = client.fetch_closed_page(start, 1000)
    assert page["timestamp"].iat[0] == start
    assert len(page) == 90


def test_ticker_and_balances(client, server):
    """
    Given the emulator's default account (1 BTC, 1 ETH, 1 BNB, 10000 USDT)
    When the last price and free balances are read
    Then the price is the emulator's current price, the balances are the defaults and an
    asset the account never held is 0
    """
    price = client.last_price()
    assert price is not None and price > 0
    assert client.free_balance("BTC") == 1.0
    assert client.free_balance("USDT") == 10_000.0
    assert client.free_balance("ETH") == 1.0
    assert client.free_balance("DOGE") == 0.0


def test_buy_and_sell_fill_with_fees_and_move_balances(client, server):
    """
    Given the default account
    When 0.001 BTC is bought, then 0.001 BTC sold, each with our client order id
    Then each Fill has the client id, the average price, the quantity and a 0.1 % fee in the
    received asset, and the balances moved by exactly those amounts
    """
    buy = client.market_buy(0.001, "bot-buy-1")
    assert (buy.side, buy.quantity, buy.client_order_id) == ("buy", 0.001, "bot-buy-1")
    assert buy.fee == pytest.approx(0.000001) and buy.fee_currency == "BTC"
    assert client.free_balance("BTC") == pytest.approx(1.0 + 0.001 - 0.000001)
    assert client.free_balance("USDT") == pytest.approx(10_000.0 - buy.cost, abs=1e-6)
    sell = client.market_sell(0.001, "bot-sell-1")
    assert sell.fee == pytest.approx(sell.cost * 0.001) and sell.fee_currency == "USDT"
    assert [f.client_order_id for f in server.trades] == ["bot-buy-1", "bot-sell-1"]
    post = requests_to(server, "/api/v3/order", "POST")
    assert [r.params["newClientOrderId"] for r in post] == ["bot-buy-1", "bot-sell-1"]
    assert all("quantity" in r.params and "quoteOrderQty" not in r.params for r in post)


def test_find_order_by_client_id(client):
    """
    Given a filled buy with client id bot-find-1
    When it is looked up by that id, and an id never used is looked up
    Then the first gives the same fill (fee from myTrades), the second None
    """
    placed = client.market_buy(0.002, "bot-find-1")
    found = client.find_order("bot-find-1")
    assert found == placed
    assert client.find_order("bot-never-sent") is None


def test_wiped_account_has_no_order(client, server):
    """
    Given a filled order, then the testnet's monthly wipe
    When the order is looked up and the balance read
    Then the exchange has no such order and the balances are back to the defaults
    """
    client.market_buy(0.001, "bot-wiped")
    server.faults.balance_wipe()
    assert client.find_order("bot-wiped") is None
    assert client.free_balance("BTC") == 1.0


def test_outage_skips_the_cycle_and_logs_the_trace(client, server, clock, caplog):
    """
    Given the exchange drops every connection for an hour
    When closed candles are fetched
    Then all 3 attempts fail, the cycle is skipped with a WARNING on "paperbot", the error
    and its stack trace are on "paperbot.errors", and no exception escapes
    """
    server.faults.outage(3600)
    with caplog.at_level(logging.WARNING):
        fetched = client.fetch_closed_candles(10)
    assert fetched.frame is None
    assert fetched.skip_reason.startswith("exchange unavailable: fetch server time failed after 3")
    skip = [r for r in caplog.records
            if r.name == "paperbot" and "skipping this cycle" in r.message]
    assert len(skip) == 1 and skip[0].levelno == logging.WARNING
    errors = [r for r in caplog.records if r.name == "paperbot.errors"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "Traceback" in caplog.text


def test_outage_on_balance_raises_exchange_unavailable(client, server):
    """
    Given the exchange drops every connection for an hour
    When the position manager asks for a free balance
    Then ExchangeUnavailable is raised (not a ccxt error)
    """
    server.faults.outage(3600)
    with pytest.raises(ExchangeUnavailable, match="fetch balance failed after 3 attempt"):
        client.free_balance("USDT")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_short_5xx_burst_is_retried_away(client, server, status):
    """
    Given the next 2 requests answer a 5xx (fewer than the 3 attempts)
    When closed candles are fetched
    Then the fetch succeeds
    """
    server.faults.server_errors(2, status)
    fetched = client.fetch_closed_candles(10)
    assert fetched.skip_reason is None and len(fetched.frame) == 10
    assert sum(1 for r in server.requests if r.status == status) == 2


def test_429_waits_at_least_retry_after_on_the_clock(client, server, clock):
    """
    Given the next request answers 429 with Retry-After: 30 (backoff would be 1 s)
    When the last price is read
    Then it succeeds, and at least 30 s passed on the shared clock before the retry
    """
    server.faults.rate_limit(1, retry_after_s=30)
    before = clock.now_ms()
    assert client.last_price() is not None
    assert clock.now_ms() - before >= 30_000
    assert any(r.status == 429 for r in server.requests)


def test_minus_1021_resyncs_then_succeeds(client, server):
    """
    Given the next signed request is refused with -1021 (timestamp outside recvWindow)
    When the free balance is read
    Then the client asks the server time again and the retried request succeeds
    """
    server.faults.clock_skew(1)
    mark = len(server.requests)
    assert client.free_balance("USDT") == 10_000.0
    paths = [(r.path, r.status) for r in server.requests[mark:]]
    assert paths == [("/api/v3/account", 400), ("/api/v3/time", 200), ("/api/v3/account", 200)]


def test_signing_follows_the_clock_across_hours(client, clock):
    """
    Given the shared manual clock moved 6 hours without a resync
    When a signed request is made
    Then it is accepted: the signing time follows the clock
    """
    clock.advance(6 * 3600)
    assert client.free_balance("BTC") == 1.0


def test_slow_answer_past_the_timeout_is_retried(server, clock):
    """
    Given a client with a 300 ms timeout and the next request answered only after 600 ms
    When the last price is read
    Then the first attempt times out (RequestTimeout) and the retry succeeds
    """
    client = make_client(server, clock, timeout_ms=FAST_TIMEOUT_MS)
    client.load_markets()
    server.faults.slow(1, 0.6)
    assert client.last_price() is not None
    assert len(requests_to(server, "/api/v3/ticker/24hr")) == 2


@pytest.mark.parametrize("delay_s", [None, 0.6])
def test_order_timeout_after_fill_buys_exactly_once(server, clock, delay_s):
    """
    Given the exchange fills the next order but drops the connection (or answers after the
    300 ms timeout)
    When 0.001 BTC is bought with client id bot-once
    Then the Fill is returned, the order was sent once, and the emulator made exactly one fill
    """
    client = make_client(server, clock, timeout_ms=FAST_TIMEOUT_MS)
    client.load_markets()
    server.faults.order_timeout_after_fill(1, delay_s)
    fill = client.market_buy(0.001, "bot-once")
    assert fill.client_order_id == "bot-once" and fill.quantity == 0.001
    assert fill.fee == pytest.approx(0.000001) and fill.fee_currency == "BTC"
    assert len(requests_to(server, "/api/v3/order", "POST")) == 1
    assert len(server.trades) == 1
    assert client.free_balance("BTC") == pytest.approx(1.0 + 0.001 - 0.000001)


def test_order_refused_with_5xx_is_looked_up_then_resent_once(client, server):
    """
    Given the next order request answers 500 without executing
    When 0.001 BTC is bought
    Then the client finds no such order, sends it again with the same client id, and the
    emulator made exactly one fill
    """
    server.faults.server_errors(1, 500, method="POST", path="/api/v3/order")
    fill = client.market_buy(0.001, "bot-resend")
    posts = requests_to(server, "/api/v3/order", "POST")
    assert [r.status for r in posts] == [500, 200]
    assert {r.params["newClientOrderId"] for r in posts} == {"bot-resend"}
    assert len(server.trades) == 1 and fill.client_order_id == "bot-resend"


def test_insufficient_funds_is_rejected_not_retried(client, server):
    """
    Given 10000 USDT and BTC near 30000
    When 0.5 BTC (about 15000 USDT) is bought
    Then OrderRejected says the balance is insufficient, after exactly one order request
    """
    with pytest.raises(OrderRejected, match="InsufficientFunds") as caught:
        client.market_buy(0.5, "bot-poor")
    assert "\n" not in str(caught.value)
    assert len(requests_to(server, "/api/v3/order", "POST")) == 1
    assert server.trades == []


def test_order_below_min_notional_never_reaches_the_exchange(client, server):
    """
    Given a 5 USDT minimum notional
    When 0.0001 BTC (about 3 USDT) is bought
    Then OrderRejected names the min notional and no order request was made
    """
    with pytest.raises(OrderRejected, match="min notional"):
        client.market_buy(0.0001, "bot-tiny")
    assert requests_to(server, "/api/v3/order", "POST") == []


def test_wrong_api_key_is_refused_with_env_hint(server, clock):
    """
    Given a client with an API key the exchange does not know
    When it reads the balance
    Then ExchangeRefused names the .env keys to check, after a single request
    """
    client = make_client(server, clock, api_key="not-the-key")
    with pytest.raises(ExchangeRefused, match="BINANCE_TESTNET_API_KEY"):
        client.free_balance("USDT")
    assert len(requests_to(server, "/api/v3/account")) == 1


def test_exhausted_order_lookups_report_the_client_id(server, clock):
    """
    Given a client with 2 attempts and an exchange that goes down right after filling the order
    When the order is placed
    Then ExchangeUnavailable names the client id to reconcile, and one fill exists
    """
    client = make_client(server, clock, policy=RetryPolicy(attempts=2))
    client.load_markets()
    server.faults.order_timeout_after_fill(1)
    original = server.faults.take_order_timeout

    def timeout_then_outage():
        value = original()
        if value is not None:
            server.faults.outage(3600)
        return value

    server.faults.take_order_timeout = timeout_then_outage
    with pytest.raises(ExchangeUnavailable, match="reconcile by client order id bot-lost"):
        client.market_buy(0.001, "bot-lost")
    assert len(server.trades) == 1
    server.faults.clear()
    assert client.find_order("bot-lost").quantity == 0.001
