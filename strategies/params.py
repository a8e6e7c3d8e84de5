"""Strategy parameters: the STRATEGY_PARAMS names, their ranges, merging over defaults.

The bot hands every strategy the whole STRATEGY_PARAMS mapping, so a key that belongs to
another strategy is ignored; a key that belongs to none is a typo and is refused. The ranges
are the ones ``config.settings`` enforces, so a value accepted there is accepted here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import cast

PERIOD_KEYS = (
    "SMA_SHORT", "SMA_LONG", "RSI_PERIOD", "MA_FAST", "MA_SLOW",
    "MACD_FAST", "MACD_SLOW", "MACD_SIGNAL",
    "SUPERTREND_ATR", "BB_LENGTH", "KC_LENGTH", "KC_ATR", "CHANNEL_LENGTH",
)
LEVEL_KEYS = ("RSI_OVERBOUGHT", "RSI_OVERSOLD")
# Multipliers of a band width or of the ATR: positive, at most MAX_FACTOR.
FACTOR_KEYS = ("SUPERTREND_FACTOR", "BB_MULT", "KC_MULT")
# A percent of equity: 0 < value <= 100.
PERCENT_KEYS = ("MAX_INTRADAY_LOSS",)
KNOWN_KEYS = PERIOD_KEYS + LEVEL_KEYS + FACTOR_KEYS + PERCENT_KEYS
MAX_PERIOD = 5000
MAX_FACTOR = 50
# (smaller, larger): the first must stay strictly below the second.
ORDERED_PAIRS = (
    ("SMA_SHORT", "SMA_LONG"),
    ("MA_FAST", "MA_SLOW"),
    ("MACD_FAST", "MACD_SLOW"),
    ("RSI_OVERSOLD", "RSI_OVERBOUGHT"),
)

Params = dict[str, int | float]


def _real(value: object) -> float | None:
    """``value`` itself when it is a finite real number (bool excluded), else None.

    The value is returned unchanged (an int stays an int, a numpy number a numpy number);
    the float in the signature is for the type checker only.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    real = cast(float, value)
    return real if math.isfinite(real) else None


def _period(key: str, value: object) -> int:
    real = _real(value)
    if real is None or real != int(real):
        raise ValueError(f"{key}={value!r} is not a whole number; use 1 to {MAX_PERIOD}")
    period = int(real)
    if not 1 <= period <= MAX_PERIOD:
        raise ValueError(f"{key}={period} is out of range; use 1 to {MAX_PERIOD}")
    return period


def _level(key: str, value: object) -> float | int:
    real = _real(value)
    if real is None:
        raise ValueError(f"{key}={value!r} is not a number; use a level between 0 and 100")
    if not 0 < real < 100:
        raise ValueError(f"{key}={value} is out of range; use 0 < {key} < 100")
    return _plain_number(real)


def _plain_number(real: float) -> float | int:
    """A numpy scalar as the Python number it holds; a Python number unchanged."""
    item = getattr(real, "item", None)
    return item() if item is not None else real


def period(params: Params, key: str) -> int:
    """A period parameter (``SMA_LONG``, ...) as the int ``merge_params`` made it."""
    return int(params[key])


def _factor(key: str, value: object) -> float | int:
    real = _real(value)
    if real is None or not 0 < real <= MAX_FACTOR:
        raise ValueError(f"{key}={value!r} is out of range; use a number above 0 and at most"
                         f" {MAX_FACTOR} (e.g. {key}=2.5)")
    return _plain_number(real)


def _percent(key: str, value: object) -> float | int:
    real = _real(value)
    if real is None or not 0 < real <= 100:
        raise ValueError(f"{key}={value!r} is out of range; use a percent above 0 and at most"
                         " 100 (e.g. 1 for 1 % of equity)")
    return _plain_number(real)


def check_value(key: str, value: object) -> int | float:
    """``value`` checked for ``key``'s range (ValueError with one line); periods made int."""
    if key in PERIOD_KEYS:
        return _period(key, value)
    if key in FACTOR_KEYS:
        return _factor(key, value)
    if key in PERCENT_KEYS:
        return _percent(key, value)
    return _level(key, value)


def merge_params(
    defaults: Mapping[str, int | float], params: Mapping[str, object] | None
) -> Params:
    """``params`` over ``defaults``, checked; only the keys in ``defaults`` are returned.

    Raises ValueError with one line naming the key, the value and the accepted range.
    """
    given = dict(params or {})
    unknown = sorted(k for k in given if k not in KNOWN_KEYS)
    if unknown:
        raise ValueError(
            f"unknown strategy parameter {unknown[0]!r}; known: {', '.join(KNOWN_KEYS)}"
        )
    merged: Params = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        merged[key] = check_value(key, value)
    for low, high in ORDERED_PAIRS:
        if low in merged and high in merged and merged[low] >= merged[high]:
            raise ValueError(
                f"{low}={merged[low]} must be below {high}={merged[high]}; set {low} < {high}"
            )
    return merged


def parse_param(text: str) -> tuple[str, int | float]:
    """``"RSI_PERIOD=21"`` -> ("RSI_PERIOD", 21); ValueError with one line when malformed."""
    key, sep, raw = text.partition("=")
    key = key.strip().upper()
    raw = raw.strip()
    if not sep or not key or not raw:
        raise ValueError(f"--param {text!r} is not KEY=VALUE (e.g. --param RSI_PERIOD=21)")
    if key not in KNOWN_KEYS:
        raise ValueError(f"unknown strategy parameter {key!r}; known: {', '.join(KNOWN_KEYS)}")
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"--param {key}={raw!r}: the value is not a number") from None
    if key in PERIOD_KEYS and number.is_integer():
        return key, int(number)
    return key, number
