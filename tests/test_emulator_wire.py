"""Binance's wire rules in the emulator: error shape, number formats, parameter parsing,
request weights, 429/418 and order counts, exchangeInfo's fields and filters (raw HTTP)."""

from urllib.parse import urlencode

import pytest

from core.clock import ManualClock
from emulator.auth import sign
from emulator.limits import RateLimiter, RateLimits
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer, parse_params
from tests.binance_http import call, fixture, public, signed

T0 = 1_700_000_040_000
NOW = T0 + 30_000
QTY_MSG = ("Illegal characters found in parameter 'quantity'; legal range is"
           " '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def server(clock):
    with EmulatorServer(GeneratedMarket(7), clock) as srv:
        yield srv
    assert srv.internal_errors == []


def market_buy(server, **extra):
    return signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                  type="MARKET", quantity="0.001", **extra)


def test_every_error_has_binances_shape_including_404s(server):
    """
    Given the emulator
    When an unknown path, a bad symbol and a missing parameter are asked for
    Then each answer is {"code", "msg"} only, the 404 with -1020, each with the weight header
    """
    for reply, status, code in (
        (public(server, "/api/v3/nothing"), 404, -1020),
        (call(server.base_url, "PUT", "/api/v3/order"), 404, -1020),
        (public(server, "/api/v3/klines", symbol="DOGEUSDT", interval="1m"), 400, -1121),
        (public(server, "/api/v3/klines", symbol="BTCUSDT"), 400, -1102),
    ):
        assert (reply.status, reply.code) == (status, code)
        assert set(reply.body) == {"code", "msg"} and "x-mbx-used-weight-1m" in reply.headers
    assert server.unknown_requests == ["GET /api/v3/nothing", "PUT /api/v3/order"]


def test_zero_amounts_are_fixed_decimals_never_exponents(server):
    """
    Given a market buy and exchangeInfo
    When the answers are read
    Then the zero price, stop price, iceberg quantity and MARKET_LOT_SIZE minimum read
    "0.00000000", and no string anywhere holds an exponent
    """
    order = market_buy(server).body
    assert order["price"] == "0.00000000" and order["origQuoteOrderQty"] == "0.00000000"
    query = signed(server, "GET", "/api/v3/order", symbol="BTCUSDT",
                   orderId=order["orderId"]).body
    assert query["stopPrice"] == query["icebergQty"] == "0.00000000"
    info = public(server, "/api/v3/exchangeInfo").body
    lot = next(f for f in info["symbols"][0]["filters"] if f["filterType"] == "MARKET_LOT_SIZE")
    assert lot["minQty"] == lot["stepSize"] == "0.00000000"
    account = signed(server, "GET", "/api/v3/account").body
    texts = str([order, query, info, account])
    assert "E-" not in texts and "e-" not in texts


def test_scientific_quantity_is_illegal_characters_with_binances_message(server):
    """
    Given a market buy of quantity 9e-05 (how Python clients write 0.00009)
    When it is sent
    Then Binance's -1100 comes back word for word, and -1 and 1.5.2 are refused the same way
    """
    for quantity in ("9e-05", "-1", "1.5.2", "0x10"):
        reply = signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                       type="MARKET", quantity=quantity)
        assert (reply.status, reply.body) == (400, {"code": -1100, "msg": QTY_MSG})


def test_recv_window_is_a_decimal_with_up_to_three_places(server):
    """
    Given signed account calls
    When recvWindow is 6000.346, 5000.0, 6000.3461, 60000.001 and 60000
    Then the first two and the last are accepted, four places is -1100, above 60000 is -1131
    """
    account = lambda w: signed(server, "GET", "/api/v3/account", recvWindow=w)  # noqa: E731
    assert account("6000.346").status == account("5000.0").status == 200
    assert account("6000.3461").code == -1100
    assert account("60000.001").code == -1131
    assert account("60000").status == 200


def test_timestamps_in_microseconds_are_accepted(server, clock):
    """
    Given the server time in microseconds as a signed call's timestamp
    When the account is asked for
    Then it is accepted; a microsecond timestamp far in the past is still -1021
    """
    assert signed(server, "GET", "/api/v3/account", timestamp=NOW * 1000 + 123).status == 200
    assert signed(server, "GET", "/api/v3/account",
                  timestamp=(NOW - 60_000) * 1000).code == -1021


