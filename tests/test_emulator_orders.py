"""Order types beyond MARKET: LIMIT GTC/IOC/FOK on the generated book and filled by the market
path, LIMIT_MAKER, STOP_LOSS / TAKE_PROFIT (and _LIMIT) triggered by the path, and the
features refused the way Binance refuses them on a symbol without them (raw HTTP)."""

from decimal import Decimal

import pytest

from core.clock import ManualClock
from emulator.market import GeneratedMarket
from emulator.persistence import load_emulator_state
from emulator.server import EmulatorServer
from tests.binance_http import fixture, public, signed

T0 = 1_700_000_040_000
NOW = T0 + 30_000
STEP = Decimal("0.00001")


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def market():
    """Flat at 30000 for two candles, then a fall to 29000, then a rise back to 31000."""
    m = GeneratedMarket(7)
    m.script(T0, [30_000.0, 30_000.0, 29_000.0, 31_000.0], gap=True)
    return m


@pytest.fixture
def server(market, clock, tmp_path):
    with EmulatorServer(market, clock, state_path=tmp_path / "state.json") as srv:
        yield srv
    assert srv.internal_errors == [] and srv.unknown_requests == []


def order(server, **params):
    return signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", **params)


def query(server, order_id):
    return signed(server, "GET", "/api/v3/order", symbol="BTCUSDT", orderId=order_id).body


def top_ask(server):
    return Decimal(public(server, "/api/v3/depth", symbol="BTCUSDT", limit=1)
                   .body["asks"][0][1])


def test_a_resting_limit_buy_is_filled_as_maker_when_the_path_falls_to_it(server, clock):
    """
    Given the price at 30000
    When a GTC limit buy of 0.01 at 29980 is placed and the clock passes the fall to 29000
    Then it rests NEW with 299.8 USDT locked and shows in the depth, then is FILLED at 29980
    as maker with the fee in BTC, the unfilled order count drops back, and balances moved
    """
    placed = order(server, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                   price="29980").body
    assert placed["status"] == "NEW" and placed["fills"] == []
    assert placed["workingTime"] == NOW
    assert server.locked_balances()["USDT"] == 299.8
    depth = public(server, "/api/v3/depth", symbol="BTCUSDT", limit=5000).body
    level = dict((p, q) for p, q in depth["bids"])["29980.00000000"]
    assert Decimal(level) >= Decimal("0.01")
    clock.advance(150)  # through the candle falling to 29000
    filled = query(server, placed["orderId"])
    assert filled["status"] == "FILLED" and filled["executedQty"] == "0.01000000"
    assert filled["cummulativeQuoteQty"] == "299.80000000"
    assert T0 + 120_000 < filled["updateTime"] < T0 + 180_000
    trade = signed(server, "GET", "/api/v3/myTrades", symbol="BTCUSDT").body[0]
    assert (trade["isMaker"], trade["price"], trade["commission"], trade["commissionAsset"]) == (
        True, "29980.00000000", "0.00001000", "BTC")
    assert server.locked_balances()["USDT"] == 0
    assert server.balances()["USDT"] == pytest.approx(10_000 - 299.8)
    counts = signed(server, "GET", "/api/v3/rateLimit/order").body
    assert counts[0]["count"] == 0


