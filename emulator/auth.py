"""Binance's SIGNED endpoint checks, in the order the emulator applies them.

1. ``X-MBX-APIKEY`` missing or not ours -> 401 -2015;
2. ``signature`` missing -> 400 -1102, or not the HMAC-SHA256 of the query string followed
   (no separator) by the body, both without the ``signature`` parameter -> 400 -1022;
3. ``recvWindow`` (a decimal with up to three places, ``6000.346``) above 60000 -> 400 -1131;
4. ``timestamp`` (ms, or µs when above 10^14) 1000 ms or more ahead of the server, or older
   than ``recvWindow`` -> 400 -1021.

Windows are in real milliseconds on Binance. The emulator's clock may run ``speed`` times
faster than the wall clock, so for a finite speed above 1 both windows are stretched by
``speed``: a client that follows the accelerated clock is then judged on its real latency.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from emulator.wire import (
    MSG_AHEAD,
    MSG_BAD_KEY,
    MSG_BAD_SIGNATURE,
    MSG_OUTSIDE_WINDOW,
    MSG_RECV_WINDOW,
    ApiError,
    mandatory,
    recv_window_param,
    time_param,
)

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000


def sign(payload: str, secret: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``payload`` with ``secret`` (Binance's signature)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _without_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` (a query string or form body) minus its ``signature=`` part, and that value."""
    kept, found = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            found = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), found


def _stretch(speed: float) -> float:
    return speed if math.isfinite(speed) and speed > 1 else 1.0


def check_signed(
    *,
    header_key: str | None,
    raw_query: str,
    raw_body: str,
    params: dict[str, str],
    api_key: str,
    api_secret: str,
    now_ms: int,
    speed: float = 1.0,
) -> None:
    """Raise the ApiError Binance would answer for this signed request, or return if valid."""
    if not header_key or not hmac.compare_digest(header_key, api_key):
        raise ApiError(401, -2015, MSG_BAD_KEY)
    query, sig_q = _without_signature(raw_query)
    body, sig_b = _without_signature(raw_body)
    given = sig_q or sig_b
    if not given:
        raise mandatory("signature")
    expected = sign(query + body, api_secret)
    if not hmac.compare_digest(given.lower(), expected):
        raise ApiError(400, -1022, MSG_BAD_SIGNATURE)
    window = recv_window_param(params)
    recv_window = float(DEFAULT_RECV_WINDOW if window is None else window)
    if recv_window > MAX_RECV_WINDOW:
        raise ApiError(400, -1131, MSG_RECV_WINDOW)
    timestamp = time_param(params, "timestamp")
    if timestamp is None:
        raise mandatory("timestamp")
    stretch = _stretch(speed)
    if timestamp >= now_ms + 1000 * stretch:
        raise ApiError(400, -1021, MSG_AHEAD)
    if now_ms - timestamp > recv_window * stretch:
        raise ApiError(400, -1021, MSG_OUTSIDE_WINDOW)
