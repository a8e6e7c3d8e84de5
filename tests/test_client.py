"""ExchangeClient unit tests: each method against a small scripted stand-in for ccxt.

The stand-in answers in ccxt's unified shapes; the same behaviours run against the real ccxt
client and the emulator in test_client_emulator.py. Here the rarer branches are pinned down:
duplicate-order answers, failed look-ups, still-open orders, partial fills, fee currencies.
"""

from __future__ import annotations

import logging

import ccxt
import pytest

from core.clock import ManualClock
from core.errors import ExchangeUnavailable, OrderRejected
from exchange.client import CandleFetch, ExchangeClient, ExchangeRefused, _fee_in
from exchange.market_rules import MarketRules, TradeSizeError
from exchange.retry import RetryPolicy

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE = 60_000
MARKET = {
    "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT",
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0},
               "market": {"min": 0.0, "max": 100.0}},
}


class FakeExchange:
    """The ccxt calls ExchangeClient makes, answered from in-memory state and a script."""

    def __init__(self):
        self.options = {"recvWindow": 10_000}
        self.last_response_headers = None
        self.now = T0 + 3 * MINUTE + 30_000
        self.ticker = {"last": 95_000.0}
        self.balance = {"BTC": {"free": 0.5, "used": 0.0}, "USDT": {"free": 1000.0}}
        self.ohlcv = [[T0 + i * MINUTE, 100.0, 101.0, 99.0, 100.5, 1.0] for i in range(4)]
        self.orders: dict[str, dict] = {}
        self.trades: list[dict] = []
        self.create_script: list = []  # per send: "fill", an exception, or ("fill", exception)
        self.lookup_errors: list[Exception] = []
        self.read_errors: dict[str, list[Exception]] = {}
        self.sent: list[tuple] = []
        self.resyncs = 0
        self.next_id = 100

    def parse_timeframe(self, timeframe):
        return ccxt.Exchange.parse_timeframe(timeframe)

    def _maybe_fail(self, name):
        queue = self.read_errors.get(name) or []
        if queue:
            raise queue.pop(0)

    def load_time_difference(self):
        self.resyncs += 1
        return 0

    def fetch_time(self):
        self._maybe_fail("time")
        return self.now

    def load_markets(self, reload=False):
        self._maybe_fail("markets")
        return {"BTC/USDT": MARKET}

    def market(self, symbol):
        if symbol != "BTC/USDT":
            raise ccxt.BadSymbol(f"binance does not have market symbol {symbol}")
        return MARKET

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        self._maybe_fail("ohlcv")
        rows = [r for r in self.ohlcv if since is None or (r and r[0] >= since)]
        return rows[-limit:] if since is None else rows[:limit]

    def fetch_ticker(self, symbol):
        self._maybe_fail("ticker")
        return self.ticker

    def fetch_balance(self):
        self._maybe_fail("balance")
        return self.balance

    def _record(self, side, amount, cid, status="closed", filled=None):
        self.next_id += 1
        oid = str(self.next_id)
        filled = amount if filled is None else filled
        price = self.ticker["last"]
        fee = {"cost": filled * 0.001 if side == "buy" else filled * price * 0.001,
               "currency": "BTC" if side == "buy" else "USDT"}
        trade = {"order": oid, "timestamp": self.now, "fee": fee}
        if filled:
            self.trades.append(trade)
        order = {"id": oid, "clientOrderId": cid, "timestamp": self.now, "status": status,
                 "side": side, "filled": filled, "average": price if filled else None,
                 "cost": filled * price, "trades": [trade] if filled else [],
                 "fees": [fee] if filled else []}
        self.orders[cid] = order
        return order

    def create_order(self, symbol, type, side, amount, price=None, params=None):
        cid = params["clientOrderId"]
        self.sent.append((side, amount, cid, price))
        action = self.create_script.pop(0) if self.create_script else "fill"
        if isinstance(action, Exception):
            raise action
        if isinstance(action, tuple):
            self._record(side, amount, cid)
            raise action[1]
        return self._record(side, amount, cid)

    def fetch_order(self, id, symbol, params):
        if self.lookup_errors:
            raise self.lookup_errors.pop(0)
        cid = params["clientOrderId"]
        if cid not in self.orders:
            raise ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}')
        # GET /api/v3/order carries no fills: ccxt reports no trades and no fees.
        return dict(self.orders[cid], trades=[], fees=[], fee=None)

    def fetch_my_trades(self, symbol, since=None, limit=None, params=None):
        return list(self.trades)


