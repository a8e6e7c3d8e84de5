"""The generated trade tape and order book (emulator/book.py) and the market-data endpoints
that read them: consistent with the candles, the klines and market fills."""

from decimal import Decimal

import numpy as np
import pytest

from core.clock import ManualClock
from emulator.book import (
    TRADES_PER_CANDLE,
    Book,
    candle_trades,
    first_touch,
    recent_trades,
    trades_between,
    trades_from_id,
)
from emulator.klines import klines
from emulator.market import GeneratedMarket
from emulator.server import EmulatorServer
from tests.binance_http import fixture, public, signed

T0 = 1_700_000_040_000
NOW = T0 + 30_000
INDEX = T0 // 60_000


@pytest.fixture
def server():
    with EmulatorServer(GeneratedMarket(7), ManualClock(NOW)) as srv:
        yield srv
    assert srv.internal_errors == [] and srv.unknown_requests == []


def test_each_candle_prints_22_trades_through_its_open_extremes_and_close():
    """
    Given a generated market
    When the tape of 50 closed candles is built
    Then each candle has 22 trades with consecutive ids, the first at the open, the extremes
    traded, the last at the close time and price, and the quantities sum to the volume
    """
    market = GeneratedMarket(7)
    tape = candle_trades(market, INDEX, 50)
    rows = market.rows(INDEX, 50)
    assert len(tape) == 50 * TRADES_PER_CANDLE
    assert (np.diff(tape.ids) == 1).all() and tape.ids[0] == INDEX * TRADES_PER_CANDLE
    prices = tape.prices.reshape(50, TRADES_PER_CANDLE)
    np.testing.assert_allclose(prices[:, 0], rows[:, 0])
    np.testing.assert_allclose(prices[:, -1], rows[:, 3])
    np.testing.assert_allclose(prices.max(axis=1), rows[:, 1])
    np.testing.assert_allclose(prices.min(axis=1), rows[:, 2])
    np.testing.assert_allclose(tape.qtys.reshape(50, -1).sum(axis=1), rows[:, 4], atol=1e-8)
    times = tape.times.reshape(50, -1) - (INDEX + np.arange(50))[:, None] * 60_000
    assert (times[:, 0] == 0).all() and (times[:, -1] == 59_999).all()


def test_takers_buy_on_rising_legs_and_the_tape_stops_at_now():
    """
    Given a candle from 100 to 110 without wicks (path: flat, up, flat) after a fall to 100
    When its trades are read, and the tape up to 30 s into it
    Then trades on the rising leg have isBuyerMaker false, the others true, the falling
    candle's are all true, and no trade is later than now
    """
    market = GeneratedMarket(7)
    market.script(T0, [100.0, 110.0])
    falling, rising = candle_trades(market, INDEX, 1), candle_trades(market, INDEX + 1, 1)
    assert list(rising.buyer_maker) == [True] * 8 + [False] * 7 + [True] * 7
    assert falling.buyer_maker[1:].all()
    part = trades_between(market, T0, T0 + 60_000 + 30_000, T0 + 60_000 + 30_000)
    assert part.times.max() <= T0 + 90_000 and len(part) == 22 + 11


def test_recent_and_from_id_trades_page_through_the_tape():
    """
    Given a generated market at NOW
    When the last 30 trades and 10 trades from an id are asked for
    Then the last ones end at the latest trade before now, and paging starts at that id
    """
    market = GeneratedMarket(7)
    last = recent_trades(market, NOW, 30)
    assert len(last) == 30 and last.times[-1] <= NOW < last.times[-1] + 60_000 // 21 + 1
    page = trades_from_id(market, int(last.ids[0]), NOW, 10)
    assert list(page.ids) == list(last.ids[:10])


