"""Alerts through real apprise to a local JSON receiver on 127.0.0.1."""

import logging
import time

import pytest

from bot.events import CandleEvent
from ops.notify import (
    DeliveryWorker,
    KindLimiter,
    Notifier,
    NotifyConfigError,
    error_kind,
    parse_urls,
    url_scheme,
)
from storage.trades import TradeRow
from tests.http_receiver import Receiver

TOKEN = "s3cr3t-token-abc123"


def _event(now_ms, skipped=None, failed=False):
    return CandleEvent(candle_ms=now_ms, close=100.0, signal=0, action="nothing",
                       skipped=skipped, failed=failed, new_candles=1, candles_processed=1,
                       cycles_skipped=0, now_ms=now_ms)


def _notifier(worker, events=("start", "fill", "error", "daily", "stop"), limiter=None):
    notifier = Notifier(worker, events, position=lambda: "flat", limiter=limiter)
    notifier.started({"exchange": "local emulator", "symbol": "ETH/USDT", "timeframe": "1m",
                      "strategy": "macd"})
    return notifier


def test_only_the_chosen_event_kinds_are_sent():
    """
    Given NOTIFY_EVENTS=fill
    When the bot starts, fills and stops
    Then only the fill arrives
    """
    with Receiver() as receiver:
        notifier = _notifier(DeliveryWorker([receiver.url()]), events=("fill",))
        notifier.ready([], 0)
        notifier.fill(TradeRow(timestamp_ms=0, order_id="1", side="buy", quantity=1.0,
                               filled_price=600.0, symbol="BNB/USDT"))
        notifier.stopped("flat", 1)
        notifier.close()
        posts = receiver.wait_for(1)
        time.sleep(0.05)
    assert [p["message"] for p in posts] == ["BUY 1 BNB/USDT at 600"]


def test_a_hanging_target_never_delays_the_caller_and_failures_go_to_the_errors_log(caplog):
    """
    Given a receiver that never answers and one that answers 500
    When 20 alerts are submitted
    Then every submit returns at once (well under the targets' timeouts), the failures are
     logged on paperbot.alerts naming the target's number and scheme, and no log line holds
     the URL's token
    """
    with Receiver("hang") as hang, Receiver("fail") as fail:
        worker = DeliveryWorker([hang.url(0.3, TOKEN), fail.url(0.3, TOKEN)], queue_size=5)
        with caplog.at_level(logging.ERROR, logger="paperbot.alerts"):
            started = time.perf_counter()
            results = [worker.submit("t", f"m{i}") for i in range(20)]
            elapsed = time.perf_counter() - started
            assert hang.arrived.wait(5)
            fail.wait_for(1)
            deadline = time.monotonic() + 5
            while worker.failed < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            hang.released.set()
            worker.close(0.5)
    assert elapsed < 0.05
    assert results.count(False) == worker.dropped and worker.dropped >= 10
    assert "target 1 (json)" in caplog.text and "target 2 (json)" in caplog.text
    assert "alert queue full" in caplog.text
    assert TOKEN not in caplog.text and "127.0.0.1" not in caplog.text


def test_errors_are_rate_limited_per_kind():
    """
    Given a limiter with a 60 s interval on a manual wall clock
    When 5 cycle_skipped and 1 reconcile errors come within the interval, then time passes
    Then the first of each kind goes at once and the other 4 come as one counted line
    """
    now = [0.0]
    limiter = KindLimiter(60, wall=lambda: now[0])
    sent = [limiter.offer("cycle_skipped", f"skip {i}") for i in range(5)]
    assert sent == ["skip 0", None, None, None, None]
    assert limiter.offer("reconcile", "pending order") == "pending order"
    assert limiter.due() == []
    now[0] = 61
    assert limiter.due() == ["4 more 'cycle_skipped' error(s) in the last 1 min; latest: skip 4"]
    assert limiter.offer("cycle_skipped", "skip 5") is None  # the summary opened a new window
    now[0] = 200
    assert limiter.due() == ["1 more 'cycle_skipped' error(s) in the last 2 min; latest: skip 5"]
    now[0] = 300
    assert limiter.offer("cycle_skipped", "skip 6") == "skip 6"


