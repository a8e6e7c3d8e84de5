"""The real ccxt.binance class against the emulator over 127.0.0.1: no mocks anywhere."""

import json
import threading
import urllib.request

import ccxt
import pytest

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from exchange.ccxt_emulator import make_ccxt_for_emulator

T0 = 1_700_000_040_000  # a whole minute
NOW = T0 + 30_000  # half-way through the candle opening at T0


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def server(start_emulator, clock):
    return start_emulator(GeneratedMarket(7), clock)


def client(server, clock=None, *, key=DEFAULT_API_KEY, secret=DEFAULT_API_SECRET, timeout=10_000):
    return make_ccxt_for_emulator(server.base_url, key, secret, timeout_ms=timeout,
                                  clock=clock or server.clock)


@pytest.fixture
def ex(server):
    exchange = client(server)
    exchange.load_markets()
    return exchange


def http(server, method, path, body=None, key=DEFAULT_API_KEY):
    request = urllib.request.Request(server.base_url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-MBX-APIKEY": key,
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# -- public data ----------------------------------------------------------------------------
def test_load_markets_asks_only_exchange_info(server):
    """
    Given a ccxt binance built by make_ccxt_for_emulator
    When it loads markets
    Then the emulator saw exactly one request, GET /api/v3/exchangeInfo, nothing unrouted, and
    ccxt reads the filters as precision and limits
    """
    exchange = client(server)
    markets = exchange.load_markets()
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/v3/exchangeInfo")]
    assert server.unknown_requests == [] and server.request_count == 1
    market = markets["BTC/USDT"]
    assert market["precision"]["amount"] == 0.00001 and market["precision"]["price"] == 0.01
    assert market["limits"]["cost"]["min"] == 5.0 and market["active"] is True
    assert list(exchange.urls["api"]) == ["public", "private", "v1"]


def test_fetch_ohlcv_ends_with_the_open_candle(ex, server):
    """
    Given the clock 30 s into the candle opening at T0
    When ccxt fetches 1m candles with the default limit and with limit 3
    Then 500 and 3 candles come back, the last opening at T0 and matching the market so far
    """
    bars = ex.fetch_ohlcv("BTC/USDT", "1m")
    assert len(bars) == 500 and bars[-1][0] == T0
    last3 = ex.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert [b[0] for b in last3] == [T0 - 120_000, T0 - 60_000, T0]
    assert last3[-1][1:] == pytest.approx(list(server.market.partial_at(NOW)), abs=1e-8)
    assert last3[0][1:] == pytest.approx(list(server.market.candle_at(T0 - 120_000)))


def test_fetch_ohlcv_since_and_five_minute_bars(ex):
    """
    Given the emulator at NOW
    When ccxt fetches 1m candles since T0 - 10 min (limit 4) and 5m candles over the same hour
    Then the 1m bars start at the since time, and each closed 5m bar aggregates its 1m bars
    """
    bars = ex.fetch_ohlcv("BTC/USDT", "1m", since=T0 - 600_000, limit=4)
    assert [b[0] for b in bars] == [T0 - 600_000 + i * 60_000 for i in range(4)]
    fives = ex.fetch_ohlcv("BTC/USDT", "5m", limit=12)
    ones = ex.fetch_ohlcv("BTC/USDT", "1m", since=fives[0][0], limit=1000)
    for bar in fives[:-1]:
        members = [b for b in ones if bar[0] <= b[0] < bar[0] + 300_000]
        assert len(members) == 5
        assert bar[1] == members[0][1] and bar[4] == members[-1][4]
        assert bar[2] == max(b[2] for b in members) and bar[3] == min(b[3] for b in members)
        assert bar[5] == pytest.approx(sum(b[5] for b in members))
    assert len(ex.fetch_ohlcv("BTC/USDT", "15m", limit=2)) == 2
    assert ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)[-1][0] % 3_600_000 == 0