def make_client(exchange=None, clock=None, **kwargs):
    exchange = exchange or FakeExchange()
    client = ExchangeClient(exchange, "BTC/USDT", "1m", clock=clock or ManualClock(T0), **kwargs)
    return client, exchange


# -- construction and reads ------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC/", "/USDT", "A/B/C", None])
def test_bad_symbol_is_refused_in_one_line(symbol):
    """
    Given a symbol that is not BASE/QUOTE
    When a client is built
    Then ValueError shows the expected form
    """
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        ExchangeClient(FakeExchange(), symbol, "1m", clock=ManualClock(T0))


@pytest.mark.parametrize("timeframe", ["7x", "", "m1"])
def test_bad_timeframe_is_refused_in_one_line(timeframe):
    """
    Given a timeframe Binance does not have
    When a client is built
    Then ValueError names it
    """
    with pytest.raises(ValueError, match="not a Binance interval"):
        ExchangeClient(FakeExchange(), "BTC/USDT", timeframe, clock=ManualClock(T0))


def test_assets_come_from_the_symbol_before_markets_load():
    """
    Given a client for ETH/BTC 1h
    When it is built
    Then base and quote assets and the timeframe length are known without a request
    """
    client = ExchangeClient(FakeExchange(), "ETH/BTC", "1h", clock=ManualClock(T0))
    assert (client.base_asset, client.quote_asset, client.timeframe_ms) == ("ETH", "BTC", 3_600_000)


def test_load_markets_syncs_clock_and_returns_rules():
    """
    Given a reachable exchange
    When markets are loaded
    Then the clock offset is refreshed first and the symbol's rules are returned and kept
    """
    client, exchange = make_client()
    rules = client.load_markets()
    assert exchange.resyncs == 1
    assert rules == MarketRules.from_market(MARKET)
    assert client.market_rules() is rules


def test_unknown_symbol_on_load_is_refused():
    """
    Given a client for a symbol the exchange does not list
    When markets are loaded
    Then ExchangeRefused tells the user to check SYMBOL
    """
    client = ExchangeClient(FakeExchange(), "DOGE/EUR", "1m", clock=ManualClock(T0))
    with pytest.raises(ExchangeRefused, match="check SYMBOL"):
        client.load_markets()


def test_server_time_and_clock_sync():
    """
    Given the exchange's clock
    When server time is read and the clock synchronised
    Then the server's time comes back and the offset is reloaded
    """
    client, exchange = make_client()
    assert client.server_time_ms() == exchange.now
    assert client.sync_clock() == 0 and exchange.resyncs == 1


def test_free_balance_reads_free_amount_and_zero_when_absent():
    """
    Given an account with 0.5 BTC free and no ETH
    When free balances are read
    Then BTC is 0.5 and ETH is 0.0
    """
    client, _ = make_client()
    assert client.free_balance("BTC") == 0.5
    assert client.free_balance("ETH") == 0.0


def test_free_balance_retries_then_raises_exchange_unavailable():
    """
    Given the account endpoint times out on every attempt
    When the free balance is read
    Then ExchangeUnavailable is raised after the policy's attempts
    """
    client, exchange = make_client()
    exchange.read_errors["balance"] = [ccxt.RequestTimeout("t")] * 3
    with pytest.raises(ExchangeUnavailable, match="fetch balance failed after 3"):
        client.free_balance("BTC")


