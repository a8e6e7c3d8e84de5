"""Live-vs-backtest parity: the bot on the emulator and the backtester agree on a replayed file.

The rule (decision 0072), checked by ``tests.parity_support.compare``:

1. Both see the same candles: the bot's candle file holds exactly the replayed file's rows.
2. Trades are compared in order from each common flat point (both sides flat after the same
   candle; the first one is the bot's start). Two trades match when their entry candle, exit
   candle and exit reason are equal.
3. Entries: a signal on candle i enters in candle i+1 on both sides. The backtester fills at
   the open of i+1; the bot wakes CANDLE_CLOSE_OFFSET_SECONDS (2 s) after candle i closes and
   fills at the market price of that instant, so its entry is the emulator's path price at
   open(i+1) + 2 s, and its journal names candle i as the signal candle.
4. Signal exits: the same, a sell signal on candle j exits in candle j+1 on both sides.
5. Stop-loss / take-profit exits may differ only where the bot's polling could not see what
   the backtester's intrabar path sees. With k the earlier exit candle of the pair: either the
   backtester exits by SL/TP in k and none of the bot's polled prices in k (up to its own exit)
   reached the bot's level (its level is computed from its own, slightly different fill);
   or the bot exits by SL/TP in k and candle k never reached the backtester's level, or did so
   in the first 2 s of the backtester's signal-exit candle, before the bot's cycle sold.
   After such a pair, comparison resumes at the next common flat point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pytest_bdd import scenarios

from tests.parity_steps import *  # noqa: F403 - the parity.feature steps
from tests.parity_support import (
    CANDLES,
    HISTORY,
    TIMEFRAME_MS,
    PollRecorder,
    Trade,
    at,
    backtest_trades,
    bot_trades,
    compare,
    entry_price_gap,
    explain,
    parity_run,
    tiny_run,
    write_candles,
)

# The scenarios share this module's replayed run: one module, one worker, one run (0084).
scenarios("parity.feature")


@pytest.fixture(scope="module")
def run():
    return parity_run()


def test_bot_and_backtester_agree_on_every_trade_of_a_replayed_file(run):
    """
    Given a deterministic 800-candle 1-minute CSV, replayed by the emulator with the whole bot
     (MovingAvg2Line, SL 0.4 %, TP 0.6 %, long-only) trading on it over loopback, and the
     backtester run on the same CSV with the same strategy, parameters and levels
    When their trades are compared by the parity rule in this module's docstring
    Then the bot stored exactly the file's candles, every pair of trades matches in entry
     candle, exit candle and reason or differs only by an SL/TP exit the bot's polling could
     not see, and dozens of trades, signal and protective exits among them, were compared
    """
    expected = run.candles.iloc[: CANDLES - 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(run.stored, expected)
    result = compare(run)
    assert result.unexplained == [], result.unexplained
    reasons = {a.reason for a, _ in result.matched}
    assert len(result.matched) >= 12 and "signal" in reasons
    assert reasons & {"stop_loss", "take_profit"}
    assert len(result.explained) <= 0.25 * (len(result.matched) + len(result.explained))
    compared = {t for pair in result.matched for t in pair}
    assert all(t.entry_bar >= HISTORY for t in compared)


def test_entries_fill_at_the_open_for_the_backtester_and_two_seconds_later_for_the_bot(run):
    """
    Given the matched trades of the parity run
    When their entry prices and the bot's journal are read
    Then the backtester's entry is the entry candle's open, the bot's is the emulator's price
     2 s after that open, the journal names the candle before as the signal candle, and the
     two prices differ by the few seconds of drift only
    """
    result = compare(run)
    first = int(run.candles["timestamp"].iat[0])
    buys = run.journal[run.journal["side"] == "buy"]
    signal_ms = (buys["signal_candle_time"].astype("int64") // 1_000_000).tolist()
    for backtest, bot in result.matched:
        open_ms = first + bot.entry_bar * TIMEFRAME_MS
        assert backtest.entry_price == run.candles["open"].iat[backtest.entry_bar]
        assert bot.entry_price == pytest.approx(run.price_at(open_ms + run.offset_ms), abs=1e-9)
        assert open_ms - TIMEFRAME_MS in signal_ms
    assert np.abs(entry_price_gap(run, result.matched)).max() < 0.002


# --- the rule on hand-made cases ----------------------------------------------------------

def test_identical_trades_all_match():
    """
    Given the same trades on both sides
    When compared
    Then every pair matches and nothing needs explaining
    """
    trades = [Trade(2, 4, "signal", 100.0), Trade(5, 7, "stop_loss", 100.0)]
    result = compare(tiny_run(trades, trades))
    assert len(result.matched) == 2 and not result.explained and not result.unexplained


def test_stop_the_bot_never_polled_is_explained_and_comparison_resumes():
    """
    Given the backtester stops out in candle 4 (low 99.5 under its 99.6 stop) while the bot,
     whose polls in candle 4 stayed above 99.6, holds until a signal exit in candle 6
    When compared
    Then the pair is explained by the unseen stop, and the next trades (entering after both
     were flat) match again
    """
    bt = [Trade(2, 4, "stop_loss", 100.0), Trade(8, 9, "signal", 100.0)]
    bot = [Trade(2, 6, "signal", 100.0, at(6, 2)), Trade(8, 9, "signal", 100.0, at(9, 2))]
    polls = [(at(4, s), 99.8) for s in (2, 17, 32, 47)]
    lows = [99.7] * 12
    lows[4] = 99.5
    result = compare(tiny_run(bot, bt, polls, lows=lows))
    assert [r for r in result.explained if "candle 4: backtest stop_loss" in r[2]]
    assert [(a.entry_bar, b.entry_bar) for a, b in result.matched] == [(8, 8)]
    assert not result.unexplained


def test_stop_the_bot_did_poll_but_ignored_is_not_explained():
    """
    Given the backtester stops out in candle 4 and one of the bot's polls in candle 4 was
     already below the bot's own stop, yet the bot held on
    When compared
    Then the pair is unexplained (the bot should have sold)
    """
    bt = [Trade(2, 4, "stop_loss", 100.0)]
    bot = [Trade(2, 6, "signal", 100.0, at(6, 2))]
    result = compare(tiny_run(bot, bt, [(at(4, 17), 99.55)]))
    assert len(result.unexplained) == 1 and not result.matched


def test_bot_stop_from_a_higher_fill_is_explained_when_the_candle_missed_the_backtest_level():
    """
    Given the bot filled at 100.10 (stop 99.70) and the backtester at 100.00 (stop 99.60), and
     candle 4's low is 99.65
    When the bot stops out in candle 4 and the backtester exits later by signal
    Then the pair is explained by the different levels; with a low of 99.55 it would not be
    """
    bt = [Trade(2, 6, "signal", 100.0)]
    bot = [Trade(2, 4, "stop_loss", 100.10, at(4, 32))]
    lows = [99.7] * 12
    lows[4] = 99.65
    assert not compare(tiny_run(bot, bt, lows=lows)).unexplained
    lows[4] = 99.55
    assert len(compare(tiny_run(bot, bt, lows=lows)).unexplained) == 1


def test_bot_stop_in_the_first_seconds_of_the_signal_exit_candle_is_explained():
    """
    Given the backtester exits candle 6 at its open on a sell signal
    When the bot's poll sees its stop 1 s into candle 6, before its 2 s cycle, or 30 s in
    Then the first is explained, the second is not
    """
    bt = [Trade(2, 6, "signal", 100.0)]
    early = [Trade(2, 6, "stop_loss", 100.0, at(6, 1))]
    late = [Trade(2, 6, "stop_loss", 100.0, at(6, 30))]
    assert "before the cycle" in compare(tiny_run(early, bt)).explained[0][2]
    assert len(compare(tiny_run(late, bt)).unexplained) == 1


def test_different_entry_candles_are_never_explained():
    """
    Given both sides flat, then entries in different candles
    When compared
    Then the pair is unexplained (the same signals must enter in the same candle)
    """
    result = compare(tiny_run([Trade(3, 5, "signal", 100.0)], [Trade(2, 5, "signal", 100.0)]))
    assert explain(Trade(2, 5, "signal", 100.0), Trade(3, 5, "signal", 100.0),
                   tiny_run([], [])) is None
    assert len(result.unexplained) == 1


def test_a_backtest_trade_open_at_the_bot_start_is_skipped_until_both_are_flat():
    """
    Given a backtest trade from candle 0 to 4, and the bot (starting flat at candle 2) trading
     from candle 3 to 5
    When compared
    Then both are skipped (the first common flat point is after candle 5) and later trades match
    """
    bt = [Trade(0, 4, "signal", 100.0), Trade(7, 8, "signal", 100.0)]
    bot = [Trade(3, 5, "signal", 100.0, at(5, 2)), Trade(7, 8, "signal", 100.0, at(8, 2))]
    result = compare(tiny_run(bot, bt))
    assert [a.entry_bar for a, _ in result.matched] == [7] and len(result.skipped) == 2


def test_a_trade_on_one_side_only_is_unexplained():
    """
    Given a trade the backtester made and the bot did not
    When compared
    Then it is reported as unexplained
    """
    result = compare(tiny_run([], [Trade(3, 5, "signal", 100.0)]))
    assert result.unexplained[0][2] == "a trade on one side only"


def test_journal_rows_become_trades_on_candle_indices():
    """
    Given a journal with a closed and an open position and the emulator's exact fill times
    When it is turned into trades
    Then entries and exits sit on the candles of their fill times, an exit after the last
     watched candle and the open position count as "end"
    """
    journal = pd.DataFrame({
        "side": ["buy", "sell", "buy", "sell", "buy"],
        "client_order_id": ["a", "b", "c", "d", "e"],
        "filled_price": [100.0, 101.0, 102.0, 103.0, 104.0],
        "exit_reason": ["", "take_profit", "", "signal", ""],
    })

    class Fill:
        def __init__(self, cid, ms):
            self.client_order_id, self.timestamp_ms = cid, ms

    fills = [Fill("a", at(3, 2)), Fill("b", at(5, 40)), Fill("c", at(7, 2)),
             Fill("d", at(11, 2)), Fill("e", at(11, 3))]
    trades = bot_trades(journal, fills, first_ms=0, last_bar=10)
    assert [t.key for t in trades] == [(3, 5, "take_profit"), (7, 10, "end"), (11, 10, "end")]
    assert trades[0].exit_ms == at(5, 40) and trades[0].entry_price == 100.0


def test_backtest_trades_are_read_with_late_exits_as_end():
    """
    Given a backtest result with a stop-loss exit and an exit after the last watched candle
    When its trades are read
    Then they keep entry, exit and reason, the late one becoming "end"
    """
    from backtest.engine import STOP_LOSS, Trades

    def arr(*v, dtype="float64"):
        return np.array(v, dtype=dtype)

    trades = Trades(direction=arr(1, 1, dtype="int8"), entry_bar=arr(2, 6, dtype="int64"),
                    entry_price=arr(100.0, 101.0), exit_bar=arr(4, 11, dtype="int64"),
                    exit_price=arr(99.6, 102.0), reason=arr(STOP_LOSS, 0, dtype="int8"),
                    seen_high=arr(100, 102), seen_low=arr(99.6, 101))
    result = type("Result", (), {"trades": trades})()
    assert [t.key for t in backtest_trades(result, last_bar=10)] == [
        (2, 4, "stop_loss"), (6, 10, "end")]


def test_poll_recorder_notes_each_price_with_the_clock_time():
    """
    Given a client double whose last price is 42.5 (or None) and a clock at 1000 ms
    When the recorder is asked for the last price twice
    Then it answers like the client and notes (1000, 42.5) once, passing other calls through
    """
    class Client:
        symbol = "BTC/USDT"

        def __init__(self):
            self.prices = [42.5, None]

        def last_price(self):
            return self.prices.pop(0)

    clock = type("Clock", (), {"now_ms": lambda self: 1000})()
    recorder = PollRecorder(Client(), clock)
    assert recorder.last_price() == 42.5 and recorder.last_price() is None
    assert recorder.polls == [(1000, 42.5)] and recorder.symbol == "BTC/USDT"


def test_candle_file_is_deterministic(tmp_path):
    """
    Given the parity candle generator
    When it writes the same file twice
    Then both files are byte for byte the same and hold valid candles
    """
    from storage.candles import read_candles

    write_candles(tmp_path / "a.csv", 50, 4)
    write_candles(tmp_path / "b.csv", 50, 4)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert len(read_candles(tmp_path / "a.csv")) == 50
