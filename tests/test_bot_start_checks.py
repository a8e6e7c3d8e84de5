"""Start-up checks of the bot's files against the exchange: future times, a saved clock ahead."""

from __future__ import annotations

import pytest

from bot.wiring import (
    StartupError,
    future_time_problem,
    saved_clock_note,
    saved_clock_refusal,
    start_local_exchange,
)
from config.settings import load_settings
from storage.candles import append_candles
from storage.state import BotState, PendingOrder, Position, StateStore
from tests.bot_harness import HARNESS_START_MS, BotHarness

YEAR_2100_MS = 4_102_444_800_000


def settings_in(tmp_path):
    return load_settings({"DATA_DIR": str(tmp_path / "data"), "LOGS_DIR": str(tmp_path / "logs")},
                         env_file=tmp_path / "absent.env")


@pytest.mark.parametrize("where", ["last_candle", "entry", "pending", "candle_file"])
def test_a_time_after_the_exchanges_is_one_line_naming_file_and_fix(tmp_path, where):
    """
    Given a state whose last candle, entry or pending time, or a candle file whose last row, is
    in the year 2100
    When it is checked against the exchange's time
    Then one line names the file, the time and how to fix it; a present time passes
    """
    settings = settings_in(tmp_path)
    now = HARNESS_START_MS
    state = BotState(last_candle_ms=now - 60_000)
    assert future_time_problem(settings, state, now) is None
    if where == "last_candle":
        state.last_candle_ms = YEAR_2100_MS
    elif where == "entry":
        state.position = Position(0.001, 23000.0, YEAR_2100_MS, "1", "pb-1b-x")
    elif where == "pending":
        state.pending = PendingOrder("pb-2s-y", "sell", 0.001, "signal", None, None, YEAR_2100_MS)
    else:
        import pandas as pd

        append_candles(settings.candles_csv, pd.DataFrame(
            [[YEAR_2100_MS, 1.0, 1.0, 1.0, 1.0, 1.0]],
            columns=["timestamp", "open", "high", "low", "close", "volume"]))
    problem = future_time_problem(settings, state, now)
    assert problem is not None and "\n" not in problem
    assert "2100-01-01 00:00 UTC" in problem and "Move it away" in problem
    expected = settings.candles_csv if where == "candle_file" else settings.state_file
    assert str(expected) in problem


def test_the_bot_refuses_to_start_on_a_state_from_the_future(tmp_path):
    """
    Given a state file saved by a faster simulated clock (last candle in 2100)
    When the bot's position manager is built against the emulator
    Then StartupError (exit 2) says so in one line
    """
    harness = BotHarness(tmp_path)
    try:
        StateStore(harness.settings.state_file).save(BotState(last_candle_ms=YEAR_2100_MS))
        with pytest.raises(StartupError, match="after the exchange's time") as caught:
            harness.new_bot(1)
        assert caught.value.status == 2
    finally:
        harness.close()


def test_a_saved_local_clock_ahead_of_real_time_refuses_a_real_time_run(tmp_path):
    """
    Given a local exchange saved by a run whose clock was 3 hours ahead of real time
    When the local exchange starts again in real time (speed 1)
    Then StartupError (exit 2) says in one line how far ahead, why, and the two ways on
    """
    import time

    settings = settings_in(tmp_path)
    ahead = int(time.time() * 1000) + 3 * 3_600_000
    first = start_local_exchange(settings, speed=1.0, seed=1, start_ms=ahead)
    first.server.stop()
    with pytest.raises(StartupError) as caught:
        start_local_exchange(settings, speed=1.0, seed=1)
    message = str(caught.value)
    assert caught.value.status == 2 and "\n" not in message
    assert "saved clock is 3h ahead" in message and "in the future" in message
    assert "--speed max" in message and "--data-dir" in message
    assert "is 45 min ahead" in saved_clock_refusal(tmp_path, tmp_path / "x", 45 * 60_000)


def test_a_saved_local_clock_ahead_of_real_time_is_noted_on_a_fast_run(tmp_path):
    """
    Given a local exchange saved by a run whose clock was 3 hours ahead of real time
    When the local exchange starts again at --speed 60
    Then it continues from the saved clock and a note says how far ahead and how to reset it
    """
    import time

    settings = settings_in(tmp_path)
    ahead = int(time.time() * 1000) + 3 * 3_600_000
    first = start_local_exchange(settings, speed=1.0, seed=1, start_ms=ahead)
    first.server.stop()
    second = start_local_exchange(settings, speed=60.0, seed=1)
    try:
        assert second.clock.now_ms() >= ahead
        assert len(second.notes) == 1 and "saved clock is 3h ahead" in second.notes[0]
        assert "Remove the file" in second.notes[0]
    finally:
        second.server.stop()
    assert "is 45 min ahead" in saved_clock_note(settings.data_dir, 45 * 60_000)
    assert "is 3 days ahead" in saved_clock_note(settings.data_dir, 72 * 3_600_000)


def test_a_local_exchange_state_that_is_a_folder_is_one_line(tmp_path):
    """
    Given data/local_exchange.json being a folder
    When the local exchange starts
    Then StartupError says it must be a file, in one line
    """
    settings = settings_in(tmp_path)
    (settings.data_dir / "local_exchange.json").mkdir(parents=True)
    with pytest.raises(StartupError, match="it must be a file") as caught:
        start_local_exchange(settings, speed=1.0, seed=1)
    assert "\n" not in str(caught.value)


def test_a_local_exchange_connects_a_client_and_positions_on_its_own_keys(tmp_path):
    """
    Given the built-in exchange started for a data folder
    When a client and position manager are connected to it
    Then the client has loaded the symbol's market rules, and the position manager is flat
     and holds its disk reserve in that data folder
    """
    from storage.reserve import RESERVE_NAME

    settings = settings_in(tmp_path)
    local = start_local_exchange(settings, speed=float("inf"), seed=1,
                                 start_ms=HARNESS_START_MS)
    try:
        client, positions = local.connect(settings)
        assert client.market_rules().base == "BTC"
        assert positions.position is None
        assert (settings.data_dir / RESERVE_NAME).is_file()
    finally:
        local.server.stop()
