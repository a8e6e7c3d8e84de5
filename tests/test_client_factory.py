"""make_exchange builds a spot-only, guarded ccxt instance without making any request."""

from __future__ import annotations

import ccxt
import pytest

from core.clock import ManualClock
from core.errors import EndpointRefused
from exchange.factory import make_exchange, spot_urls


def test_spot_urls_are_built_under_the_root():
    """
    Given a server root with a trailing slash
    When the spot URL table is built
    Then public and private point at /api/v3 and v1 at /api/v1
    """
    assert spot_urls("http://127.0.0.1:8123/") == {
        "public": "http://127.0.0.1:8123/api/v3",
        "private": "http://127.0.0.1:8123/api/v3",
        "v1": "http://127.0.0.1:8123/api/v1",
    }


def test_testnet_instance_is_sandboxed_spot_only_and_throttled():
    """
    Given testnet keys
    When a testnet exchange is built
    Then it uses testnet.binance.vision spot URLs only, spot-only market loading,
    ccxt's rate limiter, the given timeout and the keys
    """
    exchange = make_exchange("testnet", api_key="key", api_secret="secret", timeout_ms=1234)
    assert isinstance(exchange, ccxt.binance)
    assert exchange.urls["api"] == spot_urls("https://testnet.binance.vision")
    assert exchange.options["fetchMarkets"]["types"] == ["spot"]
    assert exchange.options["sandboxMode"] is True
    assert exchange.enableRateLimit is True
    assert exchange.timeout == 1234
    assert (exchange.apiKey, exchange.secret) == ("key", "secret")


def test_testnet_mirror_host_is_accepted():
    """
    Given the api1 testnet mirror as base URL
    When a testnet exchange is built
    Then its spot URLs use the mirror
    """
    exchange = make_exchange("testnet", api_key="k", api_secret="s",
                             base_url="https://api1.testnet.binance.vision")
    assert exchange.urls["api"]["public"] == "https://api1.testnet.binance.vision/api/v3"


def test_non_spot_calls_fail_locally():
    """
    Given a built testnet exchange (no futures URL on it)
    When a futures-only public method is called
    Then ccxt fails locally with NotSupported instead of reaching another host
    """
    exchange = make_exchange("testnet", api_key="k", api_secret="s")
    exchange.markets = {}  # keep ccxt from loading markets (which would be a request)
    with pytest.raises(ccxt.NotSupported, match="testnet/sandbox URL"):
        exchange.fapipublic_get_time()


def test_local_instance_points_at_loopback_without_throttle():
    """
    Given a loopback emulator URL
    When a local exchange is built
    Then its spot URLs use that root, the rate limiter is off,
    and the spot error table makes -1008 a retryable OperationFailed
    """
    exchange = make_exchange("local", api_key="k", api_secret="s",
                             base_url="http://127.0.0.1:8123")
    assert exchange.urls["api"] == spot_urls("http://127.0.0.1:8123")
    assert exchange.enableRateLimit is False
    assert exchange.exceptions["exact"]["-1008"] is ccxt.OperationFailed


def test_rate_limiter_can_be_forced_on_for_local():
    """
    Given a local exchange asked to throttle
    When it is built
    Then its rate limiter is on
    """
    exchange = make_exchange("local", api_key="k", api_secret="s",
                             base_url="http://localhost:1", enable_rate_limit=True)
    assert exchange.enableRateLimit is True


@pytest.mark.parametrize("base_url", ["https://api.binance.com", "https://random.example.net"])
@pytest.mark.parametrize("kind", ["testnet", "local"])
def test_mainnet_or_random_base_url_is_refused(kind, base_url):
    """
    Given mainnet or a random host as base URL
    When an exchange of either kind is built
    Then EndpointRefused is raised naming the host
    """
    with pytest.raises(EndpointRefused, match=base_url.split("//")[1]):
        make_exchange(kind, api_key="k", api_secret="s", base_url=base_url)


@pytest.mark.parametrize("kwargs, words", [
    ({"kind": "mainnet"}, "'testnet' or 'local'"),
    ({"kind": "testnet", "api_key": ""}, "BINANCE_TESTNET_API_KEY"),
    ({"kind": "testnet", "api_secret": ""}, "BINANCE_TESTNET_API_SECRET"),
    ({"kind": "local"}, "base URL"),
    ({"kind": "testnet", "timeout_ms": 0}, "timeout"),
])
def test_bad_arguments_get_one_line_errors(kwargs, words):
    """
    Given an unknown kind, missing testnet keys, a local kind without URL or a zero timeout
    When an exchange is built
    Then ValueError says what is wrong in one line
    """
    args = {"api_key": "k", "api_secret": "s"} | kwargs
    kind = args.pop("kind")
    with pytest.raises(ValueError) as caught:
        make_exchange(kind, **args)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_signing_time_can_follow_a_simulated_clock():
    """
    Given a manual clock far from the wall clock
    When a local exchange is built with that clock and the clock is advanced
    Then ccxt's signing timestamp (nonce) is the clock's time, before and after
    """
    clock = ManualClock(1_600_000_000_000)
    exchange = make_exchange("local", api_key="k", api_secret="s",
                             base_url="http://127.0.0.1:8123", clock=clock)
    assert exchange.nonce() == 1_600_000_000_000
    clock.advance(90)
    assert exchange.nonce() == 1_600_000_090_000


def test_signing_time_keeps_the_measured_offset():
    """
    Given a local exchange signing on a manual clock, and a measured offset of 1500 ms
    (as load_time_difference stores it after a -1021)
    When the signing timestamp is taken
    Then it is the clock's time minus that offset, so a resync still corrects the time
    """
    clock = ManualClock(1_600_000_000_000)
    exchange = make_exchange("local", api_key="k", api_secret="s",
                             base_url="http://127.0.0.1:8123", clock=clock)
    exchange.options["timeDifference"] = 1500
    assert exchange.nonce() == 1_600_000_000_000 - 1500
