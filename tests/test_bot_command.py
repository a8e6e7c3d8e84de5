"""`python main.py` (the bot command) and the wiring behind it."""

import argparse

import pytest

import main
from bot.wiring import (
    StartupError,
    choose_clock,
    remote_emulator_clock,
    start_local_exchange,
)
from commands.bot import check_combinations, positive_int, speed_value
from config.settings import load_settings
from core.clock import AcceleratedClock, RealClock
from storage.candles import read_candles
from storage.state import BotState, Position, StateStore
from tests.bot_harness import BotHarness


def args_for(*argv):
    from commands import bot as bot_command

    parser = argparse.ArgumentParser()
    bot_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_speed_value_accepts_numbers_and_max():
    """
    Given speed flags '50', 'max' and bad values
    When they are parsed
    Then 50 and infinity come back and the bad values are refused with a reason
    """
    assert speed_value("50") == 50.0 and speed_value("MAX") == float("inf")
    for bad in ("0", "-1", "fast"):
        with pytest.raises(argparse.ArgumentTypeError):
            speed_value(bad)


def test_positive_int_refuses_zero_and_words():
    """
    Given --max-candles values 3, 0 and 'ten'
    When they are parsed
    Then 3 is accepted and the others are refused
    """
    assert positive_int("3") == 3
    for bad in ("0", "ten"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


def test_flag_combinations_that_make_no_sense_are_refused():
    """
    Given --speed with testnet, --replay with a standalone emulator, and a mainnet URL
    When the combinations are checked
    Then each gets a one-line explanation, and a plain local run passes
    """
    assert "--speed works only with the local exchange" in check_combinations(
        args_for("--speed", "5"), "testnet")
    assert "belong to the standalone emulator" in check_combinations(
        args_for("--exchange-url", "http://127.0.0.1:9", "--replay", "x.csv"), "local")
    assert check_combinations(args_for("--exchange-url", "https://api.binance.com"),
                              "local").startswith("--exchange-url:")
    assert check_combinations(args_for("--speed", "max"), "local") is None


def test_offline_run_writes_candles_trades_state_and_logs(tmp_path, capsys):
    """
    Given a fresh folder
    When `main.py --exchange local --speed max --max-candles 60` runs there
    Then it exits 0, stores 60+ closed candles, names the exchange in the first log line
     and, being --quiet, prints nothing at all
    """
    data, logs = tmp_path / "data", tmp_path / "logs"
    status = main.main(["--exchange", "local", "--speed", "max", "--max-candles", "60",
                        "--data-dir", str(data), "--logs-dir", str(logs), "--quiet"])
    assert status == 0
    assert len(read_candles(data / "historical_data.csv")) >= 60
    first = (logs / "trading.log").read_text().splitlines()[0]
    assert "Starting paper-trading bot on local emulator" in first and "BTC/USDT 1m" in first
    assert (data / "state.json").exists()
    assert capsys.readouterr() == ("", "")


def test_bad_setting_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    """
    Given STOP_LOSS_PERCENT=5 in the environment
    When the bot command starts
    Then it exits 2 and stderr names the setting
    """
    monkeypatch.setenv("STOP_LOSS_PERCENT", "5")
    assert main.main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "STOP_LOSS_PERCENT=5" in err and len(err.strip().splitlines()) == 1


def test_remote_clock_follows_a_standalone_emulator_and_fails_clearly_without_one():
    """
    Given a running emulator on an accelerated clock, and a port where nothing listens
    When the bot reads the emulator's clock from each
    Then the first gives an accelerated clock at the emulator's time and speed,
     the second a StartupError that says how to start one
    """
    from emulator.market import GeneratedMarket
    from emulator.server import EmulatorServer

    source = AcceleratedClock(120, start_ms=1_700_000_000_000)
    with EmulatorServer(GeneratedMarket(1), source) as server:
        clock = remote_emulator_clock(server.base_url)
        assert clock.speed == 120
        assert abs(clock.now_ms() - source.now_ms()) < 5_000
        port = server.port
    with pytest.raises(StartupError, match="python main.py emulator") as caught:
        remote_emulator_clock(f"http://127.0.0.1:{port}", timeout_s=0.5)
    assert caught.value.status == 1
    assert isinstance(choose_clock("testnet", None), RealClock)


def test_history_too_short_for_the_strategy_is_refused(tmp_path):
    """
    Given SMA_LONG=150 with HISTORY_CANDLES=100
    When the bot is built
    Then a StartupError says how many candles the strategy needs
    """
    harness = BotHarness(tmp_path, strategy="sma_rsi",
                         env={"SMA_LONG": "150", "HISTORY_CANDLES": "100"})
    try:
        with pytest.raises(StartupError, match="needs at least 153; raise HISTORY_CANDLES"):
            harness.new_bot(1)
    finally:
        harness.close()


def test_position_from_another_exchange_is_not_managed_here(tmp_path):
    """
    Given a state file holding an open position taken on the testnet
    When the bot starts on the local exchange with that data folder
    Then it refuses with advice instead of treating the position as wiped
    """
    harness = BotHarness(tmp_path)
    try:
        store = StateStore(harness.settings.state_file)
        store.save(BotState(position=Position(quantity=0.000999, entry_price=30_000.0,
                                              entry_time_ms=0, entry_order_id="7",
                                              entry_client_order_id="pb-1b"),
                            symbol="BTC/USDT", extra={"exchange": "testnet"}))
        with pytest.raises(StartupError, match="run with --exchange testnet"):
            harness.new_bot(1)
    finally:
        harness.close()


def test_unreadable_replay_file_is_a_startup_error(tmp_path):
    """
    Given a replay path with no file
    When the local exchange is started on it
    Then a StartupError names the flag and the file
    """
    settings = load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    with pytest.raises(StartupError, match="--replay"):
        start_local_exchange(settings, speed=1.0, seed=1, replay=tmp_path / "missing.csv")


def test_build_positions_and_bot_share_the_settings(tmp_path):
    """
    Given the harness settings
    When positions and the bot are built
    Then the bot uses the strategy and history of the settings and the state records the
     exchange it trades on
    """
    harness = BotHarness(tmp_path, strategy="rsi")
    try:
        bot = harness.new_bot(5)
        assert bot.strategy.name == "rsi" and bot.history_candles == 200
        assert bot.positions.state.extra["exchange"] == "local"
    finally:
        harness.close()


def test_connect_aims_testnet_runs_at_the_testnet_with_the_settings_keys(tmp_path):
    """
    Given settings with testnet keys
    When the bot connects without any exchange flag
    Then it uses the real clock, no local emulator, the testnet description and those keys
    """
    from commands.bot import connect

    settings = load_settings({"BINANCE_TESTNET_API_KEY": "tk", "BINANCE_TESTNET_API_SECRET": "ts",
                              "DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    conn = connect(settings, args_for())
    assert isinstance(conn.clock, RealClock) and conn.local is None
    assert "Spot Testnet" in conn.description
    assert (conn.api_key, conn.api_secret) == ("tk", "ts")


def test_connect_local_starts_an_in_process_emulator(tmp_path):
    """
    Given local settings and --speed max
    When the bot connects
    Then an in-process emulator serves on loopback with the default emulator keys
    """
    from commands.bot import connect
    from emulator.server import DEFAULT_API_KEY

    settings = load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    conn = connect(settings, args_for("--speed", "max"))
    try:
        assert conn.base_url.startswith("http://127.0.0.1:")
        assert conn.api_key == DEFAULT_API_KEY and "local emulator" in conn.description
    finally:
        conn.local.server.stop()


def test_log_start_names_exchange_market_and_files(tmp_path, caplog):
    """
    Given default settings
    When the start lines are logged
    Then they name the exchange, the market, the strategy and where the files go
    """
    import logging

    from commands.bot import log_start

    settings = load_settings({"DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none")
    with caplog.at_level(logging.INFO, logger="paperbot"):
        log_start(settings, "somewhere")
    assert "on somewhere: BTC/USDT 1m, strategy sma_rsi" in caplog.text
    assert "historical_trades.csv" in caplog.text