def test_klines_count_and_taker_volumes_come_from_the_tape():
    """
    Given a generated market at NOW (30 s into a candle)
    When 1m and 5m klines are built
    Then closed 1m bars count 22 trades, taker-buy volume never exceeds the volume, the
    quote volume is the tape's, and the open bar counts the trades printed so far
    """
    market = GeneratedMarket(7)
    bars = klines(market, 60_000, NOW, limit=5)
    assert [b[8] for b in bars[:-1]] == [22] * 4 and bars[-1][8] == 11
    for bar in bars:
        assert float(bar[9]) <= float(bar[5]) + 1e-8
        assert float(bar[10]) <= float(bar[7]) + 1e-6
    tape = candle_trades(market, INDEX - 1, 1)
    assert float(bars[-2][7]) == pytest.approx(float((tape.prices * tape.qtys).sum()), abs=1e-6)
    five = klines(market, 300_000, NOW, limit=2)
    assert five[0][8] == 110


def test_book_is_centred_on_the_path_price_and_a_taker_walks_it():
    """
    Given the book of BTCUSDT at NOW
    When levels are read and takers of several sizes walk the asks and bids
    Then the best bid and ask are the path price, levels step one tick, sizes are whole steps,
    a small order fills at the path price and a large one also at worse levels
    """
    market = GeneratedMarket(7)
    book = Book.of(market, "BTCUSDT", NOW, Decimal("0.01"), Decimal("0.00001"))
    price = Decimal(repr(market.price_at(NOW)))
    bids, asks = book.levels("bids", 5), book.levels("asks", 5)
    assert bids[0][0] == asks[0][0] == price
    assert [p for p, _ in asks] == [price + Decimal("0.01") * k for k in range(5)]
    assert all(q % Decimal("0.00001") == 0 and q > 0 for _, q in bids + asks)
    assert book.walk("asks", Decimal("0.001"), None, None, Decimal("0.00001")) == [
        (price, Decimal("0.001"))]
    big = book.walk("bids", asks[0][1] * 10, None, None, Decimal("0.00001"))
    assert len(big) > 1 and big[-1][0] < price
    assert sum(q for _, q in big) == asks[0][1] * 10
    capped = book.walk("asks", Decimal("1000"), None, price + Decimal("0.01"), Decimal("0.00001"))
    assert [p for p, _ in capped] == [price, price + Decimal("0.01")]
    spend = book.walk("asks", None, Decimal("100"), None, Decimal("0.00001"))
    assert spend[0][1] * price <= 100 < (spend[0][1] + Decimal("0.00001")) * price
    assert Book.of(market, "BTCUSDT", NOW, Decimal("0.01"), Decimal("0.00001")) == book


def test_first_touch_finds_when_the_path_reaches_a_price():
    """
    Given a candle flat at 100, then a fall to 90 over the next one
    When the first time at or below 95 (and at or above 200) is asked for
    Then it is half-way down the candle's leg, and never for 200
    """
    market = GeneratedMarket(7)
    market.script(T0, [100.0, 90.0], gap=True)  # candle T0 flat at 100, next falls to 90
    at = first_touch(market, T0, T0 + 120_000, 95.0, below=True)
    assert at is not None and T0 + 60_000 < at < T0 + 120_000
    assert market.price_at(at) == pytest.approx(95.0, abs=0.05)
    assert first_touch(market, T0, T0 + 120_000, 200.0, below=False) is None
    assert first_touch(market, T0 + 5, T0, 95.0, below=True) is None


