"""What goes over the wire: Binance's error body and number formats.

Binance sends prices and quantities as JSON strings with 8 decimals and ids and epoch-ms
times as JSON integers; ccxt parses both, but the emulator copies the real shapes so a parser
bug in the bot shows up here rather than on the testnet.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from core.errors import PaperbotError

EIGHT = Decimal("0.00000001")

# Binance's own messages, word for word: ccxt matches some of them exactly.
MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_DUPLICATE = "Duplicate order sent."
MSG_NO_ORDER = "Order does not exist."
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_BAD_KEY = "Invalid API-key, IP, or permissions for action."
MSG_BAD_SIGNATURE = "Signature for this request is not valid."
MSG_RECV_WINDOW = "recvWindow must be less than 60000"
MSG_OUTSIDE_WINDOW = "Timestamp for this request is outside of the recvWindow."
MSG_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
MSG_INVALID_SYMBOL = "Invalid symbol."
MSG_INVALID_INTERVAL = "Invalid interval."
MSG_TOO_MANY = (
    "Too many requests; current limit of IP(127.0.0.1) request weight per minute is 6000."
    " Please use WebSocket Streams for live updates to avoid polling the API."
)
MSG_UNSUPPORTED = "This operation is not supported."
MSG_UNKNOWN_ERROR = "An unknown error occurred while processing the request."
MSG_OVERLOADED = (
    "Server is currently overloaded with other requests. Please try again in a few minutes."
)


class ApiError(PaperbotError):
    """A Binance error answer: HTTP ``status`` with body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict:
        """The JSON body Binance sends with this error."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> ApiError:
    """The -1102 error for a parameter that was not sent."""
    return ApiError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal(name: str, legal: str) -> ApiError:
    """The -1100 error for a parameter with a value outside its legal range."""
    return ApiError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def fmt8(value: float | Decimal) -> str:
    """A price or quantity as Binance sends it: exactly 8 decimals, never an exponent
    (``"0.00000000"``, not ``"0E-8"``)."""
    if isinstance(value, Decimal):
        return format(value.quantize(EIGHT, rounding=ROUND_HALF_UP), "f")
    text = f"{value:.8f}"
    return "0.00000000" if text == "-0.00000000" else text


def dec(value: float | str | Decimal) -> Decimal:
    """A Decimal rounded to 8 decimals, from a float via its shortest repr (no binary noise)."""
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(EIGHT, rounding=ROUND_HALF_UP)


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a whole number of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


SYMBOL_RANGE = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
SYMBOL_RE = re.compile(SYMBOL_RANGE)
SYMBOLS_RE = re.compile(SYMBOLS_RANGE)
SYMBOL_STATUSES = ("TRADING", "HALT", "BREAK")
PERMISSIONS = ("SPOT", "MARGIN", "LEVERAGED", *(f"TRD_GRP_{n:03d}" for n in range(2, 26)))
MSG_BAD_COMBO = "Combination of optional parameters invalid."
LONG_RANGE = "^[0-9]{1,20}$"
DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
RECV_WINDOW_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,3})?$"
_LONG_RE = re.compile(LONG_RANGE)
_DECIMAL_RE = re.compile(DECIMAL_RANGE)
_RECV_WINDOW_RE = re.compile(RECV_WINDOW_RANGE)
# A timestamp above this is in microseconds (Binance accepts both; ms reach it in year 5138).
MICROSECONDS_FROM = 100_000_000_000_000


def int_param(params: dict[str, str], name: str) -> int | None:
    """An optional LONG/INT parameter (digits only, as Binance parses them); -1100 otherwise."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _LONG_RE.match(raw):
        raise illegal(name, LONG_RANGE)
    return int(raw)


