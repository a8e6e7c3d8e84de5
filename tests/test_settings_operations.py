"""Settings of running unattended: any listed symbol, alerts, metrics, --param overrides."""

import pytest

from config.settings import SettingsError, load_settings


def _load(tmp_path, env, **overrides):
    return load_settings(env, env_file=tmp_path / "no.env", **overrides)


def test_symbol_takes_any_spot_pair_shape_and_notify_and_metrics_settings(tmp_path):
    """
    Given SYMBOL=eth/usdt, two NOTIFY_URLS, NOTIFY_EVENTS=fill,error and METRICS_PORT=9108
    When the settings are loaded
    Then the symbol is ETH/USDT, both URLs are kept and count as secrets, the events and
     the port are set and metrics bind 127.0.0.1
    """
    s = _load(tmp_path, {"SYMBOL": "eth/usdt", "NOTIFY_URLS": "json://h/t1, tgram://bot/chat",
                         "NOTIFY_EVENTS": "fill, Error", "METRICS_PORT": "9108"})
    assert (s.symbol, s.base_asset, s.quote_asset) == ("ETH/USDT", "ETH", "USDT")
    assert s.notify_urls == ("json://h/t1", "tgram://bot/chat")
    assert "json://h/t1" in s.secrets and "tgram" not in repr(s)
    assert s.notify_events == ("fill", "error")
    assert (s.metrics_port, s.metrics_host) == (9108, "127.0.0.1")
    default = _load(tmp_path, {})
    assert default.metrics_port is None and default.notify_urls == ()
    assert default.notify_events == ("start", "fill", "error", "daily", "stop")


@pytest.mark.parametrize(("env", "fragment"), [
    ({"SYMBOL": "BTCUSDT"}, "SYMBOL='BTCUSDT' is out of range; accepted: a spot symbol"),
    ({"SYMBOL": "BTC/US-DT"}, "SYMBOL='BTC/US-DT'"),
    ({"NOTIFY_EVENTS": "start,trades"}, "NOTIFY_EVENTS='trades'"),
    ({"METRICS_PORT": "70000"}, "METRICS_PORT=70000 is out of range"),
    ({"METRICS_PORT": "http"}, "METRICS_PORT='http' is not a whole number"),
])
def test_bad_operation_settings_stop_with_one_line(tmp_path, env, fragment):
    """
    Given a malformed symbol, an unknown alert kind or a bad metrics port
    When the settings are loaded
    Then one line names the setting, the value and what is accepted
    """
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, env)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_param_overrides_follow_the_settings_rules(tmp_path):
    """
    Given --param overrides as the bot command passes them
    When one is valid, one breaks a rule, and one is unknown
    Then the valid one is used; the others are refused naming the parameter
    """
    s = _load(tmp_path, {}, params={"RSI_PERIOD": 21, "MACD_FAST": 5})
    assert s.strategy_params["RSI_PERIOD"] == 21 and s.strategy_params["MACD_FAST"] == 5
    with pytest.raises(SettingsError, match="SMA_SHORT=60 must be below SMA_LONG=50"):
        _load(tmp_path, {}, params={"SMA_SHORT": 60})
    with pytest.raises(SettingsError, match="--param WINDOW: unknown parameter; known: SMA_"):
        _load(tmp_path, {}, params={"WINDOW": 3})
