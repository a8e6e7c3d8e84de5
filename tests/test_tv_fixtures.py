"""The vendored TradingView reference exports: present, attributed, found without ../shared."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT_DIR, TV_REFERENCE_DIR, require_tv_reference

# Every file of PyneCore's fixture set that SOURCE.md lists, vendored as a whole.
EXPORTS = [
    "ma.csv", "macd.csv", "mfi+rsi+stoch.csv", "cross.csv", "ohlcv.csv", "rsi_trades.csv",
    "macd_trades.csv", "supertrend_trades.csv", "bollinger_trades.csv",
    "keltnerchannel_trades.csv", "channelbreakout_trades.csv", "barupdn_trades.csv", "bb.csv",
    "supertrend.csv", "kc.csv", "tr.csv", "highest+lowest.csv", "dmi.csv",
]


def test_every_export_source_md_lists_is_vendored_inside_the_project():
    """
    Given the vendored folder tests/fixtures/tradingview
    When each export SOURCE.md lists is looked up
    Then it is a non-empty file inside the project and SOURCE.md names it
    """
    source = (TV_REFERENCE_DIR / "SOURCE.md").read_text("utf-8")
    for name in EXPORTS:
        path = require_tv_reference(name)
        assert path.is_relative_to(PROJECT_DIR) and path.stat().st_size > 0
        assert f"| {name} |" in source


def test_the_notice_carries_the_apache_attribution():
    """
    Given the vendored folder
    When its NOTICE and licence text are read
    Then the notice names PyneCore, its commit and Apache-2.0, and the licence text is there
    """
    notice = (TV_REFERENCE_DIR / "NOTICE").read_text("utf-8")
    assert "https://github.com/PyneSys/pynecore" in notice
    assert "401cd39726f2197fc10fff2bd0c77670cc505719" in notice
    assert "Apache License, Version 2.0" in notice
    licence = (TV_REFERENCE_DIR / "LICENSE-Apache-2.0").read_text("utf-8")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in licence


def test_a_missing_export_is_an_error_not_a_skip():
    """
    Given a name that is not among the vendored exports
    When a test asks for it
    Then FileNotFoundError names the vendored folder, so the test fails instead of skipping
    """
    with pytest.raises(FileNotFoundError, match="tests/fixtures/tradingview"):
        require_tv_reference("no-such-export.csv")