def test_daily_summary_and_skipped_cycle_alerts():
    """
    Given a notifier that saw one closed trade on day 0
    When a cycle is skipped after retries and a candle of day 1 finishes
    Then a cycle_skipped alert and a daily summary with 1 trade and its PnL arrive
    """
    day = 86_400_000
    with Receiver() as receiver:
        notifier = _notifier(DeliveryWorker([receiver.url()]), events=("error", "daily"))
        notifier.ready([], 1000)
        notifier.fill(TradeRow(timestamp_ms=5, order_id="9", side="sell", quantity=0.001,
                               filled_price=90000.0, pnl=-1.25, exit_reason="stop_loss",
                               symbol="BTC/USDT"))
        notifier.candle(_event(2000, skipped="fetch OHLCV failed after 3 attempt(s)"))
        notifier.candle(_event(day + 5))
        notifier.close()
        posts = receiver.wait_for(2)
    assert posts[0]["message"] == "cycle skipped: fetch OHLCV failed after 3 attempt(s)"
    assert posts[1]["message"] == ("1970-01-01: 1 closed trade(s), PnL -1.25; position: flat")


def test_a_url_apprise_cannot_use_is_refused_without_echoing_it():
    """
    Given NOTIFY_URLS with an unknown scheme holding a token
    When the worker is built
    Then NotifyConfigError names the entry number and scheme but not the token
    """
    with pytest.raises(NotifyConfigError) as info:
        DeliveryWorker([f"nosuchscheme://{TOKEN}@host"])
    assert "entry 1 (nosuchscheme://...)" in str(info.value)
    assert TOKEN not in str(info.value)


def test_helpers_split_urls_name_schemes_and_classify_errors():
    """
    Given a few URL lists and error lines
    When they are parsed and classified
    Then blanks are dropped, schemes are the part before ://, kinds match the problem
    """
    assert parse_urls(" json://a/b , ,tgram://x/y") == ["json://a/b", "tgram://x/y"]
    assert url_scheme("Discord://id/token") == "discord" and url_scheme("nonsense") == "?"
    assert error_kind("position lost: the exchange no longer knows ...") == "testnet_wipe"
    assert error_kind("fetch balance refused: Invalid API-key, IP, or permissions") == (
        "refused_key")
    assert error_kind("BUY order pb-1: outcome unknown (timeout)") == "reconcile"
    assert error_kind("fetch OHLCV failed after 3 attempt(s): 503") == "cycle_skipped"
    assert error_kind("SELL order rejected: -2010") == "order"
    assert error_kind("disk full") == "other"


def test_after_close_gives_up_on_a_hanging_target_nothing_more_is_logged(capsys, caplog):
    """
    Given a worker whose only target hangs longer than the close wait
    When close(0.2) returns and the target later times out
    Then close reports False and no failure line is logged or printed afterwards
    """
    with Receiver("hang") as hang:
        worker = DeliveryWorker([hang.url(0.6)])
        worker.submit("t", "m")
        assert hang.arrived.wait(5)
        with caplog.at_level(logging.ERROR, logger="paperbot.alerts"):
            assert worker.close(0.2) is False
            time.sleep(0.8)
        hang.released.set()
    assert caplog.text == "" and capsys.readouterr().err == ""


def test_reconcile_problems_at_start_are_error_alerts():
    """
    Given a notifier sending errors only
    When the start-up reconcile notes an unresolved pending order and a fine resume
    Then one reconcile error alert names the unresolved order
    """
    with Receiver() as receiver:
        notifier = _notifier(DeliveryWorker([receiver.url()]), events=("error",))
        notifier.ready(["pending BUY order pb-1 unresolved (timeout); will retry before the"
                        " next order", "resuming open position: 0.001 BTC at 95000"], 0)
        notifier.close()
        posts = receiver.wait_for(1)
        time.sleep(0.05)
    assert [p["title"] for p in posts] == ["paperbot: error (reconcile)"]
    assert posts[0]["message"].startswith("reconcile: pending BUY order pb-1 unresolved")
