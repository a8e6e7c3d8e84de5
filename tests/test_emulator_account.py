"""The emulated account: filters, fees, balances, order look-ups (unit level, no HTTP)."""

from decimal import Decimal

import pytest

from emulator.account import Account, SymbolRules
from emulator.wire import ApiError

NOW = 1_700_000_000_000
PRICE = 30_000.0


def account(**balances):
    return Account(SymbolRules.from_unified("BTC/USDT"), balances or {"USDT": 10_000, "BTC": 1})


def market(side="BUY", **extra):
    return {"symbol": "BTCUSDT", "side": side, "type": "MARKET", **extra}


def error_of(fn, *args):
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value.code, info.value.msg


def test_symbol_rules_parse_and_describe_the_symbol():
    """
    Given the unified symbol BTC/USDT and a malformed one
    When rules are built and their exchangeInfo entry is read
    Then the entry has the testnet filters and the malformed one raises a ValueError
    """
    rules = SymbolRules.from_unified("BTC/USDT")
    info = rules.exchange_info()
    assert rules.symbol == "BTCUSDT" and info["baseAsset"] == "BTC"
    filters = {f["filterType"]: f for f in info["filters"]}
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        SymbolRules.from_unified("btcusdt")


def test_market_buy_pays_the_fee_in_base_and_moves_balances():
    """
    Given 10,000 USDT and 1 BTC
    When 0.01 BTC is bought at 30,000 with client id bot-1
    Then 300 USDT leave, 0.00999 BTC arrive (fee 0.00001 BTC) and one fill is recorded
    """
    acc = account()
    order = acc.place(market(quantity="0.01", newClientOrderId="bot-1"), PRICE, NOW)
    assert order.status == "FILLED" and order.cum_quote == Decimal("300")
    assert acc.free["USDT"] == Decimal("9700") and acc.free["BTC"] == Decimal("1.00999")
    ack = order.as_full_ack()
    assert ack["fills"][0]["commission"] == "0.00001000"
    assert ack["fills"][0]["commissionAsset"] == "BTC" and ack["transactTime"] == NOW
    fill = acc.fill_log[0]
    assert (fill.client_order_id, fill.side, fill.quantity, fill.fee) == ("bot-1", "buy", 0.01,
                                                                          0.00001)


def test_market_sell_pays_the_fee_in_quote():
    """
    Given 1 BTC
    When 0.5 BTC is sold at 30,000
    Then the USDT balance grows by 15,000 less 15 USDT fee
    """
    acc = account()
    order = acc.place(market("SELL", quantity="0.5"), PRICE, NOW)
    trade = order.trades[0]
    assert trade.commission == Decimal("15") and trade.commission_asset == "USDT"
    assert acc.free["USDT"] == Decimal("24985") and acc.free["BTC"] == Decimal("0.5")


def test_quote_order_qty_buys_whole_steps():
    """
    Given a market buy for 100 USDT at 30,000
    When it is executed
    Then 0.00333 BTC (floored to the 0.00001 step) is bought for 99.9 USDT
    """
    acc = account()
    order = acc.place(market(quoteOrderQty="100"), PRICE, NOW)
    assert order.executed_qty == Decimal("0.00333") and order.cum_quote == Decimal("99.9")
    assert order.orig_quote_qty == Decimal("100")


def test_filters_and_funds_are_checked_with_binance_codes():
    """
    Given an account with 10,000 USDT and 1 BTC
    When orders break NOTIONAL, LOT_SIZE (step, min), MARKET_LOT_SIZE, funds, or send both
    or neither quantity
    Then each gets Binance's code and message and no balance moves
    """
    acc = account()
    assert error_of(acc.place, market(quantity="0.0001"), PRICE, NOW) == (
        -1013, "Filter failure: NOTIONAL")
    assert error_of(acc.place, market(quoteOrderQty="4"), PRICE, NOW)[1] == (
        "Filter failure: NOTIONAL")
    assert error_of(acc.place, market(quantity="0.000015"), PRICE, NOW)[1] == (
        "Filter failure: LOT_SIZE")
    assert error_of(acc.place, market(quantity="0.000001"), PRICE, NOW)[1] == (
        "Filter failure: LOT_SIZE")
    assert error_of(acc.place, market("SELL", quantity="101"), PRICE, NOW)[1] == (
        "Filter failure: MARKET_LOT_SIZE")
    assert error_of(acc.place, market(quantity="1"), PRICE, NOW) == (
        -2010, "Account has insufficient balance for requested action.")
    assert error_of(acc.place, market("SELL", quantity="2"), PRICE, NOW)[0] == -2010
    assert error_of(acc.place, market(quantity="1", quoteOrderQty="10"), PRICE, NOW)[0] == -1106
    assert error_of(acc.place, market(), PRICE, NOW)[0] == -1102
    assert error_of(acc.place, market(quantity="abc"), PRICE, NOW)[0] == -1100
    assert acc.free == {"USDT": Decimal("10000.00000000"), "BTC": Decimal("1.00000000")}


