"""Every tunable of the bot in one place, with its default, its environment override and its range.

Values come from, in order of precedence: the process environment, then ``.env`` in the project
folder, then the defaults below. ``load_settings()`` validates everything and raises
``SettingsError`` with one line naming the setting, the bad value and the accepted range, so
start-up stops before anything is traded or written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.types import ExchangeKind
from strategies.params import FACTOR_KEYS, PERCENT_KEYS, check_value

PROJECT_DIR = Path(__file__).resolve().parents[1]

# --- defaults (the seed's names and values) -------------------------------------------------
STRATEGY_PARAMS: dict[str, int | float] = {
    "SMA_SHORT": 10,
    "SMA_LONG": 50,
    "RSI_PERIOD": 14,
    "RSI_OVERBOUGHT": 70,
    "RSI_OVERSOLD": 30,
    "MA_FAST": 9,
    "MA_SLOW": 18,
    "MACD_FAST": 12,
    "MACD_SLOW": 26,
    "MACD_SIGNAL": 9,
    "SUPERTREND_ATR": 10,
    "SUPERTREND_FACTOR": 3.0,
    "BB_LENGTH": 20,
    "BB_MULT": 2.0,
    "KC_LENGTH": 20,
    "KC_MULT": 2.0,
    "KC_ATR": 10,
    "CHANNEL_LENGTH": 5,
    "MAX_INTRADAY_LOSS": 1.0,
}
STRATEGY = "sma_rsi"
STOP_LOSS_PERCENT = 0.02
TAKE_PROFIT_PERCENT = 0.04
SYMBOL = "BTC/USDT"
TIMEFRAME = "1m"
TRADE_SIZE = 0.001
FEE_RATE = 0.001
EXCHANGE = "auto"  # "local" without testnet keys, "testnet" with them
RETRY_ATTEMPTS = 3
RETRY_BASE_DELAY = 1.0
RETRY_FACTOR = 2.0
REQUEST_TIMEOUT_MS = 10_000
PRICE_POLL_SECONDS = 5.0
CANDLE_CLOSE_OFFSET_SECONDS = 2.0
HEARTBEAT_SECONDS = 300.0
HISTORY_CANDLES = 200
LOG_MAX_BYTES = 5_000_000
LOG_BACKUPS = 5
DATA_DIR = PROJECT_DIR / "data"
LOGS_DIR = PROJECT_DIR / "logs"

STRATEGY_NAMES = ("sma_rsi", "ma2line", "rsi", "macd", "supertrend", "bollinger", "keltner",
                  "channel_breakout", "barupdn")
EXCHANGES = ("auto", "local", "testnet")
TIMEFRAMES = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400,
}
# Any spot symbol the exchange lists; the exchange's markets are checked at start-up.
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}/[A-Z0-9]{2,20}$")
NOTIFY_EVENT_KINDS = ("start", "fill", "error", "daily", "stop")


class SettingsError(InputError, ValueError):
    """A setting with a value the bot cannot run with; the message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    """The validated settings the bot, the backtester and the commands run with."""

    symbol: str = SYMBOL
    timeframe: str = TIMEFRAME
    strategy: str = STRATEGY
    strategy_params: dict[str, int | float] = field(default_factory=lambda: dict(STRATEGY_PARAMS))
    stop_loss_percent: float = STOP_LOSS_PERCENT
    take_profit_percent: float = TAKE_PROFIT_PERCENT
    trade_size: float = TRADE_SIZE
    fee_rate: float = FEE_RATE
    exchange: ExchangeKind = "local"
    api_key: str = field(default="", repr=False)
    api_secret: str = field(default="", repr=False)
    retry_attempts: int = RETRY_ATTEMPTS
    retry_base_delay: float = RETRY_BASE_DELAY
    retry_factor: float = RETRY_FACTOR
    request_timeout_ms: int = REQUEST_TIMEOUT_MS
    price_poll_seconds: float = PRICE_POLL_SECONDS
    candle_close_offset_seconds: float = CANDLE_CLOSE_OFFSET_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    history_candles: int = HISTORY_CANDLES
    log_max_bytes: int = LOG_MAX_BYTES
    log_backups: int = LOG_BACKUPS
    data_dir: Path = DATA_DIR
    logs_dir: Path = LOGS_DIR
    notify_urls: tuple[str, ...] = field(default=(), repr=False)
    notify_events: tuple[str, ...] = NOTIFY_EVENT_KINDS
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @property
    def timeframe_seconds(self) -> int:
        """Length of one candle in seconds."""
        return TIMEFRAMES[self.timeframe]

    @property
    def candles_csv(self) -> Path:
        """Where closed candles are stored."""
        return self.data_dir / "historical_data.csv"

    @property
    def trades_csv(self) -> Path:
        """Where every filled order is journaled."""
        return self.data_dir / "historical_trades.csv"

    @property
    def state_file(self) -> Path:
        """Where the open position and pending order intents are kept."""
        return self.data_dir / "state.json"

    @property
    def base_asset(self) -> str:
        """BTC in BTC/USDT."""
        return self.symbol.split("/")[0]

    @property
    def quote_asset(self) -> str:
        """USDT in BTC/USDT."""
        return self.symbol.split("/")[1]

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in a log or an error message."""
        return [s for s in (self.api_key, self.api_secret, *self.notify_urls) if s]


# --- parsing ------------------------------------------------------------------------------


def _number(name: str, raw: str, kind: Callable[[str], Any]) -> Any:
    try:
        return kind(raw.strip())
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {word}; set {name} to {word}") from None


def _check(ok: bool, name: str, value: Any, accepted: str) -> None:
    if not ok:
        raise SettingsError(f"{name}={value!r} is out of range; accepted: {accepted}")


def read_env_file(path: Path) -> dict[str, str]:
    """Key/value pairs of a ``.env`` file; SettingsError names the first line it cannot read.

    That is a line that is not KEY=VALUE, one the dotenv parser cannot parse (an unclosed
    quote), or bytes that are not UTF-8. The message names the key, never the value (it may
    be a secret).
    """
    import io

    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    if not path.is_file():
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"{path}: cannot read it ({exc.strerror}); fix its permission"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data[: exc.start].count(b"\n") + 1
        raise SettingsError(
            f"{path} line {line_no} is not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" not in stripped:
            raise SettingsError(
                f"{path} line {number} is not KEY=VALUE; fix it or comment it out with #"
            )
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            key = binding.original.string.split("=", 1)[0].strip()
            key = key.removeprefix("export ").strip() or "?"
            raise SettingsError(
                f"{path} line {binding.original.line} ({key}) cannot be parsed, e.g. an"
                " unclosed quote; fix it or comment it out with #"
            )
    values: dict[str, str] = {}
    for key, value in dotenv_values(stream=io.StringIO(text)).items():
        if value is not None:
            values[key] = value
    return values


def merged_environment(
    env: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """The ``.env`` values overlaid by the process environment (or by ``env`` when given)."""
    file_values = read_env_file(env_file if env_file is not None else PROJECT_DIR / ".env")
    return {**file_values, **(dict(os.environ) if env is None else dict(env))}


def _strategy_params(env: Mapping[str, str]) -> dict[str, int | float]:
    params: dict[str, int | float] = dict(STRATEGY_PARAMS)
    for key, default in STRATEGY_PARAMS.items():
        if key in env and env[key].strip():
            params[key] = _number(key, env[key], type(default))
    for key in ("SMA_SHORT", "SMA_LONG", "RSI_PERIOD", "MA_FAST", "MA_SLOW", "MACD_FAST",
                "MACD_SLOW", "MACD_SIGNAL"):
        _check(1 <= params[key] <= 5000, key, params[key], "a whole number from 1 to 5000")
    for short, long in (("SMA_SHORT", "SMA_LONG"), ("MA_FAST", "MA_SLOW"),
                        ("MACD_FAST", "MACD_SLOW")):
        if params[short] >= params[long]:
            raise SettingsError(
                f"{short}={params[short]} must be below {long}={params[long]};"
                f" accepted: {short} < {long}"
            )
    for key in ("RSI_OVERBOUGHT", "RSI_OVERSOLD"):
        _check(0 < params[key] < 100, key, params[key], "0 < value < 100")
    if params["RSI_OVERSOLD"] >= params["RSI_OVERBOUGHT"]:
        raise SettingsError(
            f"RSI_OVERSOLD={params['RSI_OVERSOLD']} must be below"
            f" RSI_OVERBOUGHT={params['RSI_OVERBOUGHT']}; accepted: RSI_OVERSOLD < RSI_OVERBOUGHT"
        )
    for key in ("SUPERTREND_ATR", "BB_LENGTH", "KC_LENGTH", "KC_ATR", "CHANNEL_LENGTH",
                *FACTOR_KEYS, *PERCENT_KEYS):
        try:
            params[key] = check_value(key, params[key])
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    return params


def load_settings(
    env: Mapping[str, str] | None = None, env_file: Path | None = None, **overrides: Any
) -> Settings:
    """Settings from defaults, ``.env`` and the environment (``env`` replaces os.environ).

    ``overrides`` (e.g. from command-line flags) win over everything and are validated too.
    """
    values = merged_environment(env, env_file)
    # --param K=V overrides the strategy setting K and is checked by the same rules.
    params = overrides.pop("params", None) or {}
    for key, value in params.items():
        if key not in STRATEGY_PARAMS:
            raise SettingsError(f"--param {key}: unknown parameter; known: "
                                + ", ".join(STRATEGY_PARAMS))
        values[key] = str(value)
    get = values.get

    def text(name: str, default: str) -> str:
        raw = get(name)
        return raw.strip() if raw is not None and raw.strip() else default

    def num(name: str, default: Any) -> Any:
        raw = get(name)
        if raw is None or not raw.strip():
            return default
        return _number(name, raw, type(default))

    api_key = text("BINANCE_TESTNET_API_KEY", "")
    api_secret = text("BINANCE_TESTNET_API_SECRET", "")
    fields: dict[str, Any] = {
        "symbol": text("SYMBOL", SYMBOL).upper(),
        "timeframe": text("TIMEFRAME", TIMEFRAME),
        "strategy": text("STRATEGY", STRATEGY).lower(),
        "strategy_params": _strategy_params(values),
        "stop_loss_percent": num("STOP_LOSS_PERCENT", STOP_LOSS_PERCENT),
        "take_profit_percent": num("TAKE_PROFIT_PERCENT", TAKE_PROFIT_PERCENT),
        "trade_size": num("TRADE_SIZE", TRADE_SIZE),
        "fee_rate": num("FEE_RATE", FEE_RATE),
        "exchange": text("EXCHANGE", EXCHANGE).lower(),
        "api_key": api_key,
        "api_secret": api_secret,
        "retry_attempts": num("RETRY_ATTEMPTS", RETRY_ATTEMPTS),
        "retry_base_delay": num("RETRY_BASE_DELAY", RETRY_BASE_DELAY),
        "retry_factor": num("RETRY_FACTOR", RETRY_FACTOR),
        "request_timeout_ms": num("REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT_MS),
        "price_poll_seconds": num("PRICE_POLL_SECONDS", PRICE_POLL_SECONDS),
        "candle_close_offset_seconds": num("CANDLE_CLOSE_OFFSET_SECONDS",
                                           CANDLE_CLOSE_OFFSET_SECONDS),
        "heartbeat_seconds": num("HEARTBEAT_SECONDS", HEARTBEAT_SECONDS),
        "history_candles": num("HISTORY_CANDLES", HISTORY_CANDLES),
        "log_max_bytes": num("LOG_MAX_BYTES", LOG_MAX_BYTES),
        "log_backups": num("LOG_BACKUPS", LOG_BACKUPS),
        "data_dir": Path(text("DATA_DIR", str(DATA_DIR))),
        "logs_dir": Path(text("LOGS_DIR", str(LOGS_DIR))),
        "notify_urls": tuple(u.strip() for u in text("NOTIFY_URLS", "").split(",") if u.strip()),
        "notify_events": tuple(e.strip().lower() for e in text(
            "NOTIFY_EVENTS", ",".join(NOTIFY_EVENT_KINDS)).split(",") if e.strip()),
        "metrics_port": num("METRICS_PORT", 0) if text("METRICS_PORT", "") else None,
        "metrics_host": text("METRICS_HOST", "127.0.0.1"),
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return validate(fields)


def validate(fields: dict[str, Any]) -> Settings:
    """Check every field's range and build the Settings; SettingsError names the first bad one."""
    f = fields
    f["symbol"] = str(f["symbol"]).strip().upper()
    _check(bool(SYMBOL_PATTERN.match(f["symbol"])), "SYMBOL", f["symbol"],
           "a spot symbol BASE/QUOTE the exchange lists, e.g. BTC/USDT, ETH/USDT, BNB/USDT")
    _check(f["timeframe"] in TIMEFRAMES, "TIMEFRAME", f["timeframe"], ", ".join(TIMEFRAMES))
    _check(f["strategy"] in STRATEGY_NAMES, "STRATEGY", f["strategy"], ", ".join(STRATEGY_NAMES))
    _check(0 < f["stop_loss_percent"] < 1, "STOP_LOSS_PERCENT", f["stop_loss_percent"],
           "0 < value < 1 (0.02 means 2 %)")
    _check(0 < f["take_profit_percent"] < 10, "TAKE_PROFIT_PERCENT", f["take_profit_percent"],
           "0 < value < 10 (0.04 means 4 %)")
    _check(0 < f["trade_size"] <= 100, "TRADE_SIZE", f["trade_size"],
           "0 < value <= 100 (base asset, e.g. 0.001 BTC)")
    _check(0 <= f["fee_rate"] < 0.1, "FEE_RATE", f["fee_rate"], "0 <= value < 0.1")
    _check(f["exchange"] in EXCHANGES, "EXCHANGE", f["exchange"], ", ".join(EXCHANGES))
    if f["exchange"] == "auto":
        f["exchange"] = "testnet" if f["api_key"] and f["api_secret"] else "local"
    if f["exchange"] == "testnet" and not (f["api_key"] and f["api_secret"]):
        raise SettingsError(
            "EXCHANGE=testnet needs BINANCE_TESTNET_API_KEY and BINANCE_TESTNET_API_SECRET;"
            " put them in .env (see .env.example) or use EXCHANGE=local"
        )
    _check(1 <= f["retry_attempts"] <= 10, "RETRY_ATTEMPTS", f["retry_attempts"], "1 to 10")
    _check(0 <= f["retry_base_delay"] <= 60, "RETRY_BASE_DELAY", f["retry_base_delay"],
           "0 to 60 seconds")
    _check(1 <= f["retry_factor"] <= 10, "RETRY_FACTOR", f["retry_factor"], "1 to 10")
    _check(100 <= f["request_timeout_ms"] <= 120_000, "REQUEST_TIMEOUT_MS",
           f["request_timeout_ms"], "100 to 120000 ms")
    _check(0.1 <= f["price_poll_seconds"] <= 3600, "PRICE_POLL_SECONDS",
           f["price_poll_seconds"], "0.1 to 3600 seconds")
    _check(0 <= f["candle_close_offset_seconds"] <= 60, "CANDLE_CLOSE_OFFSET_SECONDS",
           f["candle_close_offset_seconds"], "0 to 60 seconds")
    _check(1 <= f["heartbeat_seconds"] <= 86_400, "HEARTBEAT_SECONDS", f["heartbeat_seconds"],
           "1 to 86400 seconds")
    _check(60 <= f["history_candles"] <= 999, "HISTORY_CANDLES", f["history_candles"],
           "60 to 999 (one Binance call returns at most 1000 candles)")
    _check(10_000 <= f["log_max_bytes"] <= 1_000_000_000, "LOG_MAX_BYTES", f["log_max_bytes"],
           "10000 to 1000000000 bytes")
    _check(1 <= f["log_backups"] <= 100, "LOG_BACKUPS", f["log_backups"], "1 to 100")
    f.setdefault("notify_urls", ())
    f.setdefault("notify_events", NOTIFY_EVENT_KINDS)
    for kind in f["notify_events"]:
        _check(kind in NOTIFY_EVENT_KINDS, "NOTIFY_EVENTS", kind,
               "a comma-separated list of " + ", ".join(NOTIFY_EVENT_KINDS))
    f.setdefault("metrics_port", None)
    f.setdefault("metrics_host", "127.0.0.1")
    if f["metrics_port"] is not None:
        _check(0 <= f["metrics_port"] <= 65535, "METRICS_PORT", f["metrics_port"],
               "0 to 65535 (0 picks a free port; leave empty for no metrics server)")
    return Settings(**{k: f[k] for k in Settings.__dataclass_fields__})
