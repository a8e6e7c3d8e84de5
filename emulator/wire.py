"""What goes over the wire: Binance's error body and number formats.

Binance sends prices and quantities as JSON strings with 8 decimals and ids and epoch-ms
times as JSON integers; ccxt parses both, but the emulator copies the real shapes so a parser
bug in the bot shows up here rather than on the testnet.
"""

from __future__ import annotations

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
MSG_UNKNOWN_ERROR = "An unknown error occurred while processing the request."
MSG_OVERLOADED = (
    "Server is currently overloaded with other requests. Please try again in a few minutes."
)


class ApiError(PaperbotError):
    """A Binance error answer: HTTP ``status`` with body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

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
    """A price or quantity as Binance sends it: a string with exactly 8 decimals."""
    if isinstance(value, Decimal):
        return str(value.quantize(EIGHT, rounding=ROUND_HALF_UP))
    return f"{value:.8f}"


def dec(value: float | str | Decimal) -> Decimal:
    """A Decimal rounded to 8 decimals, from a float via its shortest repr (no binary noise)."""
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(EIGHT, rounding=ROUND_HALF_UP)


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a whole number of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def int_param(params: dict[str, str], name: str) -> int | None:
    """An optional integer request parameter; -1100 (illegal characters) when not a number."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise illegal(name, "^[0-9]{1,20}$") from None
