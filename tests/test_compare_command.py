"""``python main.py compare``: matching exports pass, a differing trade fails, both layouts."""

import csv
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import main
from backtest.synthetic import synthetic_candles

OLD = ["Trade #", "Type", "Signal", "Date/Time", "Price USD", "Contracts", "Profit USD",
       "Profit %", "Cum. Profit USD", "Cum. Profit %", "Run-up USD", "Run-up %",
       "Drawdown USD", "Drawdown %"]


@pytest.fixture
def candle_file(tmp_path):
    """2,000 synthetic 5-minute candles."""
    path = tmp_path / "candles.csv"
    synthetic_candles(2000, seed=9, step_ms=300_000, volatility=0.002).to_csv(path, index=False)
    return path


def export_of_our_backtest(candle_file, tmp_path, *flags):
    """The trade list our backtest writes for macd with 1 contract and no costs."""
    out = tmp_path / "bt"
    assert main.main(["backtest", "--data", str(candle_file), "--strategy", "macd", "--qty", "1",
                      "--commission", "0", "--no-sl-tp", "--out", str(out), *flags]) == 0
    return out / "trades.csv"


def compare(candle_file, export, *flags):
    """Run the compare command for macd; its exit status."""
    return main.main(["compare", "--tv-trades", str(export), "--data", str(candle_file),
                      "--strategy", "macd", *map(str, flags)])


def test_an_export_of_the_same_run_matches(candle_file, tmp_path, capsys):
    """
    Given a current-layout export of the same long-short macd run
    When compare runs (mode detected from the short trades)
    Then every trade matches and it exits 0
    """
    export = export_of_our_backtest(candle_file, tmp_path, "--mode", "long-short")
    capsys.readouterr()
    assert compare(candle_file, export) == 0
    out = capsys.readouterr().out
    trades = len(export.read_text().splitlines()) // 2
    assert "long-short" in out
    assert f"matched {trades} of {trades} trades, mismatched 0" in out


def test_a_long_only_export_selects_long_only(candle_file, tmp_path, capsys):
    """
    Given an export of a long-only run (no short trade)
    When compare runs with the default --mode auto
    Then it backtests long-only and every trade matches
    """
    export = export_of_our_backtest(candle_file, tmp_path)
    assert compare(candle_file, export) == 0
    assert "macd (MACD_FAST=12, MACD_SLOW=26, MACD_SIGNAL=9), long-only" in (
        capsys.readouterr().out)


def test_a_changed_exit_price_is_a_mismatch(candle_file, tmp_path, capsys):
    """
    Given the export with trade #3's exit price raised by 1 %
    When compare runs
    Then it exits 1, lists trade #3 and prints the first difference
    """
    export = export_of_our_backtest(candle_file, tmp_path, "--mode", "long-short")
    rows = list(csv.reader(export.open()))
    for row in rows:
        if row[0] == "3" and row[1].startswith("Exit"):
            row[4] = f"{float(row[4]) * 1.01:.2f}"
    with export.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    capsys.readouterr()
    assert compare(candle_file, export) == 1
    out = capsys.readouterr().out
    assert "mismatched 1" in out
    assert "first difference: trade #3: exit price" in out


def old_layout(export, path, zone):
    """Rewrite a current-layout export as the old layout, newest first, naive local dates."""
    rows = list(csv.DictReader(export.open()))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(OLD)
        for row in reversed(rows):
            when = datetime.strptime(row["Date/Time"], "%Y-%m-%dT%H:%M:%S%z")
            local = when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
            writer.writerow([row["Trade #"], row["Type"].title(), row["Signal"], local,
                             row["Price USDT"], row["Position size (qty)"],
                             f"{float(row['Net P&L USDT']):.2f}", row["Net P&L %"],
                             row["Cumulative P&L USDT"], row["Cumulative P&L %"],
                             row["Run-up USDT"], row["Run-up %"], row["Drawdown USDT"],
                             row["Drawdown %"]])
    return path


def test_old_layout_with_local_naive_dates_matches(candle_file, tmp_path, capsys):
    """
    Given the same run exported in the old layout, newest first, in Tokyo time without offsets
    When compare runs without --tz
    Then the timezone is detected and every trade matches
    """
    export = export_of_our_backtest(candle_file, tmp_path, "--mode", "long-short")
    old = old_layout(export, tmp_path / "old.csv", "Asia/Tokyo")
    capsys.readouterr()
    assert compare(candle_file, old) == 0
    out = capsys.readouterr().out
    assert "dates: Asia/Tokyo" in out and "mismatched 0" in out


def test_a_wrong_tz_makes_times_differ(candle_file, tmp_path, capsys):
    """
    Given the Tokyo-time old-layout export
    When compare runs with --tz UTC
    Then entry times differ and it exits 1
    """
    export = export_of_our_backtest(candle_file, tmp_path, "--mode", "long-short")
    old = old_layout(export, tmp_path / "old.csv", "Asia/Tokyo")
    assert compare(candle_file, old, "--tz", "UTC") == 1
    assert "entry time" in capsys.readouterr().out


def test_a_bad_export_exits_2(candle_file, tmp_path, capsys):
    """
    Given a file that is not a trade list
    When compare runs
    Then it exits 2 with one line
    """
    export = tmp_path / "x.csv"
    export.write_text("a,b\n1,2\n")
    assert compare(candle_file, export) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare: ") and err.count("\n") == 1


def test_an_export_without_trades_exits_2(candle_file, tmp_path, capsys):
    """
    Given an export holding only the header
    When compare runs
    Then it exits 2 saying there is no trade
    """
    export = tmp_path / "empty.csv"
    export.write_text("Trade #,Type,Date/Time,Signal,Price USD\n")
    assert compare(candle_file, export) == 2
    assert "no trade" in capsys.readouterr().err