def test_market_data_endpoints_answer_the_documented_shapes(server):
    """
    Given the emulator
    When depth, trades, historicalTrades, aggTrades, avgPrice, bookTicker, ticker (rolling,
    MINI), tradingDay and 24hr MINI are asked for
    Then each answer has the documented example's fields, the book's best prices are the
    ticker's last price, and the tape agrees with the klines
    """
    last = public(server, "/api/v3/ticker/price", symbol="BTCUSDT").body["price"]
    depth = public(server, "/api/v3/depth", symbol="BTCUSDT", limit=5).body
    assert set(depth) == set(fixture("depth.json")) and len(depth["bids"]) == 5
    assert depth["bids"][0][0] == depth["asks"][0][0] == last
    book = public(server, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").body
    assert set(book) == set(fixture("book_ticker.json")) and book["bidPrice"] == last
    assert len(public(server, "/api/v3/ticker/bookTicker").body) == 3
    trades = public(server, "/api/v3/trades", symbol="ETHUSDT", limit=3).body
    assert [set(t) for t in trades] == [set(fixture("trades.json")[0])] * 3
    history = public(server, "/api/v3/historicalTrades", symbol="ETHUSDT",
                     fromId=trades[0]["id"], limit=2).body
    assert [t["id"] for t in history] == [trades[0]["id"], trades[1]["id"]]
    agg = public(server, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=T0, limit=5).body
    assert set(agg[0]) == set(fixture("agg_trades.json")[0]) and agg[0]["T"] == T0
    assert agg[0]["p"] == public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1m",
                                 startTime=T0, limit=1).body[0][1]
    avg = public(server, "/api/v3/avgPrice", symbol="BNBUSDT").body
    assert set(avg) == set(fixture("avg_price.json")) and avg["mins"] == 5
    for params, name in (
        ({"symbol": "BTCUSDT", "windowSize": "1h"}, "ticker_rolling_full.json"),
        ({"symbol": "BTCUSDT", "type": "MINI"}, "ticker_rolling_mini.json"),
    ):
        assert set(public(server, "/api/v3/ticker", **params).body) == set(fixture(name))
    day = public(server, "/api/v3/ticker/tradingDay", symbols='["BTCUSDT","ETHUSDT"]').body
    assert [set(t) for t in day] == [set(fixture("ticker_trading_day_full.json"))] * 2
    assert day[0]["closeTime"] - day[0]["openTime"] == 86_400_000 - 1
    mini = public(server, "/api/v3/ticker/24hr", symbol="BTCUSDT", type="MINI").body
    assert set(mini) == set(fixture("ticker_24hr_mini.json"))
    rolling = public(server, "/api/v3/ticker", symbol="BTCUSDT", windowSize="2m").body
    assert rolling["openTime"] == T0 - 120_000 and rolling["closeTime"] == NOW
    assert rolling["count"] == rolling["lastId"] - rolling["firstId"] + 1 == 22 * 2 + 11


