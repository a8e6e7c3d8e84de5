"""The report JSON, the console table, the progress bar, the glue and the chart."""

import io
import json

import numpy as np
import pytest

from backtest.engine import BacktestError, FillRules
from backtest.plot import (
    _overlay_columns,
    bucket_starts,
    marker_groups,
    ohlc_buckets,
    plot_backtest,
    thin,
    use_log_scale,
)
from backtest.progress import ProgressBar
from backtest.report import (
    at_risk,
    build_report,
    format_console,
    format_value,
    iso,
    percent_base,
    write_json,
)
from backtest.run import run_backtest, run_on_signal, strategy_signals
from backtest.synthetic import synthetic_candles

RULES = FillRules(qty=1.0, commission=0.001, stop_loss=0.02, take_profit=0.04)


def small_result(signal=None, rules=RULES):
    """A backtest of 400 synthetic candles with a BUY every 40 bars and a SELL 20 bars later."""
    candles = synthetic_candles(400, seed=11)
    if signal is None:
        signal = np.zeros(400, dtype=np.int8)
        signal[5::40], signal[25::40] = 1, -1
    return run_on_signal(candles, signal, rules, 10_000.0, "demo", {"X": 1})


def test_report_holds_data_settings_metrics_and_reasons():
    """
    Given a small backtest
    When its report is built and written as JSON
    Then the JSON has the data span, the settings, TradingView metrics and exit reasons
    """
    result = small_result()
    report = build_report(result, "candles.csv")
    assert report["data"] == {"file": "candles.csv", "candles": 400,
                              "first": "2024-01-01T00:00:00Z", "last": "2024-01-01T06:39:00Z"}
    assert report["settings"]["stop_loss"] == 0.02
    assert report["strategy"] == {"name": "demo", "params": {"X": 1}}
    assert report["performance"]["Total Closed Trades"] == len(result.trades)
    assert set(report["exit_reasons"]) == {"signal", "stop_loss", "take_profit", "end"}
    assert sum(r["trades"] for r in report["exit_reasons"].values()) == len(result.trades)


def test_report_json_has_no_nan_or_infinity(tmp_path):
    """
    Given a backtest with no trade (ratios undefined)
    When the report is written as JSON
    Then undefined values are null and the file is strict JSON
    """
    result = small_result(signal=np.zeros(400, dtype=np.int8))
    path = write_json(build_report(result), tmp_path / "report.json")
    loaded = json.loads(path.read_text())
    assert loaded["performance"]["Profit Factor"] is None
    assert loaded["open_trade"] is None


def test_report_names_an_open_trade():
    """
    Given a BUY near the end and no exit
    When the report is built
    Then open_trade carries its side, entry and open P&L
    """
    signal = np.zeros(400, dtype=np.int8)
    signal[395] = 1
    report = build_report(small_result(signal, FillRules(qty=1.0, stop_loss=None,
                                                         take_profit=None)))
    assert report["open_trade"]["side"] == "long"
    assert report["performance"]["Total Open Trades"] == 1
    assert "Open long since" in format_console(report)


def test_console_table_lists_metrics_and_exit_reasons():
    """
    Given a small backtest's report
    When it is formatted for the console
    Then TradingView's metric names and the exit-reason rows appear
    """
    text = format_console(build_report(small_result()))
    for name in ("Net Profit", "Max Drawdown", "Sharpe Ratio", "Profit Factor",
                 "Percent Profitable", "Avg # Bars in Trades", "Max Consecutive Losses",
                 "stop_loss", "take_profit"):
        assert name in text


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [("Net Profit", 1234.56789, "1,234.5679"), ("Net Profit %", 1.234, "1.23 %"),
     ("Profit Factor", 1.23456, "1.235"), ("Total Closed Trades", 1200, "1,200"),
     ("Avg # Bars in Trades", 12.345, "12.3"), ("Sharpe Ratio", None, "n/a"),
     ("Max Contracts Held", 0.001, "0.001"), ("Net Profit %", -0.001, "0.00 %"),
     ("Net Profit", -0.00001, "0.0000"), ("Net Profit", -0.5, "-0.5000")],
)
def test_format_value(name, value, text):
    """
    Given a metric and its value
    When it is formatted
    Then amounts, percents, ratios, counts and missing values print as expected
    """
    assert format_value(name, value) == text


