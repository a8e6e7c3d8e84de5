"""Live-vs-backtest parity for a stop-entry strategy: ChannelBreakOut on the emulator and in
the backtester's order broker (long-only), by decision 0072's rule extended to stops
(``tests.parity_support.explain_stop_entry``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.orders import Intents
from tests.parity_support import (
    ParityRun,
    Trade,
    compare,
    explain_stop_entry,
    parity_run,
)

CANDLES, SEED = 200, 5


@pytest.fixture(scope="module")
def run():
    return parity_run(CANDLES, SEED, "channel_breakout")


def test_bot_and_backtester_agree_on_a_stop_entry_strategy(run):
    """
    Given a deterministic 200-candle file replayed by the emulator with the whole bot running
        ChannelBreakOut (buy and sell stops re-armed every candle, SL 0.4 %, TP 0.6 %), and the
        backtester's order broker on the same file, long-only
    When their trades are compared by the parity rule
    Then the bot stored the file's candles (but the last), every difference is one the bot's
        polling explains (a stop level reached between polls), and most trades match in entry
        candle, exit candle and reason, entered by stops on both sides
    """
    # The last candle is never acted on (its signal could not be filled): it is not stored.
    expected = run.candles.iloc[: CANDLES - 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(run.stored, expected)
    outcome = compare(run)
    assert outcome.unexplained == []
    assert len(outcome.matched) >= 6 and len(outcome.matched) > len(outcome.explained)
    reasons = set(run.journal["exit_reason"])
    assert "stop_entry" in reasons
    gaps = [b.entry_price / a.entry_price - 1 for a, b in outcome.matched]
    assert max(abs(g) for g in gaps) < 0.002  # the bot fills at a poll just past the level


def fake_run(polls: list[tuple[int, float]]) -> ParityRun:
    """A ParityRun of 3 one-minute candles whose candle 0 armed a buy stop at 100."""
    n = 3
    orders = Intents(np.array([True, False, False]), np.array([100.0, np.nan, np.nan]),
                     np.zeros(n, bool), np.zeros(n, bool), np.full(n, np.nan), np.zeros(n, bool))
    candles = pd.DataFrame({"timestamp": np.arange(n) * 60_000, "low": 99.0, "high": 101.0})
    return ParityRun(candles=candles, start_bar=0, last_bar=2, bot=[], backtest=[], polls=polls,
                     stored=candles, journal=pd.DataFrame(), fills=[], price_at=None,
                     orders=orders)


def test_a_stop_the_polls_never_reached_explains_a_later_entry():
    """
    Given the backtester entering on candle 1 by a buy stop at 100 and the bot not then
    When the bot's polls in candle 1 stayed below 100 (or one reached it)
    Then the difference is explained (or, when a poll reached 100, it is not)
    """
    bt, bot = Trade(1, 2, "signal", 100.0), Trade(2, 2, "end", 100.5)
    assert "peaked at 99.90" in explain_stop_entry(bt, bot, fake_run([(65_000, 99.9)]))
    assert explain_stop_entry(bt, bot, fake_run([(65_000, 100.2)])) is None
