"""The endpoint guard allows Spot Testnet and loopback only, checked on real ccxt instances."""

from __future__ import annotations

import ccxt
import pytest

from core.errors import EndpointRefused
from exchange.endpoints import (
    check_exchange_endpoints,
    check_url,
    endpoint_problem,
    is_loopback_host,
)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.1", "::1"])
def test_loopback_hosts_are_recognised(host):
    """
    Given a loopback host name or address
    When it is checked
    Then it counts as loopback
    """
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["api.binance.com", "10.0.0.1", "example.org", "", "::2"])
def test_other_hosts_are_not_loopback(host):
    """
    Given a host that is not on this machine's loopback
    When it is checked
    Then it does not count as loopback
    """
    assert not is_loopback_host(host)


@pytest.mark.parametrize("url", [
    "https://testnet.binance.vision/api/v3",
    "https://api1.testnet.binance.vision/api/v1",
    "http://127.0.0.1:8123/api/v3",
    "http://localhost:9000/api/v3",
    "http://[::1]:9000/api/v3",
])
def test_testnet_and_loopback_urls_are_allowed(url):
    """
    Given a Spot Testnet URL or a loopback emulator URL
    When the guard checks it
    Then it finds no problem and does not raise
    """
    assert endpoint_problem(url) is None
    check_url(url)


@pytest.mark.parametrize("url, words", [
    ("https://api.binance.com/api/v3", "api.binance.com"),
    ("https://evil.example.org/api/v3", "evil.example.org"),
    ("http://testnet.binance.vision/api/v3", "https"),
    ("https://testnet.binance.vision/sapi/v1", "/api/"),
    ("https://testnet.binance.vision@api.binance.com/api/v3", "user name"),
    ("https://testnet.binance.vision.evil.com/api/v3", "neither"),
    ("ftp://127.0.0.1/api/v3", "scheme"),
    ("http://127.0.0.1:99999999/api/v3", "not a valid URL"),
    ("", "no URL"),
])
def test_other_urls_are_refused_with_one_line(url, words):
    """
    Given mainnet, a random host, plain http to testnet, a non-/api path or a disguised host
    When the guard checks the URL
    Then EndpointRefused is raised with one line naming the problem and the allowed endpoints
    """
    with pytest.raises(EndpointRefused) as caught:
        check_url(url)
    message = str(caught.value)
    assert "\n" not in message
    assert words in message
    assert "testnet.binance.vision" in message


def test_mainnet_ccxt_instance_is_refused():
    """
    Given a plain ccxt binance instance (sandbox off, so its spot URLs are api.binance.com)
    When the guard checks the instance
    Then it is refused naming the mainnet host
    """
    with pytest.raises(EndpointRefused, match="api.binance.com"):
        check_exchange_endpoints(ccxt.binance())


def test_sandbox_ccxt_instance_is_allowed():
    """
    Given a ccxt binance instance with sandbox mode on
    When the guard checks the instance
    Then its spot URLs (testnet.binance.vision) pass
    """
    exchange = ccxt.binance()
    exchange.set_sandbox_mode(True)
    check_exchange_endpoints(exchange)


def test_overridden_private_url_is_caught():
    """
    Given a sandbox instance whose private URL was later overridden to another host
    When the guard checks the instance
    Then it is refused, because every spot key is checked, not only the public one
    """
    exchange = ccxt.binance()
    exchange.set_sandbox_mode(True)
    exchange.urls["api"]["private"] = "https://api.binance.com/api/v3"
    with pytest.raises(EndpointRefused, match="api.binance.com"):
        check_exchange_endpoints(exchange)


def test_object_without_url_table_is_refused():
    """
    Given an object without a ccxt urls['api'] table
    When the guard checks it
    Then it is refused with a hint to build it with make_exchange
    """
    with pytest.raises(EndpointRefused, match="make_exchange"):
        check_exchange_endpoints(object())