def test_iso():
    """
    Given epoch ms 1704067200000
    When it is written as ISO
    Then it is 2024-01-01T00:00:00Z
    """
    assert iso(1_704_067_200_000) == "2024-01-01T00:00:00Z"


def test_progress_bar_is_silent_off_a_terminal():
    """
    Given a stream that is not a terminal
    When progress is drawn
    Then nothing is written
    """
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.phase("fills")
    bar(0.5)
    bar.close()
    assert stream.getvalue() == ""


def test_progress_bar_draws_when_enabled():
    """
    Given an enabled bar on a stream
    When half of a step covering 60 % to 100 % of the run is done and the bar is closed
    Then a line with the label and 80.0 % is drawn and then cleared
    """
    stream = io.StringIO()
    bar = ProgressBar(stream, enabled=True, width=10)
    bar.phase("fills", 0.6, 1.0)
    bar(0.5)
    assert "fills        [########..]  80.0 %" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r")


def test_run_on_signal_rejects_bad_capital_and_too_few_candles():
    """
    Given a capital of 0, then a single candle
    When a backtest is run
    Then BacktestError explains each
    """
    candles = synthetic_candles(10)
    with pytest.raises(BacktestError, match="capital"):
        run_on_signal(candles, np.zeros(10, dtype=np.int8), RULES, 0.0)
    with pytest.raises(BacktestError, match="too few"):
        run_on_signal(candles.iloc[:1], np.zeros(1, dtype=np.int8), RULES, 100.0)


def test_both_backtest_paths_share_one_input_check():
    """
    Given a negative capital, one candle, and then ten candles with a capital of 100
    When the inputs are checked
    Then the first two are refused with the line naming what is wrong, the last passes
    """
    from backtest.run import check_inputs

    candles = synthetic_candles(10)
    with pytest.raises(BacktestError, match="capital -1.0 must be a positive amount"):
        check_inputs(candles, -1.0)
    with pytest.raises(BacktestError, match="1 candle\\(s\\) are too few"):
        check_inputs(candles.iloc[:1], 100.0)
    assert check_inputs(candles, 100.0) is None


def test_strategy_signals_come_from_the_registry():
    """
    Given the rsi strategy with RSI_PERIOD=10
    When its signals are computed on synthetic candles
    Then the frame has rsi and signal columns and the merged parameters are returned
    """
    frame, params = strategy_signals(synthetic_candles(300), "RSI", {"RSI_PERIOD": 10})
    assert params == {"RSI_PERIOD": 10, "RSI_OVERBOUGHT": 70, "RSI_OVERSOLD": 30}
    assert {"rsi", "signal"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [("nope", None, "unknown"), ("rsi", {"SMA_SHORT": 5}, "no parameter SMA_SHORT"),
     ("rsi", {"RSI_PERIOD": 0}, "out of range")],
)
def test_strategy_errors_are_backtest_errors(name, params, words):
    """
    Given an unknown strategy, a parameter of another strategy, or one out of range
    When the signals are computed
    Then a one-line BacktestError explains it
    """
    with pytest.raises(BacktestError, match=words):
        strategy_signals(synthetic_candles(100), name, params)


def test_run_backtest_runs_a_registered_strategy():
    """
    Given 3,000 synthetic candles and the default strategy
    When the backtest runs
    Then trades come out and the indicators are kept for the chart
    """
    result = run_backtest(synthetic_candles(3000), "sma_rsi", None, RULES, 10_000.0)
    assert len(result.trades) > 0
    assert "sma_short" in result.indicators.columns
    assert result.equity.size == 3000


def test_thin_keeps_short_series_and_minima():
    """
    Given a series of 10 points and one of 100,000 with a single dip
    When they are thinned
    Then the short one is untouched and the long one keeps its dip under 'min'
    """
    pos, values = thin(np.arange(10.0))
    assert list(pos) == list(range(10))
    series = np.zeros(100_000)
    series[54_321] = -5.0
    pos, values = thin(series, keep="min")
    assert values.size <= 4001 and values.min() == -5.0
    assert thin(series)[1].size <= 4001


