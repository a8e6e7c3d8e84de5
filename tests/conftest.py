"""Shared test helpers: where the project and its vendored TradingView reference exports are."""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
FIXTURES_DIR = PROJECT_DIR / "tests" / "fixtures"
# PyneCore's TradingView exports, vendored with their notice (tests/fixtures/tradingview/NOTICE)
# so the parity tests run in every clone instead of skipping where ../shared is absent.
TV_REFERENCE_DIR = FIXTURES_DIR / "tradingview"


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
