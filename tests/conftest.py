"""Shared test helpers: where the project and the optional ../shared reference data are."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_DIR.parent / "shared"
TV_REFERENCE_DIR = SHARED_DIR / "tv-reference" / "pynecore"


def require_tv_reference(name: str) -> Path:
    """Path of a TradingView reference export, or skip the test when ../shared is absent."""
    path = TV_REFERENCE_DIR / name
    if not path.is_file():
        pytest.skip(
            f"TradingView reference {path} is absent (../shared is not part of a user's clone);"
            " parity is checked where ../shared exists, as in CI"
        )
    return path