def test_market_data_parameters_are_validated_as_binance_does(server):
    """
    Given the emulator
    When bad limits, windowSize, type, timeZone, missing symbols and combinations are sent
    Then each is Binance's code: -1100, -1139, -1102, -1128, -1127, -1220, and depth limits
    above 5000 are capped
    """
    get = lambda path, **p: public(server, path, **p)  # noqa: E731
    assert get("/api/v3/depth", symbol="BTCUSDT", limit=0).code == -1100
    assert len(get("/api/v3/depth", symbol="BTCUSDT", limit=6000).body["asks"]) == 5000
    assert get("/api/v3/depth", symbol="BTCUSDT", symbolStatus="HALT").code == -1220
    assert get("/api/v3/ticker", symbol="BTCUSDT", windowSize="60m").code == -1100
    assert get("/api/v3/ticker", symbol="BTCUSDT", type="TINY").code == -1139
    assert get("/api/v3/ticker").code == -1102
    assert get("/api/v3/ticker/tradingDay", symbol="BTCUSDT", timeZone="15").code == -1100
    assert get("/api/v3/aggTrades", symbol="BTCUSDT", fromId=1, startTime=T0).code == -1128
    assert get("/api/v3/aggTrades", symbol="BTCUSDT", startTime=T0 - 7_200_000,
               endTime=T0).code == -1127
    assert get("/api/v3/trades", symbol="BTCUSDT", limit="x").code == -1100
    eight = get("/api/v3/ticker/tradingDay", symbol="BTCUSDT", timeZone="8").body
    assert (eight["openTime"] + 8 * 3_600_000) % 86_400_000 == 0
    week = get("/api/v3/klines", symbol="BTCUSDT", interval="1w", limit=2).body
    assert all((b[0] // 86_400_000 + 3) % 7 == 0 for b in week)  # Mondays
    local = get("/api/v3/klines", symbol="BTCUSDT", interval="1d", timeZone="-1:00",
                limit=1).body
    assert (local[0][0] - 3_600_000) % 86_400_000 == 0


def test_account_commission_order_test_and_cancel_all(server):
    """
    Given the emulator
    When commission rates, a test order (with and without computeCommissionRates), a bad
    test order, and DELETE openOrders on two resting orders then none are asked for
    Then the shapes are the documented ones, the test order changes nothing, and cancel-all
    answers both orders, then -2011
    """
    commission = signed(server, "GET", "/api/v3/account/commission", symbol="BTCUSDT").body
    assert set(commission) == set(fixture("account_commission.json"))
    assert commission["standardCommission"]["taker"] == "0.00100000"
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    assert signed(server, "POST", "/api/v3/order/test", **order).body == {}
    rates = signed(server, "POST", "/api/v3/order/test", computeCommissionRates="true",
                   **order).body
    assert set(rates) == set(fixture("order_test_commission.json"))
    assert signed(server, "POST", "/api/v3/order/test", **{**order, "quantity": "99999"}
                  ).code == -1013
    assert server.orders == [] and server.balances()["USDT"] == 10_000
    for price in ("1000", "1001"):
        signed(server, "POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
               timeInForce="GTC", quantity="0.01", price=price)
    cancelled = signed(server, "DELETE", "/api/v3/openOrders", symbol="BTCUSDT").body
    assert [c["status"] for c in cancelled] == ["CANCELED", "CANCELED"]
    assert set(cancelled[0]) == set(fixture("cancel_open_orders.json")[0])
    assert server.locked_balances()["USDT"] == 0
    assert signed(server, "DELETE", "/api/v3/openOrders", symbol="BTCUSDT").code == -2011


def test_one_second_klines_come_from_the_tape(server):
    """
    Given a closed minute of BTCUSDT
    When its 60 one-second klines are asked for
    Then they hold all 22 trades of the minute, seconds without a trade are flat at the last
    trade with volume 0, and their open, high, low, close and volume are the minute's
    """
    seconds = public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1s",
                     startTime=T0 - 60_000, limit=60).body
    minute = public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1m",
                    startTime=T0 - 60_000, limit=1).body[0]
    assert [b[0] for b in seconds] == [T0 - 60_000 + 1000 * k for k in range(60)]
    assert sum(b[8] for b in seconds) == minute[8] == 22
    quiet = [b for b in seconds if b[8] == 0]
    assert quiet and all(b[1] == b[2] == b[3] == b[4] and b[5] == "0.00000000" for b in quiet)
    assert seconds[0][1] == minute[1] and seconds[-1][4] == minute[4]
    assert max(float(b[2]) for b in seconds) == float(minute[2])
    assert min(float(b[3]) for b in seconds) == float(minute[3])
    assert sum(float(b[5]) for b in seconds) == pytest.approx(float(minute[5]), abs=1e-7)
    assert public(server, "/api/v3/klines", symbol="BTCUSDT", interval="1M").code == -1120


def test_cached_sums_of_closed_candles_follow_scripts():
    """
    Given the per-candle sums of closed blocks of candles, cached
    When the same range is asked again, then after a script changes one of the candles
    Then the repeat equals a fresh computation, and the scripted candle's sums change
    """
    from emulator.book import candle_sums

    market = GeneratedMarket(7)
    first = INDEX - 3000
    once = candle_sums(market, first, 2500, NOW)
    np.testing.assert_array_equal(candle_sums(market, first, 2500, NOW), once)
    assert once[0].tolist() == [22] * 2500
    market.script((first + 10) * 60_000, [1000.0])
    again = candle_sums(market, first, 2500, NOW)
    assert again[2, 10] != once[2, 10] and again[2, 5] == once[2, 5]
    assert again[2, 10] == pytest.approx(float(
        (candle_trades(market, first + 10, 1).prices * candle_trades(market, first + 10, 1).qtys
         ).sum()))


def test_both_window_tickers_require_symbols_the_same_way(server):
    """
    Given the emulator
    When the rolling-window and the trading-day tickers are asked without a symbol, and the
     shared symbol rule is given one symbol
    Then both answer -1102, and the rule gives that symbol alone
    """
    for path in ("/api/v3/ticker", "/api/v3/ticker/tradingDay"):
        assert public(server, path).code == -1102
    assert server._window_symbols({"symbol": "BTCUSDT"}) == ("BTCUSDT", ["BTCUSDT"])