def test_fetch_ticker_and_time_follow_the_clock(ex, server, clock):
    """
    Given the emulator's manual clock
    When ccxt fetches the ticker and the time, then the clock moves 10 s and it asks again
    Then last is the market's price at each instant and the time is the clock's
    """
    ticker = ex.fetch_ticker("BTC/USDT")
    assert ticker["last"] == server.market.price_at(NOW) and ticker["timestamp"] == NOW
    assert ex.fetch_time() == NOW
    clock.advance(10)
    assert ex.fetch_ticker("BTC/USDT")["last"] == server.market.price_at(NOW + 10_000)
    assert ex.fetch_last_prices(["BTC/USDT"])["BTC/USDT"]["price"] == server.market.price_at(
        NOW + 10_000)


def test_unrouted_calls_answer_404_and_are_recorded(ex, server):
    """
    Given the emulator, which has no order-list endpoints
    When ccxt asks for the open order lists
    Then the answer is 404 with Binance's error shape (-1020), ccxt raises BadRequest (not a
    retryable network error) and the request is in unknown_requests
    """
    with pytest.raises(ccxt.BadRequest, match="-1020"):
        ex.privateGetOpenOrderList()
    assert ex.last_http_response and '"code":-1020' in ex.last_http_response
    assert server.unknown_requests == ["GET /api/v3/openOrderList"]
    server.unknown_requests.clear()  # expected: the teardown check sees none left


# -- account and orders ---------------------------------------------------------------------
def test_fetch_balance_shows_the_default_account(ex):
    """
    Given a fresh emulator
    When ccxt fetches the balance
    Then it holds 10,000 USDT and 1 of each listed base asset (BTC, ETH, BNB), all free
    """
    balance = ex.fetch_balance()
    assert balance["total"] == {"BTC": 1.0, "ETH": 1.0, "BNB": 1.0, "USDT": 10_000.0}
    assert balance["used"] == {"BTC": 0.0, "ETH": 0.0, "BNB": 0.0, "USDT": 0.0}


def test_market_buy_and_sell_pay_fees_in_the_received_asset(ex, server):
    """
    Given the default account
    When ccxt buys 0.01 BTC with client id bot-0001, then sells 0.005 BTC
    Then both fill at the market price, the buy fee is 0.1 % in BTC, the sell fee 0.1 % in
    USDT, balances move by exactly that, and the emulator's fills match ccxt's orders
    """
    price = server.market.price_at(NOW)
    buy = ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "bot-0001"})
    assert buy["status"] == "closed" and buy["average"] == price and buy["filled"] == 0.01
    assert buy["fee"] == {"currency": "BTC", "cost": 0.00001}
    assert buy["clientOrderId"] == "bot-0001"
    sell = ex.create_market_sell_order("BTC/USDT", 0.005)
    assert sell["fee"]["currency"] == "USDT"
    assert sell["fee"]["cost"] == pytest.approx(0.005 * price * 0.001, abs=1e-8)
    total = ex.fetch_balance()["total"]
    assert total["BTC"] == pytest.approx(1 + 0.01 - 0.00001 - 0.005, abs=1e-9)
    usdt = 10_000 - 0.01 * price + 0.005 * price * 0.999
    assert total["USDT"] == pytest.approx(usdt, abs=1e-6)
    fills = server.trades
    assert [(f.order_id, f.side, f.price, f.quantity) for f in fills] == [
        (buy["id"], "buy", price, 0.01), (sell["id"], "sell", price, 0.005)]
    assert server.balances()["BTC"] == pytest.approx(total["BTC"])
    assert sell["clientOrderId"].startswith("x-")  # ccxt's broker prefix


def test_quote_order_qty_buys(ex, server):
    """
    Given the default account
    When ccxt buys for 60 USDT with create_market_buy_order_with_cost, and 0.001 BTC with a
    price argument (which ccxt turns into quoteOrderQty)
    Then each buys the whole 0.00001 steps that the quote amount pays for (so the second,
    whose quote amount ccxt truncated to the cent, gets one step less than 0.001)
    """
    price = server.market.price_at(NOW)
    order = ex.create_market_buy_order_with_cost("BTC/USDT", 60)
    assert order["filled"] == pytest.approx(int(60 / price / 0.00001) * 0.00001)
    assert order["cost"] <= 60
    second = ex.create_order("BTC/USDT", "market", "buy", 0.001, price)
    quote = float(server.requests[-1].params["quoteOrderQty"])
    assert quote == int(0.001 * price * 100) / 100
    assert second["filled"] == pytest.approx(int(quote / price / 0.00001) * 0.00001)
    assert second["filled"] == pytest.approx(0.00099)