def test_marketable_limit_orders_take_the_book_by_time_in_force(server):
    """
    Given the price at 30000 and the best ask's size
    When a GTC buy at 30001 for less than the ask, and IOC and FOK buys at 30000 for more
    than the best ask are placed
    Then the GTC fills at 30000 as taker, the IOC fills the best ask and EXPIRES the rest,
    the FOK EXPIRES with nothing filled and nothing stays locked
    """
    server.set_balance("USDT", 10_000_000)
    gtc = order(server, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                price="30001").body
    assert gtc["status"] == "FILLED" and gtc["fills"][0]["price"] == "30000.00000000"
    size = top_ask(server)
    more = str(size + Decimal("0.5"))
    ioc = order(server, side="BUY", type="LIMIT", timeInForce="IOC", quantity=more,
                price="30000").body
    assert ioc["status"] == "EXPIRED" and Decimal(ioc["executedQty"]) == size
    assert [f["price"] for f in ioc["fills"]] == ["30000.00000000"]
    fok = order(server, side="BUY", type="LIMIT", timeInForce="FOK", quantity=more,
                price="30000").body
    assert fok["status"] == "EXPIRED" and fok["executedQty"] == "0.00000000"
    assert fok["fills"] == [] and server.locked_balances()["USDT"] == 0
    assert query(server, fok["orderId"])["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"


def test_a_large_market_order_walks_the_book(server):
    """
    Given the best bid's size
    When a market sell larger than it is placed
    Then it fills in several fills at falling prices, the first at 30000, and the average
    is below 30000
    """
    size = Decimal(public(server, "/api/v3/depth", symbol="BTCUSDT", limit=1)
                   .body["bids"][0][1])
    server.set_balance("BTC", 100)
    sell = order(server, side="SELL", type="MARKET", quantity=str(size * 2)).body
    prices = [Decimal(f["price"]) for f in sell["fills"]]
    assert len(prices) >= 2 and prices[0] == 30_000 and prices == sorted(prices, reverse=True)
    assert Decimal(sell["executedQty"]) == size * 2 and sell["status"] == "FILLED"


def test_limit_maker_rests_or_is_refused_when_it_would_take(server):
    """
    Given the price at 30000
    When a LIMIT_MAKER sell at 30000 and one at 30100 are placed
    Then the first is -2010 "Order would immediately match and take.", the second rests
    (answered ACK, the default for order types other than MARKET and LIMIT)
    """
    taker = order(server, side="SELL", type="LIMIT_MAKER", quantity="0.01", price="30000")
    assert taker.body == {"code": -2010, "msg": "Order would immediately match and take."}
    maker = order(server, side="SELL", type="LIMIT_MAKER", quantity="0.01", price="30100")
    assert set(maker.body) == set(fixture("order_ack.json"))
    assert query(server, maker.body["orderId"])["status"] == "NEW"
    assert server.locked_balances()["BTC"] == 0.01


def test_a_stop_loss_waits_unworking_and_sells_at_market_when_triggered(server, clock):
    """
    Given the price at 30000
    When a STOP_LOSS sell of 0.01 with stop 29500 is placed, queried, and the path falls
    Then its ACK answer has the documented fields; before the trigger it is NEW, not working,
    workingTime -1, stopPrice shown; after it, FILLED near 29500 as taker with workingTime
    the trigger time and the fee in USDT
    """
    ack = order(server, side="SELL", type="STOP_LOSS", quantity="0.01", stopPrice="29500").body
    assert set(ack) == set(fixture("order_ack.json"))
    waiting = query(server, ack["orderId"])
    assert (waiting["status"], waiting["isWorking"], waiting["workingTime"]) == ("NEW", False, -1)
    assert waiting["stopPrice"] == "29500.00000000" and server.locked_balances()["BTC"] == 0.01
    clock.advance(150)
    done = query(server, ack["orderId"])
    assert done["status"] == "FILLED" and done["isWorking"] is True
    assert T0 + 120_000 < done["workingTime"] == done["updateTime"] < T0 + 180_000
    trade = signed(server, "GET", "/api/v3/myTrades", symbol="BTCUSDT").body[0]
    assert abs(Decimal(trade["price"]) - 29500) <= Decimal("0.02")
    assert trade["isMaker"] is False and trade["commissionAsset"] == "USDT"
    assert server.locked_balances()["BTC"] == 0


def test_take_profit_limit_becomes_a_limit_order_at_its_trigger(server, clock):
    """
    Given the price at 30000, falling to 29000, then rising to 31000
    When a TAKE_PROFIT_LIMIT sell (stop 30500, price 30400) and a TAKE_PROFIT buy (stop
    29200) are placed, and the clock runs through the fall and the rise
    Then the buy triggers in the fall and fills at market; the sell triggers in the rise and
    fills at once at the book (at or above 30400)
    """
    sell = order(server, side="SELL", type="TAKE_PROFIT_LIMIT", timeInForce="GTC",
                 quantity="0.01", price="30400", stopPrice="30500").body
    buy = order(server, side="BUY", type="TAKE_PROFIT", quantity="0.01", stopPrice="29200").body
    clock.advance(150)
    assert query(server, buy["orderId"])["status"] == "FILLED"
    assert query(server, sell["orderId"])["status"] == "NEW"
    clock.advance(60)
    done = query(server, sell["orderId"])
    assert done["status"] == "FILLED" and Decimal(done["cummulativeQuoteQty"]) >= 304


def test_stop_orders_on_the_wrong_side_and_unsupported_features_are_refused(server):
    """
    Given the price at 30000
    When stops that would trigger at once, iceberg, trailing, pegged and malformed orders
    are sent
    Then each gets Binance's code and message
    """
    cases = [
        (dict(side="SELL", type="STOP_LOSS", quantity="0.01", stopPrice="30000"),
         (-2010, "Order would trigger immediately.")),
        (dict(side="BUY", type="TAKE_PROFIT", quantity="0.01", stopPrice="30100"),
         (-2010, "Order would trigger immediately.")),
        (dict(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="100",
              icebergQty="0.001"), (-2010, "Iceberg orders are not supported for this symbol.")),
        (dict(side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta="100"),
         (-2010, "Trailing stop orders are not supported for this symbol.")),
        (dict(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
              pegPriceType="PRIMARY_PEG"), (-2010, "Pegged orders are not supported for this"
                                                   " symbol.")),
        (dict(side="BUY", type="MARKET", quantity="0.01", price="30000"),
         (-1106, "Parameter 'price' sent when not required.")),
        (dict(side="BUY", type="LIMIT", quantity="0.01", price="100"),
         (-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or"
                 " malformed.")),
        (dict(side="BUY", type="LIMIT", timeInForce="GTD", quantity="0.01", price="100"),
         (-1115, "Invalid timeInForce.")),
        (dict(side="BUY", type="STOP_LOSS_LIMIT", timeInForce="GTC", quantity="0.01",
              price="31000"), (-1102, "Mandatory parameter 'stopPrice' was not sent, was"
                                      " empty/null, or malformed.")),
        (dict(side="BUY", type="OCO", quantity="0.01"), (-1116, "Invalid orderType.")),
        (dict(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="100.001"),
         (-1013, "Filter failure: PRICE_FILTER")),
        (dict(side="BUY", type="MARKET", quantity="0.01", strategyType="5"),
         (-1134, "`strategyType` was less than 1000000.")),
    ]
    for params, expected in cases:
        body = order(server, **params).body
        assert (body.get("code"), body.get("msg")) == expected, params
    assert server.orders == []


def test_algo_order_limit_and_cancel_restrictions(server):
    """
    Given five open stop orders
    When a sixth is sent, and one is cancelled with ONLY_PARTIALLY_FILLED, a bad restriction
    and ONLY_NEW
    Then the sixth is -1013 MAX_NUM_ALGO_ORDERS; the cancels are -2011, -1145, then done
    """
    ids = [order(server, side="SELL", type="STOP_LOSS", quantity="0.01",
                 stopPrice=str(29_000 - i)).body["orderId"] for i in range(5)]
    sixth = order(server, side="SELL", type="STOP_LOSS", quantity="0.01", stopPrice="28000")
    assert sixth.body == {"code": -1013, "msg": "Filter failure: MAX_NUM_ALGO_ORDERS"}
    cancel = lambda **p: signed(server, "DELETE", "/api/v3/order", symbol="BTCUSDT",  # noqa: E731
                                orderId=ids[0], **p).body
    assert cancel(cancelRestrictions="ONLY_PARTIALLY_FILLED") == {
        "code": -2011, "msg": "Order was not canceled due to cancel restrictions."}
    assert cancel(cancelRestrictions="SOMETIMES")["code"] == -1145
    done = cancel(cancelRestrictions="ONLY_NEW")
    assert done["status"] == "CANCELED" and done["stopPrice"] == "29000.00000000"


def test_a_waiting_stop_survives_a_restart_and_triggers_after_it(server, market, clock, tmp_path):
    """
    Given a STOP_LOSS sell waiting in an emulator saving its state
    When the emulator stops, a new one loads the file and the path falls through the stop
    Then the order comes back unworking with its stop, and fills on the new emulator
    """
    placed = order(server, side="SELL", type="STOP_LOSS", quantity="0.01",
                   stopPrice="29500").body
    server.stop()
    with EmulatorServer(market, clock, state_path=tmp_path / "state.json") as again:
        assert load_emulator_state(again, tmp_path / "state.json") == NOW
        back = query(again, placed["orderId"])
        assert (back["status"], back["workingTime"], back["stopPrice"]) == (
            "NEW", -1, "29500.00000000")
        clock.advance(150)
        assert query(again, placed["orderId"])["status"] == "FILLED"
        assert again.internal_errors == []


def test_self_trade_prevention_mode_is_echoed_and_kept(server, market, clock, tmp_path):
    """
    Given a resting limit buy sent with selfTradePreventionMode EXPIRE_TAKER, and one
    with an unknown mode
    When it is queried, and again after a restart from the state file
    Then both answers carry EXPIRE_TAKER (NONE when not sent) and the unknown mode is -1100
    """
    placed = order(server, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                   price="29990", selfTradePreventionMode="EXPIRE_TAKER").body
    assert placed["selfTradePreventionMode"] == "EXPIRE_TAKER"
    plain = order(server, side="BUY", type="MARKET", quantity="0.001").body
    assert plain["selfTradePreventionMode"] == "NONE"
    assert order(server, side="BUY", type="MARKET", quantity="0.001",
                 selfTradePreventionMode="TRANSFER_ALL").code == -1100
    server.stop()
    with EmulatorServer(market, clock, state_path=tmp_path / "state.json") as again:
        load_emulator_state(again, tmp_path / "state.json")
        assert query(again, placed["orderId"])["selfTradePreventionMode"] == "EXPIRE_TAKER"