def test_rejected_keys_raise_exchange_refused_with_env_hint(caplog):
    """
    Given the exchange rejects the API key (AuthenticationError)
    When the balance is read
    Then it is not retried, logged with its trace on "paperbot.errors", and ExchangeRefused
    names the .env settings to check
    """
    client, exchange = make_client()
    exchange.read_errors["balance"] = [ccxt.AuthenticationError("-2015")]
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        with pytest.raises(ExchangeRefused, match="BINANCE_TESTNET_API_KEY"):
            client.free_balance("USDT")
    assert exchange.read_errors["balance"] == []
    assert any(r.name == "paperbot.errors" and r.exc_info for r in caplog.records)


def test_last_price_and_its_skips(caplog):
    """
    Given a ticker with a last price, then one without, then an unreachable one
    When the last price is read each time
    Then the price comes back, then None twice, each None logged as a WARNING
    """
    client, exchange = make_client()
    assert client.last_price() == 95_000.0
    exchange.ticker = {"last": None}
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        assert client.last_price() is None
        exchange.ticker = {"last": 95_000.0}
        exchange.read_errors["ticker"] = [ccxt.ExchangeNotAvailable("503")] * 3
        assert client.last_price() is None
    assert caplog.text.count("no price this time") == 2


def test_check_trade_size_uses_rules_and_price():
    """
    Given BTC at 95000 and a 5 USDT minimum notional
    When trade sizes 0.001 and 0.00001 are checked
    Then 0.001 is tradable and 0.00001 fails saying to raise TRADE_SIZE
    """
    client, _ = make_client()
    assert client.check_trade_size(0.001) == 0.001
    with pytest.raises(TradeSizeError, match="raise TRADE_SIZE"):
        client.check_trade_size(0.00001)


# -- candles ---------------------------------------------------------------------------------


def test_closed_candles_drop_the_open_one():
    """
    Given four 1m candles and server time 30 s into the fourth
    When 3 closed candles are fetched
    Then the three closed ones come back, without the open one
    """
    client, _ = make_client()
    fetched = client.fetch_closed_candles(3)
    assert isinstance(fetched, CandleFetch) and not fetched.skipped
    assert fetched.frame["timestamp"].tolist() == [T0, T0 + MINUTE, T0 + 2 * MINUTE]


def test_closed_candles_keep_only_the_limit():
    """
    Given four candles, all closed at server time
    When 2 closed candles are fetched
    Then the newest two come back
    """
    client, exchange = make_client()
    exchange.now = T0 + 10 * MINUTE
    fetched = client.fetch_closed_candles(2)
    assert fetched.frame["timestamp"].tolist() == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_bad_candle_skips_the_cycle_with_a_warning(caplog):
    """
    Given a reply whose second candle has high below low
    When closed candles are fetched
    Then no frame comes back, the reason names the candle, and a WARNING says the cycle is skipped
    """
    client, exchange = make_client()
    exchange.ohlcv[1] = [T0 + MINUTE, 100.0, 98.0, 99.0, 98.5, 1.0]
    with caplog.at_level(logging.WARNING, logger="paperbot"):
        fetched = client.fetch_closed_candles(3)
    assert fetched.skipped and fetched.frame is None
    assert "candle 2 of 4" in fetched.skip_reason and "high is below low" in fetched.skip_reason
    assert "skipping this cycle: bad candle data" in caplog.text


def test_odd_open_candle_does_not_skip_the_cycle():
    """
    Given a reply whose still-open candle has its close just below its low
    When closed candles are fetched
    Then the closed candles come back: the open one is dropped before the price rules apply
    """
    client, exchange = make_client()
    exchange.ohlcv[-1] = [T0 + 3 * MINUTE, 100.0, 101.0, 99.321, 99.32, 1.0]
    fetched = client.fetch_closed_candles(3)
    assert fetched.skip_reason is None and len(fetched.frame) == 3


def test_unreachable_exchange_skips_the_cycle():
    """
    Given the klines endpoint down for every attempt
    When closed candles are fetched
    Then the cycle is skipped with a reason saying the exchange is unavailable
    """
    client, exchange = make_client()
    exchange.read_errors["ohlcv"] = [ccxt.NetworkError("refused")] * 3
    fetched = client.fetch_closed_candles(3)
    assert fetched.skipped and fetched.skip_reason.startswith("exchange unavailable")