def test_orders_are_found_by_client_id_and_listed(ex):
    """
    Given a filled market buy with client id bot-7 and a resting limit buy
    When ccxt fetches the order by client id, the open orders, the trades, then cancels
    Then the buy is closed, the limit order is the only open one, one trade is listed and the
    cancel succeeds; an unknown id raises OrderNotFound
    """
    ex.create_order("BTC/USDT", "market", "buy", 0.002, params={"clientOrderId": "bot-7"})
    found = ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot-7"})
    assert found["status"] == "closed" and found["filled"] == 0.002
    limit = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20_000)
    assert limit["status"] == "open"
    assert [o["id"] for o in ex.fetch_open_orders("BTC/USDT")] == [limit["id"]]
    trades = ex.fetch_my_trades("BTC/USDT")
    assert len(trades) == 1 and trades[0]["side"] == "buy" and trades[0]["fee"]["currency"] == "BTC"
    assert ex.cancel_order(limit["id"], "BTC/USDT")["status"] == "canceled"
    assert len(ex.fetch_orders("BTC/USDT")) == 2
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(limit["id"], "BTC/USDT")


def test_rejections_map_to_ccxt_exceptions(ex):
    """
    Given the default account
    When ccxt buys more than the USDT pays for, buys below the 5 USDT notional, and resends
    the client id of a resting limit order
    Then it raises InsufficientFunds, BadRequest and InvalidOrder
    """
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "market", "buy", 50)
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_order("BTC/USDT", "market", "buy", 0.0001)
    ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20_000, params={"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20_000, params={"clientOrderId": "dup"})


# -- authentication and timing ----------------------------------------------------------------
def test_wrong_key_and_wrong_secret_are_authentication_errors(server):
    """
    Given ccxt instances with a wrong API key and with a wrong secret
    When each fetches the balance
    Then both raise AuthenticationError (-2015 and -1022)
    """
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client(server, key="nope").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(server, secret="nope").fetch_balance()


def test_timestamps_off_the_server_clock_are_invalid_nonces(server):
    """
    Given a ccxt instance that signs with the wall clock while the emulator's clock is in 2023
    When it fetches the balance, and then the clock_skew fault hits a synchronised client
    Then both raise InvalidNonce (-1021)
    """
    wall = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET)
    with pytest.raises(ccxt.InvalidNonce):
        wall.fetch_balance()
    server.faults.clock_skew(1)
    synced = client(server)
    with pytest.raises(ccxt.InvalidNonce):
        synced.fetch_balance()
    assert synced.fetch_balance()["total"]["USDT"] == 10_000


# -- faults ---------------------------------------------------------------------------------
def test_rate_limit_is_ddos_protection_with_retry_after(ex, server):
    """
    Given a 429 fault with Retry-After 7 s
    When ccxt fetches the ticker
    Then it raises DDoSProtection and the Retry-After header is readable afterwards
    """
    server.faults.rate_limit(1, retry_after_s=7)
    with pytest.raises(ccxt.DDoSProtection):
        ex.fetch_ticker("BTC/USDT")
    assert ex.last_response_headers["Retry-After"] == "7"
    assert ex.fetch_ticker("BTC/USDT")["last"] > 0


def test_server_errors_map_like_on_testnet(ex, server):
    """
    Given faults answering 500 (-1000), 503 (-1008) and 502 once each
    When ccxt makes three calls
    Then it raises OperationFailed, OperationFailed and ExchangeNotAvailable
    """
    server.faults.server_errors(1, 500)
    with pytest.raises(ccxt.OperationFailed):
        ex.fetch_ticker("BTC/USDT")
    server.faults.server_errors(1, 503)
    with pytest.raises(ccxt.OperationFailed):
        ex.fetch_balance()
    server.faults.server_errors(1, 502)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.fetch_ticker("BTC/USDT")


def test_outage_is_a_network_error_until_the_clock_passes_it(ex, server, clock):
    """
    Given an outage of 60 clock seconds
    When ccxt fetches the time during it and after the clock moved 60 s
    Then the first raises NetworkError and the second works
    """
    server.faults.outage(60)
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_time()
    clock.advance(60)
    assert ex.fetch_time() == NOW + 60_000


