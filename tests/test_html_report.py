"""``backtest --html``: the page's data, its self-containedness, and a real browser drawing it."""

from __future__ import annotations

import base64
import html as html_module
import json
import re

import numpy as np
import pytest

import main
from backtest.engine import FillRules
from backtest.html_report import (
    LIBRARY,
    buy_and_hold,
    drawdown,
    headline,
    indicator_panes,
    packed,
    render_html,
    report_payload,
    trade_columns,
    write_html_report,
)
from backtest.report import build_report
from backtest.run import run_backtest
from backtest.synthetic import synthetic_candles
from tests.browser import find_chromium, load


@pytest.fixture(scope="module")
def backtest():
    """A sma_rsi backtest on 3,000 synthetic hourly candles, its candles and report."""
    candles = synthetic_candles(3000, step_ms=3_600_000, seed=4)
    result = run_backtest(candles, "sma_rsi", {}, FillRules(qty=0.01, commission=0.001,
                                                            stop_loss=0.02, take_profit=0.04),
                          10_000.0)
    return result, candles, build_report(result, "c.csv")


def page_data(text: str) -> dict:
    """The JSON payload of a rendered page."""
    raw = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    return json.loads(raw.group(1).replace("<\\/", "</"))


def test_packed_is_little_endian_base64():
    """
    Given the values 1.5 and NaN
    When they are packed as float32
    Then decoding the base64 gives them back
    """
    back = np.frombuffer(base64.b64decode(packed(np.array([1.5, np.nan]))), dtype="<f4")
    assert back[0] == 1.5 and np.isnan(back[1])


def test_indicator_panes_split_price_lines_from_oscillators(backtest):
    """
    Given the sma_rsi strategy's frame
    When indicator_panes sorts its columns
    Then the two SMAs go on the price and the RSI into its own pane
    """
    result, _, _ = backtest
    assert indicator_panes(result.indicators, result.close) == (["sma_short", "sma_long"],
                                                                ["rsi"])
    assert indicator_panes(None, result.close) == ([], [])


def test_buy_and_hold_and_drawdown():
    """
    Given opens/closes 100, 110, 90 with a size of 2 and equity 10, 12, 9 on capital 10
    When buy_and_hold and drawdown are computed
    Then the hold equity moves by 2 per price unit and the drawdown is 0, 0, -3
    """
    assert buy_and_hold(np.array([100.0]), np.array([100.0, 110.0, 90.0]), 2.0,
                        1000.0).tolist() == [1000.0, 1020.0, 980.0]
    assert drawdown(np.array([10.0, 12.0, 9.0]), 10.0).tolist() == [0.0, 0.0, -3.0]


def test_trade_columns_carry_what_the_hover_shows(backtest):
    """
    Given the backtest's trades
    When trade_columns lists them
    Then every trade has bars, side, prices, P&L, % and a reason name
    """
    result, _, _ = backtest
    cols = trade_columns(result)
    n = len(result.trades)
    assert n > 10 and all(len(v) == n for v in cols.values())
    assert set(cols["reason"]) <= {"signal", "stop_loss", "take_profit", "end"}
    assert cols["pnl"][0] == pytest.approx(float(result.ledger.net_pnl[0]))


def test_headline_formats_counts_and_names_the_percent_base(backtest):
    """
    Given a report with a percent base
    When headline picks the figures
    Then the trade count is a whole number and the base is named with its amount
    """
    _, _, report = backtest
    report = {**report, "percent_base": {"name": "capital at risk", "amount": 312.5}}
    out = headline(report)
    assert out["Total Closed Trades"] == f"{report['performance']['Total Closed Trades']:,}"
    assert out["% base"] == "capital at risk 312.50"