def test_only_an_open_candle_skips_the_cycle():
    """
    Given the exchange returns only the still-open candle
    When closed candles are fetched
    Then the cycle is skipped: there is no closed candle
    """
    client, exchange = make_client()
    exchange.ohlcv = exchange.ohlcv[-1:]
    assert client.fetch_closed_candles(5).skip_reason == "the exchange returned no closed candle"


@pytest.mark.parametrize("limit", [0, 1000, 2.5])
def test_candle_limit_is_checked(limit):
    """
    Given a limit outside 1..999 or not whole
    When closed candles are fetched
    Then ValueError names the allowed range
    """
    client, _ = make_client()
    with pytest.raises(ValueError, match="from 1 to 999"):
        client.fetch_closed_candles(limit)


def test_ohlcv_page_and_closed_page_for_downloads():
    """
    Given four candles and server time inside the fourth
    When a raw page and a closed page are fetched from the second candle on
    Then the raw page has three rows and the closed page the two closed ones
    """
    client, _ = make_client()
    assert len(client.fetch_ohlcv_page(T0 + MINUTE, 10)) == 3
    page = client.fetch_closed_page(T0 + MINUTE, 10)
    assert page["timestamp"].tolist() == [T0 + MINUTE, T0 + 2 * MINUTE]
    with pytest.raises(ValueError, match="from 1 to 1000"):
        client.fetch_ohlcv_page(None, 1001)


# -- orders ----------------------------------------------------------------------------------


def test_market_buy_returns_fill_with_fee_in_base():
    """
    Given BTC at 95000
    When 0.001 BTC is bought with client id bot-1
    Then one order is sent without a price (so quantity, not quoteOrderQty) and the Fill
    carries the average price, quantity, 0.1 % fee in BTC and the client id
    """
    client, exchange = make_client()
    fill = client.market_buy(0.001, "bot-1")
    assert exchange.sent == [("buy", 0.001, "bot-1", None)]
    assert (fill.side, fill.price, fill.quantity) == ("buy", 95_000.0, 0.001)
    assert fill.fee == pytest.approx(0.000001) and fill.fee_currency == "BTC"
    assert fill.client_order_id == "bot-1" and fill.timestamp_ms == exchange.now


def test_market_sell_fee_is_in_quote():
    """
    Given BTC at 95000
    When 0.001 BTC is sold
    Then the Fill's fee is 0.1 % of the proceeds in USDT
    """
    client, _ = make_client()
    fill = client.market_sell(0.001, "bot-2")
    assert fill.fee == pytest.approx(0.095) and fill.fee_currency == "USDT"


def test_quantity_is_rounded_down_before_sending():
    """
    Given a lot step of 0.00001
    When 0.0012345 BTC is bought
    Then 0.00123 BTC is sent
    """
    client, exchange = make_client()
    client.market_buy(0.0012345, "bot-3")
    assert exchange.sent[0][1] == 0.00123


def test_below_min_notional_is_rejected_before_sending():
    """
    Given a 5 USDT minimum notional and BTC at 95000
    When 0.00001 BTC (0.95 USDT) is bought
    Then OrderRejected names the min notional and nothing was sent
    """
    client, exchange = make_client()
    with pytest.raises(OrderRejected, match="min notional"):
        client.market_buy(0.00001, "bot-4")
    assert exchange.sent == []


def test_missing_client_id_is_refused():
    """
    Given no client order id
    When an order is placed
    Then ValueError says one is required, nothing sent
    """
    client, exchange = make_client()
    with pytest.raises(ValueError, match="client order id"):
        client.market_buy(0.001, "")
    assert exchange.sent == []


