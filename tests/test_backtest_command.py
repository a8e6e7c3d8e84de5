"""``python main.py backtest``: defaults from the settings, flags, outputs and clear errors."""

import io
import json
import sys

import pytest

import main
from backtest.synthetic import synthetic_candles
from commands.backtest import parse_params


@pytest.fixture
def candle_file(tmp_path):
    """3,000 synthetic 1-minute candles in the bot's candle CSV format."""
    path = tmp_path / "candles.csv"
    synthetic_candles(3000, seed=5).to_csv(path, index=False)
    return path


def backtest(*args):
    """Run the backtest command in-process; its exit status."""
    return main.main(["backtest", *map(str, args)])


def test_backtest_writes_report_and_trade_list(candle_file, tmp_path, capsys):
    """
    Given a candle file
    When the backtest command runs with --out
    Then it exits 0, prints the summary and writes report.json and trades.csv
    """
    out = tmp_path / "out"
    assert backtest("--data", candle_file, "--strategy", "ma2line", "--out", out) == 0
    printed = capsys.readouterr().out
    assert "Performance Summary" in printed and "Net Profit" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["strategy"]["name"] == "ma2line"
    assert report["data"]["candles"] == 3000
    lines = (out / "trades.csv").read_text().splitlines()
    assert lines[0].startswith("Trade #,Type,Date/Time,Signal,Price USDT,")
    assert len(lines) == 1 + 2 * (report["performance"]["Total Closed Trades"]
                                  + report["performance"]["Total Open Trades"])


def test_defaults_come_from_the_settings(candle_file, tmp_path, monkeypatch):
    """
    Given STRATEGY, TRADE_SIZE, FEE_RATE, SL/TP and RSI_PERIOD set in the environment
    When the backtest runs without those flags
    Then the report uses the settings' values
    """
    for key, value in {"STRATEGY": "rsi", "TRADE_SIZE": "0.002", "FEE_RATE": "0.0005",
                       "STOP_LOSS_PERCENT": "0.03", "TAKE_PROFIT_PERCENT": "0.05",
                       "RSI_PERIOD": "21"}.items():
        monkeypatch.setenv(key, value)
    assert backtest("--data", candle_file, "--out", tmp_path) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["strategy"]["name"] == "rsi"
    assert report["strategy"]["params"]["RSI_PERIOD"] == 21
    assert report["settings"] == {"mode": "long-only", "qty": 0.002, "commission": 0.0005,
                                  "slippage": 0.0, "stop_loss": 0.03, "take_profit": 0.05,
                                  "initial_capital": 10000.0}


def test_flags_override_the_settings(candle_file, tmp_path):
    """
    Given explicit mode, qty, commission, slippage, SL, TP, capital and a parameter
    When the backtest runs
    Then the report records exactly those
    """
    assert backtest("--data", candle_file, "--out", tmp_path, "--strategy", "macd",
                    "--param", "MACD_FAST=8", "--mode", "long-short", "--qty", "1",
                    "--commission", "0", "--slippage", "0.0002", "--sl", "0.01", "--tp", "0.05",
                    "--capital", "5000") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["strategy"]["params"]["MACD_FAST"] == 8
    assert report["settings"] == {"mode": "long-short", "qty": 1.0, "commission": 0.0,
                                  "slippage": 0.0002, "stop_loss": 0.01, "take_profit": 0.05,
                                  "initial_capital": 5000.0}


def test_no_sl_tp_switches_protective_exits_off(candle_file, tmp_path):
    """
    Given --no-sl-tp
    When the backtest runs
    Then no trade exits by stop-loss or take-profit and the settings show none
    """
    assert backtest("--data", candle_file, "--out", tmp_path, "--no-sl-tp") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["stop_loss"] is None and report["settings"]["take_profit"] is None
    assert report["exit_reasons"]["stop_loss"]["trades"] == 0
    assert report["exit_reasons"]["take_profit"]["trades"] == 0


