"""Settings: defaults, overrides from the environment and .env, and one-line errors."""

from pathlib import Path

import pytest

from config import settings as cfg
from config.settings import SettingsError, load_settings, merged_environment, read_env_file


def no_env_file(tmp_path: Path) -> Path:
    return tmp_path / "absent.env"


def test_defaults_are_the_seed_values(tmp_path):
    """
    Given an empty environment and no .env file
    When the settings are loaded
    Then they hold the seed's defaults and the local exchange
    """
    s = load_settings({}, env_file=no_env_file(tmp_path))
    assert s.strategy_params["SMA_SHORT"] == 10 and s.strategy_params["SMA_LONG"] == 50
    assert s.strategy_params["RSI_PERIOD"] == 14
    assert (s.strategy_params["RSI_OVERBOUGHT"], s.strategy_params["RSI_OVERSOLD"]) == (70, 30)
    assert s.stop_loss_percent == 0.02 and s.take_profit_percent == 0.04
    assert (s.symbol, s.timeframe, s.trade_size) == ("BTC/USDT", "1m", 0.001)
    assert s.strategy == "sma_rsi" and s.exchange == "local"
    assert cfg.STOP_LOSS_PERCENT == 0.02 and cfg.TAKE_PROFIT_PERCENT == 0.04


def test_environment_overrides_defaults(tmp_path):
    """
    Given SMA_SHORT=5, STOP_LOSS_PERCENT=0.03 and STRATEGY=macd in the environment
    When the settings are loaded
    Then those values replace the defaults
    """
    s = load_settings({"SMA_SHORT": "5", "STOP_LOSS_PERCENT": "0.03", "STRATEGY": "MACD"},
                      env_file=no_env_file(tmp_path))
    assert s.strategy_params["SMA_SHORT"] == 5
    assert s.stop_loss_percent == 0.03 and s.strategy == "macd"


def test_env_file_is_read_and_environment_wins(tmp_path):
    """
    Given a .env file with TRADE_SIZE=0.002 and TIMEFRAME=5m, and TIMEFRAME=1h in the environment
    When the settings are loaded
    Then the trade size comes from .env and the timeframe from the environment
    """
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nTRADE_SIZE=0.002\nTIMEFRAME=5m\n")
    s = load_settings({"TIMEFRAME": "1h"}, env_file=env_file)
    assert s.trade_size == 0.002 and s.timeframe == "1h"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SMA_SHORT": "-3"}, "SMA_SHORT=-3"),
        ({"SMA_SHORT": "60"}, "SMA_SHORT=60 must be below SMA_LONG=50"),
        ({"STOP_LOSS_PERCENT": "1.5"}, "STOP_LOSS_PERCENT=1.5 is out of range"),
        ({"STOP_LOSS_PERCENT": "0"}, "0 < value < 1"),
        ({"STRATEGY": "martingale"}, "STRATEGY='martingale'"),
        ({"TIMEFRAME": "7m"}, "TIMEFRAME='7m'"),
        ({"TRADE_SIZE": "lots"}, "TRADE_SIZE='lots' is not a number"),
        ({"RSI_PERIOD": "14.5"}, "RSI_PERIOD='14.5' is not a whole number"),
        ({"RSI_OVERSOLD": "80"}, "RSI_OVERSOLD=80 must be below RSI_OVERBOUGHT=70"),
        ({"EXCHANGE": "mainnet"}, "EXCHANGE='mainnet'"),
        ({"EXCHANGE": "testnet"}, "needs BINANCE_TESTNET_API_KEY"),
    ],
)
def test_invalid_values_stop_with_one_line_naming_the_setting(tmp_path, env, fragment):
    """
    Given an invalid value for one setting
    When the settings are loaded
    Then a SettingsError of one line names the setting and the accepted range
    """
    with pytest.raises(SettingsError) as caught:
        load_settings(env, env_file=no_env_file(tmp_path))
    message = str(caught.value)
    assert fragment in message and "\n" not in message


def test_keys_select_testnet_automatically_and_stay_out_of_repr(tmp_path):
    """
    Given testnet API keys in the environment and EXCHANGE left at auto
    When the settings are loaded
    Then the exchange is testnet and the keys do not appear in the settings' repr
    """
    s = load_settings({"BINANCE_TESTNET_API_KEY": "k-123456",
                       "BINANCE_TESTNET_API_SECRET": "s-987"}, env_file=no_env_file(tmp_path))
    assert s.exchange == "testnet"
    assert "k-123456" not in repr(s) and "s-987" not in repr(s)
    assert s.secrets == ["k-123456", "s-987"]