def test_the_page_is_self_contained(backtest, tmp_path):
    """
    Given a written HTML report
    When its text is read
    Then the library is inlined, no script or style is loaded from anywhere, and the data
        decodes to every candle
    """
    result, candles, report = backtest
    path = write_html_report(result, tmp_path / "r.html", report,
                             volume=candles["volume"].to_numpy())
    text = path.read_text()
    assert "TradingView Lightweight Charts" in text and len(text) > LIBRARY.stat().st_size
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import|url\(http", text)
    data = page_data(text)
    times = np.frombuffer(base64.b64decode(data["t"]), dtype="<f8")
    assert times.tolist() == (candles["timestamp"] // 1000).tolist()
    assert data["trades"]["entry"] == result.trades.entry_bar.tolist()
    assert html_module.escape(data["title"]) in text


def test_render_html_escapes_the_title_and_script_ends():
    """
    Given a payload whose title holds markup and whose data holds '</script>'
    When the page is rendered
    Then the title is escaped and the data cannot close its script element
    """
    payload = {"title": "<b>x</b>", "note": "</script><script>alert(1)</script>"}
    text = render_html(payload)
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in text
    assert "</script><script>alert(1)" not in text


def test_long_ranges_get_a_log_price_scale():
    """
    Given candles whose price rises tenfold and candles that stay within 10 %
    When their payloads are built
    Then the first asks for a log scale and the second does not
    """
    flat = synthetic_candles(300, step_ms=3_600_000, volatility=0.0001)
    steep = flat.copy()
    growth = np.linspace(1, 10, len(steep))
    for col in ("open", "high", "low", "close"):
        steep[col] = steep[col] * growth
    for frame, expected in ((flat, False), (steep, True)):
        result = run_backtest(frame, "ma2line", {}, FillRules(), 10_000.0)
        assert report_payload(result, build_report(result), "t", "USDT")["logScale"] is expected


def test_backtest_html_flag_writes_the_page(tmp_path, capsys):
    """
    Given a candle file
    When `backtest --html r.html` runs
    Then it exits 0, names the page and the page holds the chart
    """
    path = tmp_path / "c.csv"
    synthetic_candles(500, step_ms=300_000).to_csv(path, index=False)
    assert main.main(["backtest", "--data", str(path), "--strategy", "macd", "--out",
                      str(tmp_path / "bt"), "--html", str(tmp_path / "r.html")]) == 0
    assert f"interactive chart: {tmp_path / 'r.html'}" in capsys.readouterr().out
    assert "LightweightCharts" in (tmp_path / "r.html").read_text()


@pytest.mark.skipif(find_chromium() is None,
                    reason="headless Chromium is not installed (apt-get install -y chromium;"
                           " .ci/run installs it)")
def test_a_real_browser_draws_the_page_without_a_javascript_error(backtest, tmp_path):
    """
    Given the HTML report of 3,000 candles and their trades
    When headless Chromium (offline: every fetch goes to a closed port) loads it
    Then the page reports no JavaScript error, has drawn candles of both colours, markers and
        all candles, the screenshot shows them, zooming in shows every candle, and pointing at
        a trade shows its side, price, P&L and reason
    """
    from PIL import Image

    result, candles, report = backtest
    page = write_html_report(result, tmp_path / "r.html", report,
                             volume=candles["volume"].to_numpy())
    shot = tmp_path / "shot.png"
    body = load(page, screenshot=shot)
    assert body["status"] == "drawn" and body["errors"] == "0", body
    assert int(body["candles"]) == 3000 and int(body["bucket"]) == 2
    assert int(body["markers"]) > 20 and int(body["painted"]) > 50_000
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    green = (abs(image - (38, 166, 154)).sum(axis=2) < 30).sum()
    red = (abs(image - (239, 83, 80)).sum(axis=2) < 30).sum()
    assert green > 500 and red > 500
    k = int(np.searchsorted(result.trades.entry_bar, 1000))
    hovered = load(page, fragment=f"zoom=1000-1200&hover={k}")
    assert hovered["errors"] == "0" and hovered["bucket"] == "1"
    side = "long" if result.trades.direction[k] > 0 else "short"
    tip = html_module.unescape(hovered["hover"])
    assert f"#{k + 1} {side}" in tip and "P&L" in tip
    reason = ("stop-loss", "take-profit", "signal", "end", "open")
    assert any(word in tip for word in reason)


@pytest.mark.skipif(find_chromium() is None,
                    reason="headless Chromium is not installed (apt-get install -y chromium;"
                           " .ci/run installs it)")
def test_many_trades_become_at_most_60_squares_in_the_browser(tmp_path):
    """
    Given 20,000 one-minute candles backtested with macd (more than 300 trades)
    When Chromium draws the whole range
    Then at most 60 markers are drawn, with no JavaScript error
    """
    candles = synthetic_candles(20_000)
    result = run_backtest(candles, "macd", {}, FillRules(), 10_000.0)
    assert len(result.trades) > 300
    page = write_html_report(result, tmp_path / "r.html", build_report(result),
                             volume=candles["volume"].to_numpy())
    body = load(page)
    assert body["errors"] == "0" and 0 < int(body["markers"]) <= 60