def test_slow_answers_are_request_timeouts(server):
    """
    Given a ccxt timeout of 150 ms and a slow fault of 0.4 s for one request
    When ccxt fetches the time twice
    Then the first raises RequestTimeout and the second answers
    """
    exchange = client(server, timeout=150)
    server.faults.slow(1, 0.4)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_time()
    assert exchange.fetch_time() == NOW


def test_order_executed_but_answer_lost_can_be_found_by_client_id(server):
    """
    Given a fault that drops the answer of one order after executing it, and one that
    delays the next answer past a 150 ms timeout
    When ccxt buys with client ids lost-1 and late-1
    Then the first raises NetworkError, the second RequestTimeout, and both orders exist
    (filled) when looked up by client id
    """
    exchange = client(server, timeout=150)
    exchange.load_markets()
    server.faults.order_timeout_after_fill(1)
    with pytest.raises(ccxt.NetworkError):
        exchange.create_order("BTC/USDT", "market", "buy", 0.001,
                              params={"clientOrderId": "lost-1"})
    server.faults.order_timeout_after_fill(1, delay_s=0.4)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "buy", 0.001,
                              params={"clientOrderId": "late-1"})
    for cid in ("lost-1", "late-1"):
        assert exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": cid})["status"] == "closed"
    assert [f.client_order_id for f in server.trades] == ["lost-1", "late-1"]


def test_wipe_resets_the_account_like_the_testnet(ex, server):
    """
    Given an account with one filled order and a changed USDT balance
    When the testnet wipe happens (through the fault switch)
    Then the order is gone (OrderNotFound), no trades are listed, balances are the defaults,
    while the emulator's lifetime fill log keeps the fill
    """
    order = ex.create_order("BTC/USDT", "market", "buy", 0.001)
    server.set_balance("USDT", 1.0)
    server.faults.balance_wipe()
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(order["id"], "BTC/USDT")
    assert ex.fetch_my_trades("BTC/USDT") == []
    assert ex.fetch_balance()["total"] == {"BTC": 1.0, "ETH": 1.0, "BNB": 1.0, "USDT": 10_000.0}
    assert server.orders == [] and server.trades == [] and len(server.fills) == 1


# -- concurrency and server plumbing ----------------------------------------------------------
def test_concurrent_clients_are_served_consistently(server):
    """
    Given 6 ccxt clients in 6 threads
    When each buys 0.001 BTC five times at the same moment
    Then all 30 orders fill with distinct ids and the USDT balance fell by exactly their cost
    """
    price = server.market.price_at(NOW)
    clients = [client(server) for _ in range(6)]
    for c in clients:
        c.load_markets()
    ids, errors = [], []

    def buy(c):
        try:
            for _ in range(5):
                ids.append(c.create_market_buy_order("BTC/USDT", 0.001)["id"])
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=buy, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 30
    assert server.balances()["USDT"] == pytest.approx(10_000 - 30 * 0.001 * price, abs=1e-6)
    assert len(server.orders) == 30


def test_extension_endpoints_report_clock_fills_and_switch_faults(ex, server):
    """
    Given an emulator with one fill
    When /emulator/clock, /emulator/fills and POST /emulator/fault are called over HTTP
    Then the clock and fills come back, a fault is armed with the key and refused without it,
    and a bad fault spec gets a 400
    """
    ex.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": "x-1"})
    assert http(server, "GET", "/emulator/clock") == (200, {"serverTime": NOW, "speed": None})
    status, fills = http(server, "GET", "/emulator/fills")
    assert status == 200 and [f["client_order_id"] for f in fills] == ["x-1"]
    status, active = http(server, "POST", "/emulator/fault",
                          {"fault": "server_errors", "count": 2})
    assert status == 200 and active["server_errors"] == 2
    assert http(server, "POST", "/emulator/fault", {"fault": "clear"}, key="no")[0] == 401
    assert http(server, "POST", "/emulator/fault", {"fault": "nope"})[0] == 400
    assert http(server, "POST", "/emulator/fault", {"fault": "clear"})[1]["server_errors"] == 0


