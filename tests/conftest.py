"""Shared test helpers: project paths, the vendored TradingView exports, the emulator fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import Clock, ManualClock
from emulator.market import GeneratedMarket, Market
from emulator.server import EmulatorServer

PROJECT_DIR = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_DIR / "tests" / "fixtures"
# PyneCore's TradingView exports, vendored with their notice (tests/fixtures/tradingview/NOTICE)
# so the parity tests run in every clone instead of skipping where ../shared is absent.
TV_REFERENCE_DIR = FIXTURES_DIR / "tradingview"
# A whole minute (2025-02-28 12:00 UTC): the default start of a test emulator's manual clock.
EMULATOR_T0 = 1_740_744_000_000
# The modules that take longest, longest first. pytest-xdist (--dist loadscope) hands modules
# to workers in collection order, so these start first and the short ones fill in around
# them; left in file order, one of them could start last on one worker while the other sat
# idle. Measured with --durations (decision 0084); the order only affects the suite's time.
LONGEST_MODULES = (
    "test_live_history.py",
    "test_resilience_feature.py",
    "test_operations_feature.py",
    "test_live_backtest_parity.py",
    "test_bad_input.py",
    "test_bot_feature.py",
    "test_soak_bench.py",
    "test_security.py",
    "test_resilience_faults.py",
)


def run_order(module_name: str) -> int:
    """Where a test module goes in the run: its place in LONGEST_MODULES, the rest after."""
    try:
        return LONGEST_MODULES.index(module_name)
    except ValueError:
        return len(LONGEST_MODULES)


def pytest_configure(config: pytest.Config) -> None:
    """Before any worker starts (controller only): the project's byte-code (tests/bytecode.py)."""
    if not hasattr(config, "workerinput"):
        from tests.bytecode import precompile

        precompile(PROJECT_DIR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the longest modules first (a stable sort: each module keeps its own order)."""
    items.sort(key=lambda item: run_order(item.path.name))


def require_tv_reference(name: str) -> Path:
    """Path of a vendored TradingView reference export; a missing file is an error, not a skip."""
    path = TV_REFERENCE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"TradingView reference {path} is missing; it is vendored in"
            " tests/fixtures/tradingview/"
            " (restore it from git)"
        )
    return path


def assert_served_cleanly(server: EmulatorServer) -> None:
    """The one teardown check of every emulator a test started: no request it could not route,
    no bug in a route. A test that provokes either asserts it and clears the list."""
    assert server.unknown_requests == [], f"unrouted requests: {server.unknown_requests}"
    assert server.internal_errors == [], f"emulator errors: {server.internal_errors}"


@pytest.fixture
def servers() -> Iterator[list[EmulatorServer]]:
    """Emulators a scenario built and started itself (the list it appends them to), stopped
    after it; unlike ``start_emulator`` no clean-serve check follows (the emulator feature
    files' teardown never had one)."""
    started: list[EmulatorServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """``start_emulator(market, clock, **options)``: an in-process emulator on 127.0.0.1 and a
    free port, stopped after the test and then checked with ``assert_served_cleanly``."""
    started: list[EmulatorServer] = []

    def start(market: Market | None = None, clock: Clock | None = None,
              **options: Any) -> EmulatorServer:
        server = EmulatorServer(market if market is not None else GeneratedMarket(1),
                                clock if clock is not None else ManualClock(EMULATOR_T0),
                                **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        assert_served_cleanly(server)
