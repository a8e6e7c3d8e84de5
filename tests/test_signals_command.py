"""``python main.py signals``: happy path and every kind of bad input, through main.main."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import main
from config.settings import STRATEGY_PARAMS
from strategies.registry import STRATEGIES


@pytest.fixture(autouse=True)
def default_settings(monkeypatch, tmp_path):
    """Settings at their defaults whatever the developer's .env says; data in tmp_path."""
    monkeypatch.setenv("STRATEGY", "sma_rsi")
    monkeypatch.setenv("EXCHANGE", "local")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for key, value in STRATEGY_PARAMS.items():
        monkeypatch.setenv(key, str(value))


def write_candles(path, rows: int = 400, seed: int = 1) -> pd.DataFrame:
    """A valid 1-minute candle CSV with a random-walk close; returns the frame written."""
    rng = np.random.default_rng(seed)
    close = np.round(30000 + rng.normal(0, 40, rows).cumsum(), 2)
    frame = pd.DataFrame({
        "timestamp": 1_700_000_000_000 + np.arange(rows, dtype=np.int64) * 60_000,
        "open": close, "high": close + 5, "low": close - 5, "close": close,
        "volume": np.full(rows, 1.5),
    })
    frame.to_csv(path, index=False)
    return frame


def run_signals(*argv: str) -> int:
    """main.py signals ARGV -> exit status."""
    return main.main(["signals", *argv])


def test_signals_writes_one_row_per_bar_with_indicators_and_signal(tmp_path, capsys):
    """
    Given a 400-candle CSV
    When `signals --strategy sma_rsi` runs
    Then the output has timestamp, close, the indicator columns and signal for every bar,
        equal to the strategy's own computation to 12 significant digits, and one summary
        line names bars, buys, sells and the path
    """
    frame = write_candles(tmp_path / "candles.csv")
    out = tmp_path / "out" / "signals.csv"
    assert run_signals("--data", str(tmp_path / "candles.csv"), "--strategy", "sma_rsi",
                       "--out", str(out)) == 0
    written = pd.read_csv(out, float_precision="round_trip")
    assert list(written.columns) == ["timestamp", "close", "sma_short", "sma_long", "rsi",
                                     "signal"]
    assert written["timestamp"].tolist() == frame["timestamp"].tolist()
    assert written["close"].tolist() == frame["close"].tolist()
    expected = STRATEGIES["sma_rsi"].compute(frame)
    assert written["signal"].tolist() == expected["signal"].tolist()
    for col in ("sma_short", "sma_long", "rsi"):
        assert np.allclose(written[col], expected[col], rtol=1e-11, atol=0, equal_nan=True)
    text = out.read_text()
    assert not re.search(r"\.\d*0000000\d", text) and not re.search(r"\.\d*9999999\d", text)
    buys, sells = int((expected["signal"] == 1).sum()), int((expected["signal"] == -1).sum())
    assert buys + sells > 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert summary == [
        f"signals: sma_rsi on 400 bars (warm-up 51): {buys} BUY, {sells} SELL -> {out}"
    ]