def test_server_plumbing(clock):
    """
    Given an emulator not yet started, one on a non-loopback host and one without a key
    When they are built, started and stopped twice
    Then the port is known only after start, stop is idempotent, and the bad ones raise
    ValueError
    """
    srv = EmulatorServer(GeneratedMarket(1), clock, port=0)
    assert srv.port == 0
    srv.start()
    assert srv.start() is srv and srv.port > 0
    assert srv.base_url == f"http://127.0.0.1:{srv.port}"
    srv.stop()
    srv.stop()
    with pytest.raises(ValueError, match="loopback"):
        EmulatorServer(GeneratedMarket(1), clock, host="0.0.0.0")
    with pytest.raises(ValueError, match="key"):
        EmulatorServer(GeneratedMarket(1), clock, api_key="")
    custom = EmulatorServer(GeneratedMarket(1), clock, balances={"USDT": 50}, symbol="ETH/USDT")
    assert custom.balances() == {"BNB": 0.0, "BTC": 0.0, "ETH": 0.0, "USDT": 50.0}
    assert custom.locked_balances()["USDT"] == 0


def test_public_parameter_errors_and_variants_over_raw_http(server):
    """
    Given the emulator
    When public endpoints get missing, bad and alternative parameters over plain HTTP
    Then errors carry Binance's codes (-1102, -1120, -1100, -1121), a limit above 1000 is
    capped, symbols=[...] and symbol-less tickers are arrays, and a PUT is an unknown route
    """
    get = lambda path: http(server, "GET", path)  # noqa: E731
    assert get("/api/v3/ping") == (200, {})
    assert get("/api/v3/klines?interval=1m")[1]["code"] == -1102
    assert get("/api/v3/klines?symbol=BTCUSDT")[1]["code"] == -1102
    assert get("/api/v3/klines?symbol=BTCUSDT&interval=7m")[1]["code"] == -1120
    assert get("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=0")[1]["code"] == -1100
    assert get("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=x")[1]["code"] == -1100
    assert len(get("/api/v3/uiKlines?symbol=BTCUSDT&interval=1m&limit=5000")[1]) == 1000
    assert get("/api/v3/exchangeInfo?symbol=DOGEUSDT") == (400, {"code": -1121,
                                                                "msg": "Invalid symbol."})
    status, tickers = get('/api/v3/ticker/24hr?symbols=["BTCUSDT"]')
    assert status == 200 and tickers[0]["symbol"] == "BTCUSDT"
    assert get('/api/v3/ticker/24hr?symbols=["DOGEUSDT"]')[1]["code"] == -1121
    assert get("/api/v3/ticker/24hr?symbols=nope")[1]["code"] == -1100
    status, price = get("/api/v3/ticker/price?symbol=BTCUSDT")
    assert price == {"symbol": "BTCUSDT", "price": f"{server.market.price_at(NOW):.8f}"}
    assert isinstance(get("/api/v3/ticker/price")[1], list)
    assert http(server, "PUT", "/api/v3/order", {})[0] == 404
    assert server.unknown_requests == ["PUT /api/v3/order"]
    server.unknown_requests.clear()  # expected: the teardown check sees none left


def test_recv_window_above_the_maximum_is_a_bad_request(ex):
    """
    Given a synchronised ccxt client
    When it fetches the balance with recvWindow 70000
    Then it raises BadRequest (-1131, via the spot error table)
    """
    with pytest.raises(ccxt.BadRequest, match="-1131"):
        ex.fetch_balance({"recvWindow": 70_000})


def test_a_bug_in_a_route_answers_json_500_and_is_recorded(clock):
    """
    Given an emulator whose market fails when asked for a price
    When ccxt fetches the last prices
    Then ccxt raises OperationFailed (500 -1000) and the bug is in internal_errors
    """
    market = GeneratedMarket(1)

    def broken(ms):
        raise RuntimeError("no price")

    market.price_at = broken
    with EmulatorServer(market, clock) as srv:
        with pytest.raises(ccxt.OperationFailed):
            client(srv).fetch_last_prices()
    assert len(srv.internal_errors) == 1 and "no price" in srv.internal_errors[0]