def test_unknown_and_duplicate_parameters_are_refused(server):
    """
    Given the emulator
    When ping gets a parameter, klines an unknown one, and a query repeats a name
    Then -1104 names how many parameters were read and sent, and a duplicate is -1101
    """
    reply = public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1m", colour="red")
    assert reply.body == {"code": -1104, "msg": "Not all sent parameters were read; read '2'"
                                                " parameter(s) but was sent '3'."}
    assert public(server, "/api/v3/ping", x="1").code == -1104
    dup = call(server.base_url, "GET", "/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=2"
                                                          "&limit=3")
    assert dup.code == -1101
    assert market_buy(server, colour="red").code == -1104


def test_parameters_in_both_query_and_body_take_the_query_value():
    """
    Given the same parameter in the query string and the form body
    When the request is parsed
    Then the query string's value is used and nothing counts as a duplicate; a name twice in
    one part is reported
    """
    assert parse_params("limit=5", "limit=7&symbol=BTCUSDT") == (
        {"limit": "5", "symbol": "BTCUSDT"}, None)
    assert parse_params("a=1&a=2", "")[1] == "a"


def test_used_weight_header_on_every_answer_follows_documented_weights(server, clock):
    """
    Given a fresh minute
    When ping (1), exchangeInfo (20), klines (2), 24hr tickers of all symbols (80) and a
    signed account (20) are called, then the clock enters the next minute
    Then X-MBX-USED-WEIGHT-1M counts 1, 21, 23, 103, 123, and starts again at 1
    """
    weights = [
        public(server, "/api/v3/ping"),
        public(server, "/api/v3/exchangeInfo"),
        public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1m", limit=5),
        public(server, "/api/v3/ticker/24hr"),
        signed(server, "GET", "/api/v3/account"),
    ]
    assert [int(r.headers["x-mbx-used-weight-1m"]) for r in weights] == [1, 21, 23, 103, 123]
    assert weights[0].headers["x-mbx-used-weight"] == "1"
    clock.advance(60)
    assert public(server, "/api/v3/ping").headers["x-mbx-used-weight-1m"] == "1"


def test_past_the_weight_limit_429_with_retry_after_then_a_418_ban():
    """
    Given a weight limit of 10 per minute and a ban after 2 answers of 429
    When exchangeInfo (20) is asked for four times 15 s into a minute, then again after the
    ban, then after a second offence
    Then 429 -1003 with Retry-After 45 twice, then 418 with the ban end in the message and
    Retry-After 120; after the ban it answers again; the second ban lasts 240 s
    """
    limits = RateLimits(weight_per_minute=10, ban_after=2, ban_seconds=120)
    clock = ManualClock(T0 + 15_000)  # 15 s into the minute
    with EmulatorServer(GeneratedMarket(7), clock, limits=limits) as server:
        first = public(server, "/api/v3/ping")
        assert first.status == 200 and first.headers["x-mbx-used-weight-1m"] == "1"
        replies = [public(server, "/api/v3/exchangeInfo") for _ in range(3)]
        assert [r.status for r in replies] == [429, 429, 418]
        assert replies[0].code == -1003 and replies[0].headers["retry-after"] == "45"
        assert "current limit is 10 request weight per 1 MINUTE" in replies[0].body["msg"]
        until = clock.now_ms() + 120_000
        assert replies[2].body == {"code": -1003, "msg": f"Way too much request weight used;"
                                   f" IP banned until {until}. Please use WebSocket Streams"
                                   " for live updates to avoid bans."}
        assert replies[2].headers["retry-after"] == "120"
        clock.advance(60)
        assert public(server, "/api/v3/ping").status == 418  # still banned
        clock.advance(61)
        assert public(server, "/api/v3/ping").status == 200
        for _ in range(3):
            last = public(server, "/api/v3/exchangeInfo")
        assert last.status == 418 and last.headers["retry-after"] == "240"