def test_overlay_columns_are_price_scale_indicators_only():
    """
    Given the sma_rsi indicator frame
    When overlay columns are chosen
    Then the moving averages are drawn over the price and RSI is not
    """
    candles = synthetic_candles(500)
    frame, _ = strategy_signals(candles, "sma_rsi", None)
    assert _overlay_columns(frame, candles["close"].to_numpy()) == ["sma_short", "sma_long"]
    assert _overlay_columns(None, candles["close"].to_numpy()) == []


def test_plot_writes_a_png(tmp_path):
    """
    Given a backtest of a registered strategy
    When it is plotted
    Then a PNG file is written
    """
    result = run_backtest(synthetic_candles(2000), "ma2line", None, RULES, 10_000.0)
    path = plot_backtest(result, tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_percent_base_is_the_capital_at_risk_with_a_fixed_size():
    """
    Given a fixed-size backtest, and the same sized as a percent of equity
    When percent_base names the base of the % figures
    Then it is the largest entry value for the first and the initial capital for the second
    """
    result = small_result()
    base = percent_base(result)
    assert base["name"] == "capital at risk"
    assert base["amount"] == pytest.approx(float(result.ledger.entry_value.max()))
    assert percent_base(result, sized_by_percent=True) == {
        "name": "initial capital", "amount": 10_000.0,
        "why": "orders are sized as a percent of equity"}


def test_at_risk_rescales_the_capital_percents():
    """
    Given a net profit of 5 and a max drawdown of 2 on a base of 50
    When at_risk recomputes the % figures
    Then they are 10 % and 4 %, and a missing figure stays None
    """
    out = at_risk({"Net Profit": 5.0, "Max Drawdown": 2.0, "Open PL": None}, {"amount": 50.0})
    assert out["Net Profit %"] == 10.0 and out["Max Drawdown %"] == 4.0
    assert out["Open PL %"] is None


def test_console_names_the_percent_base_and_uses_it():
    """
    Given a fixed-size backtest report
    When it is formatted for the console
    Then a line names the capital at risk and Net Profit's % is on that base
    """
    report = build_report(small_result())
    text = format_console(report)
    base = report["percent_base"]["amount"]
    assert f"% of capital at risk {base:,.2f}" in text
    net = report["performance"]["Net Profit"]
    expected = format_value("Net Profit %", 100.0 * net / base)
    assert any(line.startswith("Net Profit") and line.endswith(expected)
               for line in text.splitlines())
    assert report["performance"]["Net Profit %"] == pytest.approx(100.0 * net / 10_000.0)


def test_plot_aggregates_candles_and_merges_markers():
    """
    Given 10,000 candles and 1,000 trades
    When the chart's candle buckets and marker groups are made
    Then at most 400 candle buckets exist, their highs and lows hold the extremes, and the
        1,000 markers merge into fewer groups whose counts add up
    """
    result = run_backtest(synthetic_candles(10_000), "ma2line", None, RULES, 10_000.0)
    starts = bucket_starts(result.close.size)
    assert starts.size <= 400
    _, _, high, low, _ = ohlc_buckets(result, starts)
    assert high.max() == result.high.max() and low.min() == result.low.min()
    bars = np.arange(0, 10_000, 10)
    grouped = marker_groups(bars, np.ones(bars.size), bucket_starts(10_000, 80))
    assert grouped[0].size <= 80 and grouped[2].sum() == 1000
    few = marker_groups(bars[:5], np.ones(5), starts)
    assert few[2].tolist() == [1] * 5


def test_log_scale_only_for_long_ranges():
    """
    Given closes from 100 to 1,000 and closes from 100 to 120
    When use_log_scale decides
    Then the first is drawn on a log axis and the second not
    """
    assert use_log_scale(np.linspace(100, 1000, 50))
    assert not use_log_scale(np.linspace(100, 120, 50))


def test_plot_with_an_oscillator_pane_and_many_trades(tmp_path):
    """
    Given a macd backtest with more than 300 trades on a tenfold rising market
    When it is plotted
    Then a PNG is written
    """
    candles = synthetic_candles(30_000, volatility=0.002)
    growth = np.linspace(1, 10, len(candles))
    for col in ("open", "high", "low", "close"):
        candles[col] = candles[col] * growth
    result = run_backtest(candles, "macd", None, RULES, 10_000.0)
    assert len(result.trades) > 300
    path = plot_backtest(result, tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