def test_plot_option_draws_the_chart(candle_file, tmp_path, capsys):
    """
    Given --plot chart.png
    When the backtest runs
    Then the PNG is written and its path printed
    """
    chart = tmp_path / "charts" / "chart.png"
    assert backtest("--data", candle_file, "--out", tmp_path, "--plot", chart) == 0
    assert chart.read_bytes()[:4] == b"\x89PNG"
    assert f"chart: {chart}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--data", "{missing}"], "no such candle file"),
        (["--param", "RSI_PERIOD"], "is not KEY=VALUE"),
        (["--param", "RSI_PERIOD=abc"], "is not a number"),
        (["--strategy", "nope"], "strategy 'nope' is unknown"),
        (["--strategy", "rsi", "--param", "RSI_PERIOD=0"], "out of range"),
        (["--commission", "-0.1"], "commission"),
        (["--qty", "0"], "qty"),
        (["--sl", "2"], "stop-loss"),
        (["--capital", "0"], "capital"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(candle_file, tmp_path, capsys, args, words):
    """
    Given a missing file, a malformed or out-of-range parameter, or a bad cost or size
    When the backtest runs
    Then it exits 2 with one line on stderr naming the problem
    """
    args = [a.replace("{missing}", str(tmp_path / "missing.csv")) for a in args]
    if "--data" not in args:
        args = ["--data", str(candle_file), *args]
    assert backtest(*args, "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith("backtest: ") and words in err
    assert err.count("\n") == 1


def test_a_bad_candle_row_exits_2(tmp_path, capsys):
    """
    Given a candle file whose second row has high below low
    When the backtest runs
    Then it exits 2 naming the line
    """
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\n"
                    "0,1,2,0.5,1.5,1\n60000,1.5,1,2,1.8,1\n")
    assert backtest("--data", path, "--out", tmp_path) == 2
    assert "line 3: high is below low" in capsys.readouterr().err


def test_bad_settings_exit_2(candle_file, tmp_path, monkeypatch, capsys):
    """
    Given TRADE_SIZE=abc in the environment
    When the backtest runs
    Then it exits 2 with the settings error
    """
    monkeypatch.setenv("TRADE_SIZE", "abc")
    assert backtest("--data", candle_file, "--out", tmp_path) == 2
    assert "TRADE_SIZE" in capsys.readouterr().err


def test_an_unwritable_out_folder_exits_2(candle_file, tmp_path, capsys):
    """
    Given --out pointing below a regular file
    When the backtest runs
    Then it exits 2 saying the report cannot be written
    """
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert backtest("--data", candle_file, "--out", blocker / "out") == 2
    assert "cannot write the report" in capsys.readouterr().err


def test_parse_params():
    """
    Given K=V items with whole and decimal numbers
    When they are parsed
    Then ints stay ints and decimals become floats
    """
    assert parse_params(["A=3", " B = 2.5 "]) == {"A": 3, "B": 2.5}
    assert parse_params(None) == {}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_params(["=3"])


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_for_long_runs_only(candle_file, tmp_path, monkeypatch):
    """
    Given stderr is a terminal
    When a short file is backtested, then the same file counted as a long run
    Then only the long run draws the progress bar on stderr, and clears it
    """
    import commands.backtest as command

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert backtest("--data", candle_file, "--out", tmp_path) == 0
    assert terminal.getvalue() == ""
    monkeypatch.setattr(command, "LONG_RUN_BYTES", 0)
    assert backtest("--data", candle_file, "--out", tmp_path) == 0
    drawn = terminal.getvalue()
    assert "fills" in drawn and "100.0 %" in drawn and drawn.endswith("\r")


def test_default_out_is_the_project_folders_reports(candle_file, tmp_path, monkeypatch, capsys):
    """
    Given the working directory elsewhere and the project folder pointed at tmp_path/project
    When backtest runs without --out
    Then report.json lands in the project folder's reports/backtest, not the current folder
    """
    import config.settings as settings_module

    project = tmp_path / "project"
    monkeypatch.setattr(settings_module, "PROJECT_DIR", project)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert backtest("--data", candle_file) == 0
    assert (project / "reports" / "backtest" / "report.json").is_file()
    assert not (tmp_path / "elsewhere" / "reports").exists()