def test_order_count_headers_and_the_unfilled_order_limit(clock):
    """
    Given an ORDERS limit of 2 per 10 s
    When a filled market order and two resting limit orders are placed, then a third
    Then market answers carry X-MBX-ORDER-COUNT-10S/-1D (filled orders do not count), the
    third resting order is 429 -1015 with Retry-After, rateLimit/order shows the counts,
    and 10 s later orders are accepted again
    """
    limits = RateLimits(orders_per_10s=2, orders_per_day=100)
    with EmulatorServer(GeneratedMarket(7), clock, limits=limits) as server:
        filled = market_buy(server)
        assert filled.headers["x-mbx-order-count-10s"] == "0"
        assert filled.headers["x-mbx-order-count-1d"] == "0"
        rest = lambda: signed(server, "POST", "/api/v3/order", symbol="BTCUSDT",  # noqa: E731
                              side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001",
                              price="10000")
        assert [rest().headers["x-mbx-order-count-10s"] for _ in range(2)] == ["1", "2"]
        refused = rest()
        assert (refused.status, refused.code) == (429, -1015)
        assert refused.body["msg"] == ("Too many new orders; current limit is 2 orders per"
                                       " 10 SECOND.")
        assert refused.headers["retry-after"] == "10"
        assert "x-mbx-order-count-10s" not in refused.headers
        counts = signed(server, "GET", "/api/v3/rateLimit/order").body
        assert [(c["interval"], c["intervalNum"], c["limit"], c["count"]) for c in counts] == [
            ("SECOND", 10, 2, 2), ("DAY", 1, 100, 2)]
        assert set(counts[0]) == set(fixture("rate_limit_order.json")[0])
        clock.advance(10)
        assert rest().headers["x-mbx-order-count-10s"] == "1"


def test_rate_limiter_counts_raw_requests_and_lists_its_limits():
    """
    Given a limiter allowing 2 raw requests per 5 minutes and no weight limit
    When three requests come from one IP and one from another
    Then the third is 429 -1003, the other IP is unaffected, and exchangeInfo's rateLimits
    lists only the limits in force
    """
    limiter = RateLimiter(RateLimits(weight_per_minute=None, raw_requests_per_5m=2,
                                     orders_per_day=None))
    limiter.admit("a", 1, NOW)
    limiter.admit("a", 1, NOW)
    with pytest.raises(Exception) as caught:
        limiter.admit("a", 1, NOW)
    assert caught.value.status == 429 and caught.value.code == -1003
    assert limiter.admit("b", 1, NOW)[0] == 1
    assert [r["rateLimitType"] for r in limiter.limits.exchange_info()] == [
        "ORDERS", "RAW_REQUESTS"]


def test_exchange_info_has_every_documented_field_and_its_parameters(server):
    """
    Given the documented exchangeInfo example
    When exchangeInfo is asked for whole, by symbol, symbols, permissions and symbolStatus
    Then top-level and symbol fields equal the example's, and the parameters select, hide
    permission sets, or fail with -1128, -1151, -1100, -1121 and -1122 as Binance does
    """
    doc = fixture("exchange_info.json")
    info = public(server, "/api/v3/exchangeInfo").body
    assert set(info) == set(doc)
    for entry in info["symbols"]:
        assert set(entry) == set(doc["symbols"][0])
        assert [type(entry[k]) for k in doc["symbols"][0]] == [
            type(v) for v in doc["symbols"][0].values()]
    get = lambda **p: public(server, "/api/v3/exchangeInfo", **p)  # noqa: E731
    assert [s["symbol"] for s in get(symbol="BNBUSDT").body["symbols"]] == ["BNBUSDT"]
    assert [s["symbol"] for s in get(permissions="SPOT").body["symbols"]] == [
        "BTCUSDT", "ETHUSDT", "BNBUSDT"]
    assert get(permissions='["MARGIN","LEVERAGED"]').body["symbols"] == []
    assert get(symbolStatus="HALT").body["symbols"] == []
    assert get(showPermissionSets="false").body["symbols"][0]["permissionSets"] == []
    assert get(symbol="BTCUSDT", symbols='["ETHUSDT"]').code == -1128
    assert get(symbol="BTCUSDT", permissions="SPOT").code == -1128
    assert get(symbols='["BTCUSDT","BTCUSDT"]').code == -1151
    assert get(symbols='["BTCUSDT", "ETHUSDT"]').code == -1100
    assert get(symbol="btcusdt").code == -1100
    assert get(symbols='["XRPUSDT"]').code == -1121
    assert get(symbolStatus="SLEEPING").code == -1122
    assert get(permissions="FUTURES").code == -1100