def test_bad_parameters_are_refused():
    """
    Given orders with no symbol, another symbol, no side, a bad side, a bad type and an
    illegal client id
    When they are placed
    Then the codes are -1102, -1121, -1102, -1117, -1116 and -1100
    """
    acc = account()
    place = acc.place
    assert error_of(place, {"side": "BUY"}, PRICE, NOW)[0] == -1102
    assert error_of(place, {"symbol": "ETHUSDT"}, PRICE, NOW)[0] == -1121
    assert error_of(place, {"symbol": "BTCUSDT"}, PRICE, NOW)[0] == -1102
    assert error_of(place, market("HOLD"), PRICE, NOW)[0] == -1117
    assert error_of(place, {**market(), "type": "STOP"}, PRICE, NOW)[0] == -1116
    bad_id = market(quantity="0.01", newClientOrderId="has space")
    assert error_of(place, bad_id, PRICE, NOW)[0] == -1100


def test_limit_orders_rest_lock_funds_and_cancel():
    """
    Given a limit buy below the market and a limit sell below it (marketable)
    When both are placed and the resting one is cancelled
    Then the first rests NEW with 300 USDT locked, the second fills at once, a duplicate
    client id of the open order is refused, and cancelling frees the funds
    """
    acc = account()
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.015",
              "price": "20000", "timeInForce": "GTC", "newClientOrderId": "rest-1"}
    resting = acc.place(params, PRICE, NOW)
    assert resting.status == "NEW" and acc.locked["USDT"] == Decimal("300")
    assert error_of(acc.place, params, PRICE, NOW) == (-2010, "Duplicate order sent.")
    sell = {**params, "side": "SELL", "newClientOrderId": "now-1"}
    assert acc.place(sell, PRICE, NOW).status == "FILLED"
    assert [o["clientOrderId"] for o in acc.open_orders("BTCUSDT")] == ["rest-1"]
    answer = acc.cancel({"symbol": "BTCUSDT", "origClientOrderId": "rest-1"}, NOW + 5)
    assert answer["status"] == "CANCELED" and answer["origClientOrderId"] == "rest-1"
    assert acc.locked["USDT"] == 0 and acc.open_orders(None) == []
    assert error_of(acc.cancel, {"symbol": "BTCUSDT", "orderId": "1"}, NOW)[0] == -2011


def test_limit_orders_check_their_terms():
    """
    Given limit orders without price, without timeInForce, with a bad timeInForce, off the tick
    When they are placed
    Then the codes are -1102, -1102, -1115 and -1013 PRICE_FILTER
    """
    acc = account()
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01"}
    assert error_of(acc.place, base, PRICE, NOW)[0] == -1102
    assert error_of(acc.place, {**base, "price": "20000"}, PRICE, NOW)[0] == -1102
    bad_tif = {**base, "price": "20000", "timeInForce": "DAY"}
    assert error_of(acc.place, bad_tif, PRICE, NOW)[0] == -1115
    off_tick = {**base, "price": "20000.001", "timeInForce": "GTC"}
    assert error_of(acc.place, off_tick, PRICE, NOW)[1] == "Filter failure: PRICE_FILTER"
    no_qty = {**base, "quantity": "", "price": "20000", "timeInForce": "GTC"}
    assert error_of(acc.place, no_qty, PRICE, NOW)[0] == -1102