def test_overrides_win_and_are_validated(tmp_path):
    """
    Given a command-line override exchange=local and an invalid override stop_loss_percent=2
    When the settings are loaded with each
    Then the first is used and the second is refused
    """
    s = load_settings({"EXCHANGE": "testnet", "BINANCE_TESTNET_API_KEY": "a",
                       "BINANCE_TESTNET_API_SECRET": "b"},
                      env_file=no_env_file(tmp_path), exchange="local")
    assert s.exchange == "local"
    with pytest.raises(SettingsError, match="STOP_LOSS_PERCENT"):
        load_settings({}, env_file=no_env_file(tmp_path), stop_loss_percent=2.0)


def test_malformed_env_file_line_is_reported(tmp_path):
    """
    Given a .env file with a line that is not KEY=VALUE
    When it is read
    Then a SettingsError names the file line and how to fix it
    """
    env_file = tmp_path / ".env"
    env_file.write_text("TRADE_SIZE=0.001\nthis is not a setting\n")
    with pytest.raises(SettingsError, match="line 2 is not KEY=VALUE"):
        read_env_file(env_file)


def test_merged_environment_prefers_process_values(tmp_path):
    """
    Given a .env file with SYMBOL=ETH/USDT and an environment with SYMBOL=BTC/USDT
    When they are merged
    Then the environment's value wins
    """
    env_file = tmp_path / ".env"
    env_file.write_text("SYMBOL=ETH/USDT\n")
    assert merged_environment({"SYMBOL": "BTC/USDT"}, env_file)["SYMBOL"] == "BTC/USDT"


def test_derived_paths_and_assets(tmp_path):
    """
    Given settings with DATA_DIR pointing to a temporary folder
    When the derived paths and assets are read
    Then the CSVs and state file live in that folder and BTC/USDT splits into BTC and USDT
    """
    s = load_settings({"DATA_DIR": str(tmp_path)}, env_file=no_env_file(tmp_path))
    assert s.candles_csv == tmp_path / "historical_data.csv"
    assert s.trades_csv == tmp_path / "historical_trades.csv"
    assert s.state_file == tmp_path / "state.json"
    assert (s.base_asset, s.quote_asset) == ("BTC", "USDT")
    assert s.timeframe_seconds == 60


def test_strategy_names_match_the_registry():
    """
    Given the strategy names settings accept and the strategies registry
    When they are compared
    Then they are the same set, so a new strategy cannot be forgotten in either
    """
    from strategies.registry import STRATEGIES

    assert set(cfg.STRATEGY_NAMES) == set(STRATEGIES)


def test_an_unparsable_env_line_is_reported_not_skipped(tmp_path):
    """
    Given a .env whose STOP_LOSS_PERCENT value has an unclosed quote (and a secret after it)
    When the settings are loaded
    Then SettingsError names the file, line 2 and the key, never the value
    """
    env_file = tmp_path / ".env"
    env_file.write_text('TRADE_SIZE=0.002\nSTOP_LOSS_PERCENT="0.05\nBINANCE_TESTNET_API_SECRET=s3cr3t\n')
    with pytest.raises(SettingsError) as caught:
        load_settings({}, env_file=env_file)
    message = str(caught.value)
    assert f"{env_file} line 2 (STOP_LOSS_PERCENT) cannot be parsed" in message
    assert "0.05" not in message and "s3cr3t" not in message and "\n" not in message


def test_a_non_utf8_env_file_is_one_line_naming_the_line(tmp_path):
    """
    Given a .env saved in Latin-1 with a non-ASCII byte on line 3
    When the settings are loaded
    Then SettingsError says line 3 is not UTF-8 and to save it as UTF-8
    """
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"TRADE_SIZE=0.002\n# ok\n# caf\xe9\n")
    with pytest.raises(SettingsError, match=r"line 3 is not UTF-8 text .*save the file as UTF-8"):
        read_env_file(env_file)


def test_export_and_quoted_env_lines_still_parse(tmp_path):
    """
    Given a .env with an export line, a quoted value and a comment
    When it is read
    Then every key has its value
    """
    env_file = tmp_path / ".env"
    env_file.write_text('export TRADE_SIZE=0.002\nSYMBOL="BTC/USDT"\n# note\n')
    assert read_env_file(env_file) == {"TRADE_SIZE": "0.002", "SYMBOL": "BTC/USDT"}
