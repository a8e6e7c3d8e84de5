"""``python main.py backtest`` with the five bar strategies: the README's command line, the
percent-of-equity and broker options, and one-line errors for bad ones."""

from __future__ import annotations

import csv

import pytest

import main
from backtest.synthetic import synthetic_candles

NEW = ("supertrend", "bollinger", "keltner", "channel_breakout", "barupdn")


@pytest.fixture(scope="module")
def candle_file(tmp_path_factory):
    """3,000 synthetic 1-minute candles in the bot's candle CSV format."""
    path = tmp_path_factory.mktemp("orders") / "candles.csv"
    synthetic_candles(3000, seed=8).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("strategy", NEW)
def test_the_readme_command_line_writes_the_trade_list(strategy, candle_file, tmp_path, capsys):
    """
    Given a candle file
    When `backtest --strategy S --mode long-short --qty 1 --commission 0 --no-sl-tp --data FILE
        --out DIR` runs for each of the five strategies
    Then it exits 0 and writes trades.csv with TradingView's order ids, 1 contract per trade
    """
    out = tmp_path / strategy
    status = main.main(["backtest", "--strategy", strategy, "--mode", "long-short", "--qty", "1",
                        "--commission", "0", "--no-sl-tp", "--data", str(candle_file),
                        "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "trades.csv").open()))
    assert rows and {r["Position size (qty)"] for r in rows} == {"1"}
    from strategies.registry import STRATEGIES

    ids = set(STRATEGIES[strategy].entry_ids)
    assert {r["Signal"] for r in rows if r["Type"].startswith("Entry")} <= ids
    assert (out / "report.json").is_file()


def test_qty_percent_sizes_each_trade_from_equity(candle_file, tmp_path, capsys):
    """
    Given the same candles
    When Supertrend runs with --qty-percent 15 --lot 0.001 --capital 100000
    Then trade sizes vary with equity, are whole lots and the first is 15 % of capital
    """
    out = tmp_path / "pct"
    assert main.main(["backtest", "--strategy", "supertrend", "--mode", "long-short",
                      "--qty-percent", "15", "--lot", "0.001", "--capital", "100000",
                      "--commission", "0", "--no-sl-tp", "--data", str(candle_file),
                      "--out", str(out)]) == 0
    rows = [r for r in csv.DictReader((out / "trades.csv").open())
            if r["Type"].startswith("Entry")]
    sizes = [float(r["Position size (qty)"]) for r in rows]
    assert len(set(sizes)) > 1
    assert all(abs(q * 1000 - round(q * 1000)) < 1e-6 for q in sizes)
    first_value = float(rows[0]["Position size (value)"])
    assert 14_900 < first_value <= 15_010  # 15 % of 100,000 at the signal close


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--qty-percent", "0"], "qty-percent 0.0 must be above 0"),
        (["--lot", "-1", "--qty-percent", "5"], "lot -1.0 must be a positive quantity step"),
        (["--mintick", "0"], "mintick 0.0 must be a positive price step"),
        (["--day-start", "5pm"], "day start '5pm' is not 'HH:MM ZONE'"),
    ],
)
def test_bad_broker_options_exit_2_with_one_line(flags, message, candle_file, tmp_path, capsys):
    """
    Given a bad --qty-percent, --lot, --mintick or --day-start
    When the backtest runs a stop-entry strategy with it
    Then it exits 2 with one line on stderr saying what is wrong and how to fix it
    """
    status = main.main(["backtest", "--strategy", "bollinger", "--no-sl-tp", "--data",
                        str(candle_file), "--out", str(tmp_path / "x"), *flags])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1


def test_signals_writes_the_order_columns_and_counts_armed_stops(candle_file, tmp_path,
                                                                  capsys):
    """
    Given the candle file
    When `signals --strategy channel_breakout` runs
    Then the CSV has the six order columns and the summary counts the armed buy and sell stops
    """
    out = tmp_path / "signals.csv"
    assert main.main(["signals", "--data", str(candle_file), "--strategy", "channel_breakout",
                      "--out", str(out)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert {"long_entry", "long_stop", "long_cancel", "short_entry", "short_stop",
            "short_cancel"} <= set(header)
    line = capsys.readouterr().out.strip()
    assert "2995 buy stops, 2996 sell stops armed" in line


def test_the_order_broker_benchmark_prints_figures_per_strategy():
    """
    Given the order broker benchmark and 3,000 synthetic candles
    When it runs
    Then it prints the strategy and broker time and the trade count of each of the five
    """
    import subprocess
    import sys

    from tests.conftest import PROJECT_DIR

    done = subprocess.run([sys.executable, str(PROJECT_DIR / "bench" / "order_broker_speed.py"),
                           "--candles", "3000"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "3,000 synthetic 1m candles (3,000 candles):"
    assert len(lines) == 6 and all("broker" in line and "trades" in line for line in lines[1:])


def test_compare_asks_for_qty_percent_when_sizes_vary_and_the_strategy_has_none(capsys):
    """
    Given TradingView's Supertrend export (sizes from equity) compared as the macd strategy
    When compare runs without --qty-percent
    Then it exits 2 with one line asking for --qty-percent
    """
    from tests.conftest import require_tv_reference

    export = require_tv_reference("supertrend_trades.csv")
    status = main.main(["compare", "--tv-trades", str(export), "--data",
                        str(require_tv_reference("ohlcv.csv")), "--strategy", "macd"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "pass --qty-percent P" in err and len(err.splitlines()) == 1


def test_export_lot_is_the_finest_step_the_sizes_show():
    """
    Given export trades sized 132522.8, 132740 and 1.25
    When the lot is read from them
    Then it is 0.1 for the first two and 0.01 with the third
    """
    from backtest.tvexport import ExportTrade, Number
    from commands.compare import export_lot

    def trade(qty):
        price = Number(1.0, 0)
        return ExportTrade(1, 1, "", "", price, price, qty, None, "", "", False)

    assert export_lot([trade(132522.8), trade(132740.0)]) == pytest.approx(0.1)
    assert export_lot([trade(132522.8), trade(1.25)]) == pytest.approx(0.01)