@pytest.mark.parametrize("error", [
    ccxt.InsufficientFunds("-2010 Account has insufficient balance"),
    ccxt.InvalidOrder("-1013 Filter failure: LOT_SIZE"),
    ccxt.BadRequest("-1013 Filter failure: NOTIONAL"),
    ccxt.AuthenticationError("-2015"),
])
def test_refusals_raise_order_rejected_without_resend(error):
    """
    Given the exchange refuses the order (funds, filters, keys)
    When it is placed
    Then OrderRejected carries a one-line reason, after exactly one send and no look-up
    """
    client, exchange = make_client()
    exchange.create_script = [error]
    exchange.lookup_errors = [AssertionError("no look-up expected")]
    with pytest.raises(OrderRejected) as caught:
        client.market_buy(0.001, "bot-5")
    assert len(exchange.sent) == 1
    assert type(error).__name__ in str(caught.value) and "\n" not in str(caught.value)


def test_timeout_after_fill_is_found_by_client_id_not_resent():
    """
    Given the exchange fills the order but the answer times out
    When it is placed
    Then the order is looked up by client id, not resent, and the Fill's fee comes from
    myTrades (the look-up reply has none)
    """
    client, exchange = make_client()
    exchange.create_script = [("fill", ccxt.RequestTimeout("read timed out"))]
    fill = client.market_buy(0.001, "bot-6")
    assert len(exchange.sent) == 1
    assert fill.quantity == 0.001 and fill.fee == pytest.approx(0.000001)


def test_unplaced_order_is_resent_after_waiting_out_recv_window():
    """
    Given the first send answers 500 without placing the order
    When it is placed on a manual clock
    Then the look-up finds nothing, the order is sent again (same client id) and fills,
    and at least recvWindow (10 s) passed on the clock before the resend
    """
    clock = ManualClock(T0)
    client, exchange = make_client(clock=clock)
    exchange.create_script = [ccxt.OperationFailed("500 -1000")]
    fill = client.market_buy(0.001, "bot-7")
    assert [s[2] for s in exchange.sent] == ["bot-7", "bot-7"]
    assert fill.client_order_id == "bot-7"
    assert clock.now_ms() - T0 >= 10_000


def test_duplicate_order_answer_is_looked_up_not_rejected():
    """
    Given a previous send already placed our client id and the exchange answers
    "Duplicate order sent."
    When the order is placed
    Then the existing order's fill is returned and no further send happens
    """
    client, exchange = make_client()
    exchange._record("buy", 0.001, "bot-8")
    duplicate = 'binance {"code":-2010,"msg":"Duplicate order sent."}'
    exchange.create_script = [ccxt.InvalidOrder(duplicate)]
    fill = client.market_buy(0.001, "bot-8")
    assert len(exchange.sent) == 1 and fill.client_order_id == "bot-8"


def test_unknown_outcome_every_time_raises_exchange_unavailable_with_cid(caplog):
    """
    Given every send times out without placing the order
    When it is placed with 3 attempts
    Then it is sent 3 times (each after a look-up said absent), and ExchangeUnavailable
    names the client id, logged with its trace on "paperbot.errors"
    """
    client, exchange = make_client()
    exchange.create_script = [ccxt.RequestTimeout("t")] * 3
    with caplog.at_level(logging.ERROR, logger="paperbot.errors"):
        with pytest.raises(ExchangeUnavailable, match="bot-9"):
            client.market_buy(0.001, "bot-9")
    assert len(exchange.sent) == 3
    assert any(r.name == "paperbot.errors" and r.exc_info for r in caplog.records)


def test_client_id_of_another_side_is_not_taken_as_our_fill():
    """
    Given a sell already placed with client id bot-15, and a buy under the same id whose
    answer times out without placing it
    When the buy is placed
    Then OrderRejected says the id belongs to a sell order, instead of returning that sell
    """
    client, exchange = make_client()
    exchange._record("sell", 0.001, "bot-15")
    exchange.create_script = [ccxt.RequestTimeout("t")]
    with pytest.raises(OrderRejected, match="already belongs to a sell order"):
        client.market_buy(0.001, "bot-15")
    assert len(exchange.sent) == 1