def test_order_answers_follow_new_order_resp_type(server):
    """
    Given market orders asking for ACK, RESULT and FULL answers, and one asking for "ALL"
    When they are placed
    Then each answer has exactly the documented example's fields, and "ALL" is -1100
    """
    for kind in ("ACK", "RESULT", "FULL"):
        body = market_buy(server, newOrderRespType=kind).body
        assert set(body) == set(fixture(f"order_{kind.lower()}.json")), kind
    assert market_buy(server, newOrderRespType="ALL").code == -1100
    full = market_buy(server).body
    assert set(full["fills"][0]) == set(fixture("order_full.json")["fills"][0])
    query = urlencode({"symbol": "BTCUSDT", "orderId": full["orderId"]})
    reply = signed(server, "GET", "/api/v3/order", raw=query + f"&timestamp={NOW}")
    assert set(reply.body) == set(fixture("query_order.json"))


def test_history_queries_validate_their_window_limit_and_flags(server):
    """
    Given a filled market order
    When allOrders and myTrades are asked with a window over 24 h, a limit of 0 or 5000, and
    the account with omitZeroBalances true, false and "maybe"
    Then the window is -1127, limit 0 is -1100, 5000 is capped at 1000 for allOrders and
    refused for myTrades, and the flag filters zero balances or is -1100
    """
    market_buy(server)
    day = {"startTime": NOW - 90_000_000, "endTime": NOW}
    assert signed(server, "GET", "/api/v3/allOrders", symbol="BTCUSDT", **day).code == -1127
    assert signed(server, "GET", "/api/v3/myTrades", symbol="BTCUSDT", **day).code == -1127
    assert signed(server, "GET", "/api/v3/allOrders", symbol="BTCUSDT", limit=0).code == -1100
    assert len(signed(server, "GET", "/api/v3/allOrders", symbol="BTCUSDT",
                      limit=5000).body) == 1
    assert signed(server, "GET", "/api/v3/myTrades", symbol="BTCUSDT", limit=5000).code == -1100
    server.set_balance("ETH", 0)
    assets = lambda flag: [b["asset"] for b in signed(  # noqa: E731
        server, "GET", "/api/v3/account", omitZeroBalances=flag).body["balances"]]
    assert "ETH" not in assets("true") and "ETH" in assets("false")
    assert signed(server, "GET", "/api/v3/account", omitZeroBalances="maybe").code == -1100


def test_time_unit_header_gives_microseconds(server):
    """
    Given X-MBX-TIME-UNIT: MICROSECOND (or microsecond) on a request
    When time, klines, an order and a trading-day ticker are asked for
    Then instants are in microseconds, close times are their period's last microsecond,
    workingTime -1 stays -1, and any other unit is -1194
    """
    micro = {"X-MBX-TIME-UNIT": "MICROSECOND"}
    assert call(server.base_url, "GET", "/api/v3/time", headers=micro).body == {
        "serverTime": NOW * 1000}
    bar = call(server.base_url, "GET", "/api/v3/klines",
               "symbol=BTCUSDT&interval=1m&limit=1", headers=micro).body[0]
    assert (bar[0], bar[6]) == (T0 * 1000, (T0 + 60_000) * 1000 - 1)
    day = call(server.base_url, "GET", "/api/v3/ticker/tradingDay", "symbol=BTCUSDT",
               headers={"X-MBX-TIME-UNIT": "microsecond"}).body
    assert day["closeTime"] % 1_000_000 == 999_999 and day["openTime"] % 1000 == 0
    assert call(server.base_url, "GET", "/api/v3/time",
                headers={"X-MBX-TIME-UNIT": "SECOND"}).code == -1194
    stop = signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", side="SELL",
                  type="STOP_LOSS", quantity="0.01", stopPrice="1000").body
    query = urlencode({"symbol": "BTCUSDT", "orderId": stop["orderId"], "timestamp": NOW})
    reply = call(server.base_url, "GET", "/api/v3/order",
                 f"{query}&signature={sign(query, DEFAULT_API_SECRET)}",
                 headers={**micro, "X-MBX-APIKEY": DEFAULT_API_KEY}).body
    assert (reply["time"], reply["workingTime"]) == (NOW * 1000, -1)
