"""Binance clients nobody here wrote, against the emulator over 127.0.0.1: Binance's official
Spot SDK (``binance-sdk-spot``) and the older ``binance-connector``; answers are compared with
the documented examples (tests/fixtures/binance) field for field."""

from decimal import Decimal

import pytest
from binance.error import ClientError
from binance.spot import Spot as Connector
from binance_common.errors import BadRequestError

from core.clock import RealClock
from emulator.market import GeneratedMarket
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, EmulatorServer
from tests.binance_http import fixture

QTY_MSG = ("Illegal characters found in parameter 'quantity'; legal range is"
           " '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")


@pytest.fixture(scope="module")
def server():
    """One emulator on the real clock (the clients sign with the wall clock)."""
    with EmulatorServer(GeneratedMarket(7), RealClock()) as srv:
        yield srv
    assert srv.internal_errors == [] and srv.unknown_requests == []


@pytest.fixture(scope="module")
def sdk(server):
    # Imported here, not at collection: the SDK's models take ~1.7 s to import, which every
    # test worker would pay though only one runs this module.
    from binance_sdk_spot.spot import ConfigurationRestAPI, Spot

    config = ConfigurationRestAPI(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                                  base_path=server.base_url, retries=0, timeout=5000)
    return Spot(config_rest_api=config).rest_api


@pytest.fixture(scope="module")
def connector(server):
    return Connector(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                     base_url=server.base_url, timeout=5, show_limit_usage=True,
                     show_header=True)


def same_fields(answer: dict, documented: dict) -> bool:
    return set(answer) == set(documented)


def test_official_sdk_signs_with_a_float_recv_window_and_reads_every_answer(sdk, server):
    """
    Given Binance's official Spot SDK pointed at the emulator
    When it reads time, exchangeInfo and the account with recvWindow 5000.0, and buys
    0.001 BTC at market
    Then every call succeeds, the order fills at the market price with its fee in BTC
    """
    assert abs(sdk.time().data().server_time - server.clock.now_ms()) < 5000
    info = sdk.exchange_info(symbols=["BTCUSDT", "ETHUSDT"]).data()
    assert [s.symbol for s in info.symbols] == ["BTCUSDT", "ETHUSDT"]
    account = sdk.get_account(recv_window=5000.0).data()
    assert {b.asset for b in account.balances} >= {"BTC", "ETH", "BNB", "USDT"}
    order = sdk.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.001,
                          recv_window=6000.346).data()
    assert order.status == "FILLED" and order.price == "0.00000000"
    assert order.fills[0].commission_asset == "BTC"
    assert Decimal(order.fills[0].commission) == Decimal("0.00000100")


def test_official_sdk_sees_binances_refusal_of_a_scientific_quantity(sdk):
    """
    Given the official SDK, which writes 0.00009 as 9e-05
    When it sends that market buy
    Then it raises BadRequestError carrying Binance's -1100 message, not a NOTIONAL failure
    """
    with pytest.raises(BadRequestError) as caught:
        sdk.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.00009)
    assert caught.value.args == (-1100, QTY_MSG)


def test_connector_reads_weight_headers_and_binance_errors(connector, server):
    """
    Given binance-connector with show_limit_usage
    When it reads klines and the ticker, and asks for an unknown symbol
    Then each answer reports x-mbx-used-weight-1m, and the error is a ClientError with
    Binance's code (no KeyError: every error has a code)
    """
    reply = connector.klines("ETHUSDT", "1m", limit=3)
    assert len(reply["data"]) == 3 and int(reply["limit_usage"]["x-mbx-used-weight-1m"]) >= 2
    assert len(reply["data"][0]) == len(fixture("klines.json")[0])
    ticker = connector.ticker_24hr("BNBUSDT")["data"]
    assert same_fields(ticker, fixture("ticker_24hr_full.json"))
    with pytest.raises(ClientError) as caught:
        connector.ticker_price("XRPUSDT")
    assert (caught.value.status_code, caught.value.error_code) == (400, -1121)
    assert "x-mbx-used-weight-1m" in {k.lower() for k in caught.value.header}


