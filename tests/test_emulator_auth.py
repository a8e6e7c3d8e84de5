"""The emulator's wire formats and Binance's signed-request checks."""

from decimal import Decimal

import pytest

from emulator.auth import check_signed, sign
from emulator.wire import ApiError, dec, floor_to_step, fmt8, illegal, mandatory

KEY, SECRET = "k", "s"
NOW = 1_700_000_000_000


def signed(query: str, secret: str = SECRET) -> str:
    return f"{query}&signature={sign(query, secret)}"


def check(raw_query="", raw_body="", *, key=KEY, now=NOW, speed=1.0):
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(raw_query)) | dict(parse_qsl(raw_body))
    check_signed(
        header_key=key, raw_query=raw_query, raw_body=raw_body, params=params,
        api_key=KEY, api_secret=SECRET, now_ms=now, speed=speed,
    )


def code_of(**kwargs) -> int:
    with pytest.raises(ApiError) as info:
        check(**kwargs)
    return info.value.code


def test_sign_reproduces_binance_documented_vector():
    """
    Given the secret and payload of Binance's SIGNED endpoint example
    When the payload is signed
    Then the signature is the documented one
    """
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    payload = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559"
    )
    assert sign(payload, secret) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_check_signed_accepts_query_or_body_signatures():
    """
    Given a correctly signed GET query and a correctly signed POST body
    When they are checked
    Then both pass, also with an upper-case hex signature
    """
    check(raw_query=signed(f"timestamp={NOW}&recvWindow=10000"))
    check(raw_body=signed(f"timestamp={NOW}&symbol=BTCUSDT"))
    query = f"timestamp={NOW}"
    check(raw_query=f"{query}&signature={sign(query, SECRET).upper()}")


def test_check_signed_applies_binance_checks_in_order():
    """
    Given requests with a wrong key, no signature, a wrong signature, a huge recvWindow, no
    timestamp and a bad recvWindow value
    When they are checked
    Then the codes are -2015 (401), -1102, -1022, -1131, -1102 and -1100
    """
    good = signed(f"timestamp={NOW}")
    with pytest.raises(ApiError) as info:
        check(raw_query=good, key="other")
    assert (info.value.status, info.value.code) == (401, -2015)
    assert code_of(raw_query=good, key=None) == -2015
    assert code_of(raw_query=f"timestamp={NOW}") == -1102
    assert code_of(raw_query=signed(f"timestamp={NOW}", "wrong")) == -1022
    assert code_of(raw_query=signed(f"timestamp={NOW}&recvWindow=60001")) == -1131
    assert code_of(raw_query=signed("recvWindow=5000")) == -1102
    assert code_of(raw_query=signed(f"timestamp={NOW}&recvWindow=abc")) == -1100


def test_check_signed_enforces_the_timing_window():
    """
    Given timestamps 999 ms ahead, 1000 ms ahead, 5000 ms old and 5001 ms old (default window)
    When they are checked
    Then the first and third pass and the others get -1021
    """
    check(raw_query=signed(f"timestamp={NOW + 999}"))
    assert code_of(raw_query=signed(f"timestamp={NOW + 1000}")) == -1021
    check(raw_query=signed(f"timestamp={NOW - 5000}"))
    assert code_of(raw_query=signed(f"timestamp={NOW - 5001}")) == -1021


def test_check_signed_stretches_windows_by_clock_speed():
    """
    Given an emulator clock running 60 times faster than real time
    When a request 100 s old (60 x 5 s = 300 s allowed) and one 400 s old are checked
    Then the first passes and the second gets -1021; an infinite speed does not stretch
    """
    check(raw_query=signed(f"timestamp={NOW - 100_000}"), speed=60.0)
    assert code_of(raw_query=signed(f"timestamp={NOW - 400_000}"), speed=60.0) == -1021
    assert code_of(raw_query=signed(f"timestamp={NOW - 6000}"), speed=float("inf")) == -1021


def test_wire_helpers_format_like_binance():
    """
    Given floats and Decimals
    When they are formatted, converted, floored to a step, and errors are built
    Then prices have 8 decimals, floats lose binary noise and errors carry Binance's texts
    """
    assert fmt8(30000.1) == "30000.10000000"
    assert fmt8(Decimal("0.123456789")) == "0.12345679"
    assert dec(0.1 + 0.2) == Decimal("0.30000000")
    assert floor_to_step(Decimal("0.0012399"), Decimal("0.00001")) == Decimal("0.00123")
    assert mandatory("symbol").code == -1102 and "'symbol'" in mandatory("symbol").msg
    err = illegal("limit", "1..1000")
    assert err.body() == {"code": -1100, "msg": err.msg} and err.status == 400


def test_int_param_reads_optional_integers_and_refuses_words():
    """
    Given request parameters with a number, an empty value and a word
    When each is read as an optional integer
    Then the number comes back, the empty value is None, and the word is a -1100 error
    """
    from emulator.wire import ApiError, int_param

    params = {"limit": "5", "startTime": "", "orderId": "abc"}
    assert int_param(params, "limit") == 5
    assert int_param(params, "startTime") is None and int_param(params, "endTime") is None
    with pytest.raises(ApiError) as caught:
        int_param(params, "orderId")
    assert caught.value.code == -1100
