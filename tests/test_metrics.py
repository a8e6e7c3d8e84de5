"""/metrics and /health over HTTP on 127.0.0.1, parsed with prometheus-client's own parser."""

import json
import logging
import urllib.error
import urllib.request
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from bot.events import CandleEvent
from ops.metrics import BotMetrics, MetricsServer
from storage.trades import TradeRow

MINUTE = 60_000


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            found[key] = sample.value
    return found


def test_a_scrape_parses_and_holds_every_figure():
    """
    Given metrics fed with 3 candles, a skip, a buy, a stop-loss sell, a retry, an error and
     a last price while long
    When /metrics is scraped over HTTP
    Then prometheus-client's parser reads candles, skips, orders by side and reason, retries,
     errors by kind, position size, realised and unrealised PnL, last price and cycle time
    """
    now = [10 * MINUTE]
    position = [SimpleNamespace(quantity=0.5, entry_price=100.0)]
    metrics = BotMetrics(timeframe_ms=MINUTE, now_ms=lambda: now[0],
                         position=lambda: position[0],
                         info={"symbol": "ETH/USDT", "strategy": "macd"}, realised_pnl=2.0)
    server = MetricsServer(metrics, 0, logger_name="paperbot.test_metrics")
    try:
        for n in (1, 2, 3):
            metrics.candle(CandleEvent(n * MINUTE, 101.0, 0, "nothing", None, False, 1, n, 0,
                                       now[0]))
        metrics.candle(CandleEvent(None, None, None, "", "timeout", False, 0, 3, 1, now[0]))
        metrics.fill(TradeRow(timestamp_ms=1, order_id="1", side="buy", quantity=0.5,
                              filled_price=100.0))
        metrics.fill(TradeRow(timestamp_ms=2, order_id="2", side="sell", quantity=0.5,
                              filled_price=98.0, pnl=-1.5, exit_reason="stop_loss"))
        metrics.price(104.0, now[0])
        log = logging.getLogger("paperbot.test_metrics")
        log.warning("%s failed (attempt %d of %d): %s; retrying in %.1f s", "fetch OHLCV", 1,
                    3, "timeout", 1.0)
        log.error("position lost: gone (testnet wipe?)")
        status, body = _get(server.url + "/metrics")
    finally:
        server.close()
    assert status == 200
    s = _samples(body.decode())
    assert s[("paperbot_candles_processed_total", ())] == 3
    assert s[("paperbot_cycles_skipped_total", ())] == 1
    assert s[("paperbot_orders_total", (("reason", "signal"), ("side", "buy")))] == 1
    assert s[("paperbot_orders_total", (("reason", "stop_loss"), ("side", "sell")))] == 1
    assert s[("paperbot_api_retries_total", ())] == 1
    assert s[("paperbot_errors_total", (("kind", "testnet_wipe"),))] == 1
    assert s[("paperbot_position_size", ())] == 0.5
    assert s[("paperbot_realised_pnl", ())] == 0.5
    assert s[("paperbot_unrealised_pnl", ())] == 2.0
    assert s[("paperbot_last_price", ())] == 104.0
    assert s[("paperbot_last_cycle_timestamp_seconds", ())] == 600.0
    assert s[("paperbot_info", (("strategy", "macd"), ("symbol", "ETH/USDT")))] == 1


def test_health_is_200_while_recent_and_503_when_stale():
    """
    Given metrics on a manual bot clock with 1m candles
    When the last cycle is 60 s old, then 121 s old
    Then /health answers 200 "ok", then 503 "stale", as JSON; other paths 404
    """
    now = [0]
    metrics = BotMetrics(timeframe_ms=MINUTE, now_ms=lambda: now[0], position=lambda: None)
    server = MetricsServer(metrics, 0)
    try:
        metrics.ready([], 0)
        now[0] = 60_000
        ok = _get(server.url + "/health")
        now[0] = 121_000
        stale = _get(server.url + "/health")
        missing = _get(server.url + "/nothing")
    finally:
        server.close()
    assert ok[0] == 200 and json.loads(ok[1])["status"] == "ok"
    assert stale[0] == 503 and json.loads(stale[1]) == {
        "status": "stale", "last_cycle_age_seconds": 121.0, "stale_after_seconds": 120.0,
        "candles_processed": 0}
    assert missing[0] == 404