def test_orders_are_found_by_id_or_client_id():
    """
    Given two filled orders, the second with client id c-2
    When they are looked up by order id, by client id, with neither and with an unknown id
    Then the right orders come back, -1102 without ids and -2013 for unknown ones
    """
    acc = account()
    first = acc.place(market(quantity="0.01"), PRICE, NOW)
    acc.place(market(quantity="0.01", newClientOrderId="c-2"), PRICE, NOW + 1)
    assert acc.get({"symbol": "BTCUSDT", "orderId": str(first.order_id)}) is first
    assert acc.get({"symbol": "BTCUSDT", "origClientOrderId": "c-2"}).order_id == 2
    assert error_of(acc.get, {"symbol": "BTCUSDT"})[0] == -1102
    assert error_of(acc.get, {"symbol": "BTCUSDT", "orderId": "99"}) == (
        -2013, "Order does not exist.")
    assert first.client_order_id.startswith("emu")
    assert first.as_query()["time"] == NOW and "fills" not in first.as_query()


def test_my_trades_filters_and_limits():
    """
    Given three buys at t, t+1, t+2
    When trades are asked with limit 2, with startTime t+1, with fromId 3, with orderId 1
    Then the last two, the last two, the third and the first come back, oldest first
    """
    acc = account()
    for i in range(3):
        acc.place(market(quantity="0.01"), PRICE, NOW + i)
    ids = lambda **p: [t["id"] for t in acc.my_trades({"symbol": "BTCUSDT", **p})]  # noqa: E731
    assert ids(limit="2") == [2, 3]
    assert ids(startTime=str(NOW + 1)) == [2, 3]
    assert ids(fromId="3") == [3]
    assert ids(orderId="1", endTime=str(NOW)) == [1]
    assert error_of(acc.my_trades, {"symbol": "BTCUSDT", "limit": "1001"})[0] == -1100
    trade = acc.my_trades({"symbol": "BTCUSDT"})[0]
    assert trade["isBuyer"] is True and trade["quoteQty"] == "300.00000000"


def test_wipe_and_set_balance():
    """
    Given an account after a buy and a manual balance change
    When it is wiped
    Then orders and trades are gone, balances are the defaults, the fill log keeps the fill
    and the next order id does not reuse an old one
    """
    acc = account()
    acc.place(market(quantity="0.01"), PRICE, NOW)
    acc.set_balance("USDT", 5)
    assert acc.snapshot()["USDT"] == {"free": 5.0, "locked": 0.0}
    with pytest.raises(ValueError, match=">= 0"):
        acc.set_balance("USDT", -1)
    acc.wipe()
    assert acc.orders == [] and acc.trades == [] and len(acc.fill_log) == 1
    assert acc.snapshot() == {"BTC": {"free": 1.0, "locked": 0.0},
                              "USDT": {"free": 10000.0, "locked": 0.0}}
    assert acc.place(market(quantity="0.01"), PRICE, NOW).order_id == 2


def test_account_info_lists_balances_and_commissions():
    """
    Given an account with 0 ETH besides USDT and BTC
    When account info is asked with and without omitZeroBalances
    Then all three or only the non-zero two are listed, with 0.1 % commissions
    """
    acc = account(USDT=100, BTC=1, ETH=0)
    info = acc.account_info(NOW)
    assert [b["asset"] for b in info["balances"]] == ["BTC", "ETH", "USDT"]
    assert info["commissionRates"]["taker"] == "0.00100000" and info["takerCommission"] == 10
    assert info["updateTime"] == NOW
    omitted = acc.account_info(NOW, omit_zero=True)["balances"]
    assert [b["asset"] for b in omitted] == ["BTC", "USDT"]


def test_check_symbol_requires_our_symbol():
    """
    Given the BTCUSDT account
    When the symbol check sees none, ETHUSDT and BTCUSDT
    Then -1102, -1121 and nothing
    """
    acc = account()
    assert error_of(acc.check_symbol, {})[0] == -1102
    assert error_of(acc.check_symbol, {"symbol": "ETHUSDT"})[0] == -1121
    acc.check_symbol({"symbol": "BTCUSDT"})
