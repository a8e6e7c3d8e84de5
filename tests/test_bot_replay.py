"""A replay's checks (bot/replay.py), the loop's stop at the data's end, the market after it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from backtest.synthetic import synthetic_candles
from bot.replay import ReplayPlan, _state_last_candle, prepare_replay, timeframe_is_set
from bot.wiring import StartupError
from config.settings import load_settings
from core.clock import ManualClock
from emulator.market import GeneratedMarket, ReplayMarket
from storage.candles import read_candles
from tests.test_bot_runner import MINUTE, START, FakePositions, make_bot

FIVE = 300_000
DAY0 = 1_704_067_200_000  # 2024-01-01 UTC, where synthetic candles start


def settings_for(tmp_path, **env):
    """Default settings with HISTORY_CANDLES=60 and the data folder in tmp_path."""
    values = {"HISTORY_CANDLES": "60", "DATA_DIR": str(tmp_path / "data"), **env}
    return load_settings(env=values, env_file=tmp_path / "none.env")


def replay_file(tmp_path, count=75, step=FIVE):
    path = tmp_path / "day.csv"
    synthetic_candles(count, step_ms=step).to_csv(path, index=False)
    return path


def test_timeframe_is_set_by_flag_or_environment():
    """
    Given no TIMEFRAME, an empty one, one in the environment and a flag
    When timeframe_is_set looks
    Then only the environment value and the flag count
    """
    assert not timeframe_is_set({})
    assert not timeframe_is_set({"TIMEFRAME": " "})
    assert timeframe_is_set({"TIMEFRAME": "5m"})
    assert timeframe_is_set({}, "5m")


def test_prepare_replay_takes_the_files_timeframe(tmp_path):
    """
    Given a 5-minute file and settings whose TIMEFRAME was not set
    When prepare_replay runs
    Then the settings trade 5m and the plan starts 60 candles in and ends at the last close
    """
    path = replay_file(tmp_path)
    settings, plan = prepare_replay(settings_for(tmp_path), path, timeframe_set=False)
    assert settings.timeframe == "5m" and plan.timeframe == "5m" and plan.tf_ms == FIVE
    assert plan.start_ms == DAY0 + 60 * FIVE
    assert plan.end_ms == DAY0 + 75 * FIVE
    assert "its last candle (2024-01-01 06:10 UTC) is processed" in plan.end_message()


def test_a_set_timeframe_that_differs_names_the_right_one(tmp_path):
    """
    Given a 5-minute file and TIMEFRAME=1m set
    When prepare_replay runs
    Then StartupError says to set TIMEFRAME=5m
    """
    with pytest.raises(StartupError, match="holds 5m candles but TIMEFRAME=1m; set TIMEFRAME=5m"):
        prepare_replay(settings_for(tmp_path), replay_file(tmp_path), timeframe_set=True)


def test_unfit_files_are_one_line(tmp_path):
    """
    Given a file of 2-minute candles, a file shorter than the history and a bad file
    When prepare_replay runs on each
    Then each StartupError says what is wrong
    """
    settings = settings_for(tmp_path)
    with pytest.raises(StartupError, match="holds 2m candles; the bot trades"):
        prepare_replay(settings, replay_file(tmp_path, step=120_000), timeframe_set=False)
    with pytest.raises(StartupError, match="holds 30 candles; the bot first reads"):
        prepare_replay(settings, replay_file(tmp_path, count=30), timeframe_set=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(StartupError, match="--replay: .*unknown candle layout"):
        prepare_replay(settings, bad, timeframe_set=False)
    one = tmp_path / "one.csv"
    synthetic_candles(1).to_csv(one, index=False)
    with pytest.raises(StartupError, match="holds a single candle"):
        prepare_replay(settings, one, timeframe_set=False)


def test_a_folder_with_newer_candles_or_state_is_refused(tmp_path):
    """
    Given a data folder whose candle file, then whose state file, is past the replay's start
    When prepare_replay runs
    Then StartupError names the file and --data-dir
    """
    settings = settings_for(tmp_path)
    path = replay_file(tmp_path)
    settings.data_dir.mkdir()
    settings.candles_csv.write_text("timestamp,open,high,low,close,volume\n"
                                    "1767225600000,1,1,1,1,1\n")
    with pytest.raises(StartupError, match="historical_data.csv already holds candles up to"
                       " 2026-01-01 00:00 UTC.*add --data-dir .*replay-day"):
        prepare_replay(settings, path, timeframe_set=False)
    settings.candles_csv.unlink()
    settings.state_file.write_text(json.dumps({"last_candle_ms": 1767225600000}))
    with pytest.raises(StartupError, match="state.json already holds candles"):
        prepare_replay(settings, path, timeframe_set=False)


def test_state_last_candle_is_none_when_absent_or_unreadable(tmp_path):
    """
    Given no state file, a broken one and a sound one
    When _state_last_candle reads them
    Then it gives None, None and the stored candle
    """
    path = tmp_path / "state.json"
    assert _state_last_candle(path) is None
    path.write_text("{broken")
    assert _state_last_candle(path) is None
    path.write_text('{"last_candle_ms": 5}')
    assert _state_last_candle(path) == 5


def test_the_loop_stops_after_the_datas_last_candle_and_stores_nothing_past_it(tmp_path,
                                                                              caplog):
    """
    Given a bot on a manual clock whose data ends 3 candles from now
    When it runs without a candle limit
    Then it processes those 3 candles, logs the end message once and stores none past them
    """
    clock = ManualClock(START + 10_000)
    positions = FakePositions()
    bot = make_bot(tmp_path, clock, positions=positions, max_candles=None,
                   end_of_data_ms=START + 3 * MINUTE, end_message="the data ended here")
    with caplog.at_level(logging.INFO, logger="paperbot"):
        assert bot.run() == 0
    assert [ts for _, ts in positions.signals] == [START, START + MINUTE, START + 2 * MINUTE]
    stored = read_candles(tmp_path / "data" / "historical_data.csv")
    assert stored["timestamp"].iloc[-1] == START + 2 * MINUTE
    assert caplog.text.count("the data ended here") == 1
    assert bot.data_ended()


def test_a_late_fetch_past_the_end_is_cut(tmp_path):
    """
    Given a bot whose data ends 1 candle from now, woken 3 candles late
    When it runs one cycle
    Then the candles closing after the end are neither stored nor acted on
    """
    clock = ManualClock(START + 3 * MINUTE + 10_000)
    positions = FakePositions()
    bot = make_bot(tmp_path, clock, positions=positions, max_candles=None,
                   end_of_data_ms=START + MINUTE)
    bot.run_cycle()
    assert positions.signals == [(1, START)]
    assert read_candles(tmp_path / "data" / "historical_data.csv")["timestamp"].iloc[-1] == START


def test_replay_market_goes_on_as_the_then_market_from_the_last_close():
    """
    Given a 5-candle replay followed by a generated market
    When rows past the file's end are read
    Then the first opens at the file's last close and they carry volume and wicks
    """
    frame = synthetic_candles(5)
    market = ReplayMarket(frame, then=GeneratedMarket(3))
    end = market.first_index() + 5
    rows = market.rows(end, 10)
    assert rows[0, 0] == pytest.approx(frame["close"].iloc[-1], abs=0.01)
    assert (rows[:, 4] > 0).all() and (rows[:, 1] > rows[:, 2]).all()
    flat = ReplayMarket(frame).rows(end, 2)
    assert (flat[:, 4] == 0).all()
    with pytest.raises(ValueError, match="must have its 60000 ms timeframe"):
        ReplayMarket(frame, then=GeneratedMarket(3, timeframe_ms=FIVE))


def test_replay_plan_message_and_timeframe():
    """
    Given a plan of an hourly file ending at 2024-01-01 10:00 UTC
    When its end message is built
    Then it names the file, its last candle (09:00) and the flag that goes on
    """
    plan = ReplayPlan(path=Path("x.csv"), frame=None, timeframe="1h",
                      start_ms=DAY0, end_ms=DAY0 + 10 * 3_600_000)
    assert plan.tf_ms == 3_600_000
    message = plan.end_message()
    assert "Replay of x.csv finished" in message and "2024-01-01 09:00 UTC" in message
    assert "--continue-generated" in message


def test_continue_generated_without_a_replay_is_refused():
    """
    Given --continue-generated without --replay, and with it
    When the flag combinations are checked
    Then the first gets one line naming --replay and the second passes
    """
    from commands.bot import add_arguments, check_combinations

    parser = __import__("argparse").ArgumentParser()
    add_arguments(parser)
    alone = parser.parse_args(["--continue-generated"])
    assert "goes with --replay FILE" in check_combinations(alone, "local")
    both = parser.parse_args(["--continue-generated", "--replay", "x.csv"])
    assert check_combinations(both, "local") is None