def time_param(params: dict[str, str], name: str) -> int | None:
    """An optional time parameter in ms; a value in microseconds is converted to ms."""
    value = int_param(params, name)
    if value is not None and value >= MICROSECONDS_FROM:
        return value // 1000
    return value


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    """An optional DECIMAL parameter: plain digits with an optional fraction, as Binance
    reads it; ``9e-05`` or ``-1`` is -1100 ILLEGAL_CHARS naming the legal range."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL_RE.match(raw):
        raise illegal(name, DECIMAL_RANGE)
    return Decimal(raw)


def recv_window_param(params: dict[str, str]) -> Decimal | None:
    """``recvWindow`` in ms: a decimal with up to three places (``6000.346``)."""
    raw = params.get("recvWindow")
    if raw is None or raw == "":
        return None
    if not _RECV_WINDOW_RE.match(raw):
        raise illegal("recvWindow", RECV_WINDOW_RANGE)
    return Decimal(raw)


def bool_param(params: dict[str, str], name: str, default: bool = False) -> bool:
    """An optional BOOLEAN parameter (``true``/``false``, any case); -1100 otherwise."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise illegal(name, "true, false")
    return raw.lower() == "true"


_TIME_ZONE_RE = re.compile(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$")
_WINDOW_RE = re.compile(r"^(\d{1,2})([mhd])$")


def time_zone_ms(raw: str | None) -> int:
    """A ``timeZone`` parameter (``"8"``, ``"-1:00"``, ``"05:45"``) as an offset in ms;
    -1100 outside [-12:00, +14:00]."""
    if raw is None or raw == "":
        return 0
    match = _TIME_ZONE_RE.match(raw)
    minutes = None
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, mins = int(match.group(2)), int(match.group(3) or 0)
        if mins < 60:
            minutes = sign * (hours * 60 + mins)
    if minutes is None or not -12 * 60 <= minutes <= 14 * 60:
        raise illegal("timeZone", "[-12:00, +14:00]")
    return minutes * 60_000


def window_size_ms(raw: str | None) -> int:
    """A rolling ticker's ``windowSize`` (``1m``..``59m``, ``1h``..``23h``, ``1d``..``7d``) in
    ms, ``1d`` when absent; -1100 otherwise."""
    if raw is None or raw == "":
        return 86_400_000
    match = _WINDOW_RE.match(raw)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        top, span = {"m": (59, 60_000), "h": (23, 3_600_000), "d": (7, 86_400_000)}[unit]
        if 1 <= count <= top:
            return count * span
    raise illegal("windowSize", "1m..59m, 1h..23h, 1d..7d")


# Fields holding an instant (ms) and those holding the last ms of a period (a close time).
_INSTANTS = frozenset({"serverTime", "time", "updateTime", "transactTime", "workingTime",
                       "openTime", "T", "transactionTime", "trailingTime"})
_PERIOD_ENDS = frozenset({"closeTime"})


def time_unit(headers: dict[str, str]) -> str:
    """``X-MBX-TIME-UNIT``: "MILLISECOND" (default) or "MICROSECOND"; -1194 otherwise."""
    raw = headers.get("x-mbx-time-unit")
    if raw is None or raw == "":
        return "MILLISECOND"
    if raw.upper() not in ("MILLISECOND", "MICROSECOND") or raw not in (
            raw.upper(), raw.lower()):
        raise ApiError(400, -1194, "Invalid value for time unit; expected either MICROSECOND or"
                                   " MILLISECOND.")
    return raw.upper()


def to_microseconds(body: object, *, klines: bool = False, period_end_close: bool = False
                    ) -> object:
    """An answer with every time field in microseconds: instants times 1000, the last
    millisecond of a period (a kline's or trading day's close time) as its last microsecond;
    a ticker's ``closeTime`` is an instant unless ``period_end_close``."""
    if klines and isinstance(body, list):
        return [[row[0] * 1000, *row[1:6], row[6] * 1000 + 999, *row[7:]] for row in body]
    if isinstance(body, list):
        return [to_microseconds(b, period_end_close=period_end_close) for b in body]
    if not isinstance(body, dict):
        return body
    out = {}
    for key, value in body.items():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if key in _INSTANTS or (key in _PERIOD_ENDS and not period_end_close):
                value = value * 1000
            elif key in _PERIOD_ENDS:
                value = value * 1000 + 999
        elif isinstance(value, dict | list):
            value = to_microseconds(value, period_end_close=period_end_close)
        out[key] = value
    return out