def test_connector_trades_a_day_of_orders_with_documented_shapes(connector, server):
    """
    Given binance-connector
    When it buys ETH at market, rests a BNB limit buy, queries, lists and cancels it, and
    reads its trades and account
    Then every answer has the documented example's fields, balances move as the fills say,
    and order answers carry the order-count headers
    """
    placed = connector.new_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity=0.01)
    assert same_fields(placed["data"], fixture("order_full.json"))
    assert {"x-mbx-order-count-10s", "x-mbx-order-count-1d"} <= {
        k.lower() for k in placed["header"]}
    rest = connector.new_order(symbol="BNBUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                               quantity=0.1, price="100")["data"]
    assert rest["status"] == "NEW"
    query = connector.get_order("BNBUSDT", orderId=rest["orderId"])["data"]
    assert same_fields(query, fixture("query_order.json"))
    listed = connector.get_open_orders("BNBUSDT")["data"]
    assert [o["orderId"] for o in listed] == [rest["orderId"]]
    assert same_fields(listed[0], fixture("open_orders.json")[0])
    cancelled = connector.cancel_order("BNBUSDT", orderId=rest["orderId"])["data"]
    assert same_fields(cancelled, fixture("cancel_order.json"))
    trades = connector.my_trades("ETHUSDT")["data"]
    assert same_fields(trades[-1], fixture("my_trades.json")[0])
    assert trades[-1]["orderId"] == placed["data"]["orderId"]
    everything = connector.get_orders("BNBUSDT")["data"]
    assert same_fields(everything[-1], fixture("all_orders.json")[0])
    account = connector.account()["data"]
    assert same_fields(account, fixture("account.json"))
    eth = next(b for b in account["balances"] if b["asset"] == "ETH")
    assert Decimal(eth["free"]) == Decimal(1) + Decimal("0.01") - Decimal(
        placed["data"]["fills"][0]["commission"])


def test_official_sdk_reads_every_market_data_endpoint(sdk, server):
    """
    Given the official SDK
    When it calls depth, trades, historicalTrades, aggTrades, klines, uiKlines (timeZone 8),
    avgPrice, 24hr (FULL and MINI), rolling and trading-day tickers, price and book tickers
    Then its models parse every answer and the book's best prices equal the last price
    """
    depth = sdk.depth(symbol="BTCUSDT", limit=5).data()
    assert len(depth.bids) == len(depth.asks) == 5
    trades = sdk.get_trades(symbol="ETHUSDT", limit=3).data()
    assert len(trades) == 3 and trades[0].id + 1 == trades[1].id
    assert sdk.historical_trades(symbol="ETHUSDT", limit=2, from_id=trades[0].id).data()[0].id \
        == trades[0].id
    assert len(sdk.agg_trades(symbol="BNBUSDT", limit=4).data()) == 4
    assert len(sdk.klines(symbol="BTCUSDT", interval="1h", limit=3).data()) == 3
    assert len(sdk.ui_klines(symbol="BTCUSDT", interval="1d", limit=2, time_zone="8").data()) == 2
    assert sdk.avg_price(symbol="BNBUSDT").data().mins == 5
    full = sdk.ticker24hr(symbol="BTCUSDT").data().actual_instance
    mini = sdk.ticker24hr(symbols=["BTCUSDT", "ETHUSDT"], type="MINI").data().actual_instance
    assert full.symbol == "BTCUSDT" and [t.symbol for t in mini] == ["BTCUSDT", "ETHUSDT"]
    rolling = sdk.ticker(symbol="BTCUSDT", window_size="1h").data().actual_instance
    assert rolling.count == rolling.last_id - rolling.first_id + 1
    assert sdk.ticker_trading_day(symbol="ETHUSDT").data().actual_instance.symbol == "ETHUSDT"
    book = sdk.ticker_book_ticker(symbol="BTCUSDT").data().actual_instance
    assert book.bid_price == book.ask_price
    prices = sdk.ticker_price().data().actual_instance
    assert [p.symbol for p in prices] == ["BTCUSDT", "ETHUSDT", "BNBUSDT"]


def test_connector_places_stops_tests_orders_and_cancels_all(connector, server):
    """
    Given binance-connector
    When it test-orders with commission rates, rests a stop-loss-limit and a limit on BNB,
    reads its rate-limit counts, then cancels all BNB orders
    Then the answers have the documented fields, the stop is not working yet, and cancel-all
    returns both orders CANCELED
    """
    rates = connector.new_order_test(symbol="BNBUSDT", side="BUY", type="MARKET",
                                     quantity=0.1, computeCommissionRates="true")["data"]
    assert same_fields(rates, fixture("order_test_commission.json"))
    stop = connector.new_order(symbol="BNBUSDT", side="SELL", type="STOP_LOSS_LIMIT",
                               timeInForce="GTC", quantity=0.1, price="100",
                               stopPrice="101")["data"]
    assert same_fields(stop, fixture("order_ack.json"))
    waiting = connector.get_order("BNBUSDT", orderId=stop["orderId"])["data"]
    assert waiting["isWorking"] is False and waiting["workingTime"] == -1
    connector.new_order(symbol="BNBUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                        quantity=0.1, price="100")
    counts = connector.get_order_rate_limit()["data"]
    assert [set(c) for c in counts] == [set(fixture("rate_limit_order.json")[0])] * 2
    cancelled = connector.cancel_open_orders("BNBUSDT")["data"]
    assert [c["status"] for c in cancelled] == ["CANCELED", "CANCELED"]
    assert all(same_fields({k: v for k, v in c.items() if k != "stopPrice"},
                           fixture("cancel_order.json")) for c in cancelled)