def test_failed_look_up_raises_exchange_unavailable_without_resend():
    """
    Given the send times out and every look-up by client id fails too
    When the order is placed
    Then it is not resent and ExchangeUnavailable tells to reconcile that client id later
    """
    client, exchange = make_client()
    exchange.create_script = [ccxt.RequestTimeout("t")]
    exchange.lookup_errors = [ccxt.NetworkError("down")] * 3
    with pytest.raises(ExchangeUnavailable, match="reconcile by client order id bot-10"):
        client.market_buy(0.001, "bot-10")
    assert len(exchange.sent) == 1


def test_invalid_nonce_on_order_resyncs_then_resends():
    """
    Given the order is refused once with -1021 (InvalidNonce), not placed
    When it is placed
    Then the clock offset is reloaded, the look-up finds nothing and the resend fills
    """
    client, exchange = make_client()
    exchange.create_script = [ccxt.InvalidNonce("-1021")]
    client.market_buy(0.001, "bot-11")
    assert len(exchange.sent) == 2
    assert exchange.resyncs >= 2  # load_markets, then the -1021


def test_expired_partial_fill_returns_partial_quantity_and_zero_fill_is_rejected():
    """
    Given market orders that expire after a partial fill, and one that expires unfilled
    When their fills are built
    Then the partial fill reports the filled quantity, the unfilled one raises OrderRejected
    """
    client, exchange = make_client()
    partial = exchange._record("buy", 0.002, "bot-12", status="expired", filled=0.0005)
    assert client._fill_from_order(partial, "buy", "bot-12").quantity == 0.0005
    empty = exchange._record("buy", 0.002, "bot-13", status="expired", filled=0.0)
    with pytest.raises(OrderRejected, match="ended expired without a fill"):
        client._fill_from_order(empty, "buy", "bot-13")


def test_find_order_states():
    """
    Given an unknown id, a filled order, an unfilled expired order and a still-open order
    When each is looked up
    Then they give None, a Fill, None, and ExchangeUnavailable respectively
    """
    client, exchange = make_client()
    assert client.find_order("nope") is None
    exchange._record("sell", 0.001, "filled")
    fill = client.find_order("filled")
    assert fill.side == "sell" and fill.fee_currency == "USDT" and fill.fee > 0
    exchange._record("buy", 0.001, "expired", status="expired", filled=0.0)
    assert client.find_order("expired") is None
    exchange._record("buy", 0.001, "open", status="open", filled=0.0)
    with pytest.raises(ExchangeUnavailable, match="still open"):
        client.find_order("open")


@pytest.mark.parametrize("trades, order, expected", [
    ([{"fee": {"cost": 0.1, "currency": "USDT"}}, {"fee": {"cost": 0.2, "currency": "USDT"}}],
     {}, (0.30000000000000004, "USDT")),
    ([{"fee": {"cost": 0.01, "currency": "BNB"}}], {}, (0.01, "BNB")),
    ([{"fee": None}], {}, (0.0, "USDT")),
    ([], {"fees": [{"cost": 0.5, "currency": "USDT"}]}, (0.5, "USDT")),
    ([], {"fee": {"cost": 0.7, "currency": "USDT"}}, (0.7, "USDT")),
])
def test_fee_is_summed_in_the_received_asset(trades, order, expected):
    """
    Given trades or an order carrying commissions in USDT, in BNB, or none
    When the fee for a sell (received asset USDT) is computed
    Then the USDT commissions are summed, else the other currency's total is given
    """
    assert _fee_in(trades, order, "USDT") == expected


def test_policy_attempts_bound_the_sends():
    """
    Given a policy of 2 attempts and sends that always time out unplaced
    When an order is placed
    Then exactly 2 sends happen
    """
    client, exchange = make_client(policy=RetryPolicy(attempts=2, base_delay=0.1))
    exchange.create_script = [ccxt.RequestTimeout("t")] * 5
    with pytest.raises(ExchangeUnavailable):
        client.market_sell(0.001, "bot-14")
    assert len(exchange.sent) == 2