def test_signals_reads_iso_timestamps_and_applies_params(tmp_path, capsys):
    """
    Given candles with ISO 8601 UTC timestamps
    When `signals --strategy rsi --param RSI_PERIOD=7` runs
    Then timestamps come out as epoch ms and the RSI column is RSI(7)
    """
    frame = write_candles(tmp_path / "ms.csv", rows=60)
    iso = frame.copy()
    iso["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    iso.to_csv(tmp_path / "iso.csv", index=False)
    out = tmp_path / "rsi.csv"
    assert run_signals("--data", str(tmp_path / "iso.csv"), "--strategy", "rsi",
                       "--param", "RSI_PERIOD=7", "--out", str(out)) == 0
    written = pd.read_csv(out)
    assert written["timestamp"].tolist() == frame["timestamp"].tolist()
    expected = STRATEGIES["rsi"].compute(frame, {"RSI_PERIOD": 7})["rsi"].to_numpy()
    assert np.allclose(written["rsi"], expected, equal_nan=True, rtol=1e-11, atol=0)
    assert "rsi on 60 bars (warm-up 9)" in capsys.readouterr().out


def test_signals_uses_the_strategy_setting_and_the_default_candle_file(
    tmp_path, capsys, monkeypatch
):
    """
    Given STRATEGY=macd and MACD_SIGNAL=5 in the environment and candles in DATA_DIR
    When `signals` runs without --strategy and --data
    Then it runs macd with the setting's parameter on data/historical_data.csv
    """
    monkeypatch.setenv("STRATEGY", "macd")
    monkeypatch.setenv("MACD_SIGNAL", "5")
    (tmp_path / "data").mkdir()
    frame = write_candles(tmp_path / "data" / "historical_data.csv", rows=80)
    out = tmp_path / "macd.csv"
    assert run_signals("--out", str(out)) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["timestamp", "close", "macd", "macd_signal", "macd_hist",
                                     "signal"]
    expected = STRATEGIES["macd"].compute(frame, {"MACD_SIGNAL": 5})
    assert written["signal"].tolist() == expected["signal"].tolist()
    assert "macd on 80 bars (warm-up 31)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "body, message",
    [
        ("timestamp,open,high,low,volume\n1,1,1,1,1\n", "missing column(s) close"),
        ("timestamp,open,high,low,close,volume\n0,1,1,1,1,1\n60000,1,1,1,abc,1\n",
         "line 3: close 'abc' is not a number"),
        ("timestamp,open,high,low,close,volume\n60000,1,1,1,1,1\n0,1,1,1,1,1\n",
         "line 3: timestamp is not after the previous row's (unsorted or duplicate)"),
        ("timestamp,open,high,low,close,volume\n0,1,1,1,1,1\n60000,1,1,1,1,1\n60000,1,1,1,1,1\n",
         "line 4: timestamp is not after the previous row's (unsorted or duplicate)"),
    ],
    ids=["missing-column", "non-numeric", "unsorted", "duplicate"],
)
def test_malformed_candle_files_exit_2_with_one_line_naming_the_row(
    tmp_path, capsys, body, message
):
    """
    Given a candle file with a missing column, a non-numeric value, an unsorted or a duplicate
        timestamp
    When `signals` reads it
    Then the exit status is 2, stderr is one line naming the problem (and the line), no output
    """
    bad = tmp_path / "bad.csv"
    bad.write_text(body)
    out = tmp_path / "never.csv"
    assert run_signals("--data", str(bad), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("signals: ") and message in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "ichimoku"], "unknown strategy 'ichimoku'; known: sma_rsi"),
        (["--param", "RSI_PERIOD=0"], "RSI_PERIOD=0 is out of range"),
        (["--param", "RSI_PERIOD"], "is not KEY=VALUE"),
        (["--param", "SMA_SHORT=60"], "SMA_SHORT=60 must be below SMA_LONG=50"),
        (["--param", "FAST=3"], "unknown strategy parameter 'FAST'"),
    ],
)
def test_bad_strategy_or_param_exits_2_with_one_line(tmp_path, capsys, argv, message):
    """
    Given a valid candle file
    When `signals` runs with an unknown strategy or a bad --param
    Then the exit status is 2 and stderr is one line saying what is wrong
    """
    write_candles(tmp_path / "candles.csv", rows=30)
    status = run_signals("--data", str(tmp_path / "candles.csv"), "--out",
                         str(tmp_path / "o.csv"), *argv)
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err


def test_missing_file_and_bad_settings_exit_2(tmp_path, capsys, monkeypatch):
    """
    Given a path that does not exist, then an invalid RSI_PERIOD setting
    When `signals` runs
    Then both exit 2 with one line: the missing file, then the setting's own message
    """
    assert run_signals("--data", str(tmp_path / "nope.csv")) == 2
    assert "no such candle file" in capsys.readouterr().err
    monkeypatch.setenv("RSI_PERIOD", "x")
    assert run_signals("--data", str(tmp_path / "nope.csv")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RSI_PERIOD='x' is not a whole number" in err


def test_unwritable_output_exits_2(tmp_path, capsys):
    """
    Given valid candles and an output path under a regular file
    When `signals` tries to write there
    Then the exit status is 2 with one line naming the output
    """
    write_candles(tmp_path / "candles.csv", rows=30)
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "o.csv"
    assert run_signals("--data", str(tmp_path / "candles.csv"), "--out", str(out)) == 2
    assert f"cannot write {out}" in capsys.readouterr().err
