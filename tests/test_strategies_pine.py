"""The Pine sources users paste into TradingView state the same strategies as the registry."""

from __future__ import annotations

import re

import pytest

from strategies.registry import SIGNAL_STRATEGIES, STRATEGIES

INPUT = re.compile(r'input\.(?:int|float)\((\d+(?:\.\d+)?),\s*"[^"]*\((\w+)\)"')


def pine_defaults(source: str) -> dict[str, float]:
    """The default of every input whose title names its STRATEGY_PARAMS key in brackets."""
    return {key: float(value) for value, key in INPUT.findall(source)}


def test_pine_defaults_reads_input_titles():
    """
    Given a Pine line declaring an input titled with its parameter key
    When the defaults are read
    Then the key maps to the default value
    """
    line = 'length = input.int(14, "RSI length (RSI_PERIOD)", minval = 1)\n'
    assert pine_defaults(line) == {"RSI_PERIOD": 14.0}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_strategy_has_a_pine_v6_source_with_the_same_title_and_defaults(name):
    """
    Given the strategy's .pine file in strategies/pine/
    When it is read
    Then it is Pine v6, declares strategy() with the registry's title, and its inputs carry
        exactly the registry's defaults under the STRATEGY_PARAMS names
    """
    strategy = STRATEGIES[name]
    source = strategy.pine_path.read_text(encoding="utf-8")
    assert source.startswith("//@version=6\n")
    assert f'strategy("{strategy.title}"' in source
    assert pine_defaults(source) == {k: float(v) for k, v in strategy.defaults.items()}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_pine_source_enters_long_and_short_and_says_the_bot_closes_instead(name):
    """
    Given the strategy's .pine file
    When its orders are read
    Then it has one long and one short strategy.entry, like TradingView's built-ins, and a
        comment saying the spot bot closes its long instead of shorting; the four close-only
        ones enter on crossings, the stop-entry ones pass stop levels and their order ids
    """
    strategy = STRATEGIES[name]
    source = strategy.pine_path.read_text(encoding="utf-8")
    assert source.count("strategy.entry(") == 2
    assert "strategy.long" in source and "strategy.short" in source
    assert "instead of opening a short" in source
    assert all(f'"{order_id}"' in source for order_id in strategy.entry_ids)
    if name in SIGNAL_STRATEGIES:
        assert "ta.crossover(" in source and "ta.crossunder(" in source
    assert ("stop = " in source) == strategy.stop_entries
