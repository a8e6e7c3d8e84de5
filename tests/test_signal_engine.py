"""The bot's signal engine: each appended candle's signal equals ``signals`` over the file."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from backtest.synthetic import synthetic_candles
from bot.signal_engine import (
    CHECKPOINT_KEY,
    RUN_RECORD_KEY,
    LiveSignals,
    RunRecord,
    SignalEngine,
    SignalEngineError,
    parse_rows,
)
from storage.candles import append_candles, read_candles
from strategies.registry import STRATEGIES

MINUTE = 60_000
# Short periods so that a few hundred candles carry many signals for every strategy.
SHORT = {"SMA_SHORT": 3, "SMA_LONG": 8, "RSI_PERIOD": 5, "MA_FAST": 3, "MA_SLOW": 8,
         "MACD_FAST": 3, "MACD_SLOW": 8, "MACD_SIGNAL": 4, "SUPERTREND_ATR": 5,
         "BB_LENGTH": 8, "KC_LENGTH": 8, "KC_ATR": 5, "CHANNEL_LENGTH": 8}


def short_params(strategy):
    return strategy.params({k: v for k, v in SHORT.items() if k in strategy.defaults})


@pytest.fixture(scope="module")
def candles():
    frame = synthetic_candles(700, seed=9)
    # 2-decimal prices like an exchange's up to row 400, then float noise (17-digit reprs,
    # which pandas reads differently from float() in about one case in five), and a flat
    # stretch for exact SMA ties.
    prices = ["open", "high", "low", "close"]
    frame[prices] = frame[prices].round(2)
    frame.loc[401:, prices] = frame.loc[401:, prices] * (1 + 1e-7)
    frame.loc[300:330, ["open", "high", "low", "close"]] = frame.loc[300, "close"]
    return frame


def file_signals(path, strategy, params):
    """What ``python main.py signals --data path`` computes: timestamp -> signal."""
    stored = read_candles(path)
    signal = strategy.compute(stored, params)["signal"]
    return dict(zip(stored["timestamp"].tolist(), signal.tolist(), strict=True))


def follow(engine, path, candles, start, stop, batch=1, rows=None):
    """Append candles[start:stop] a few at a time, asking the engine after each append
    (for its whole output row too when ``rows`` is a dict)."""
    got = {}
    for i in range(start, stop, batch):
        append_candles(path, candles.iloc[i:min(i + batch, stop)])
        ts = int(candles["timestamp"].iat[min(i + batch, stop) - 1])
        got[ts] = engine.signal_at(ts)
        if rows is not None:
            rows[ts] = engine.output_at(ts).iloc[0]
    return got


def file_outputs(path, strategy, params):
    """The whole output frame of ``signals`` over the file, indexed by timestamp."""
    stored = read_candles(path)
    output = strategy.compute(stored, params)
    output.index = stored["timestamp"].to_numpy()
    return output


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_signals_exactly_what_signals_gives_over_the_file(
        tmp_path, candles, name):
    """
    Given a stored candle file of 200 candles and a registered strategy (short periods)
    When 160 more candles are appended one or four at a time, the engine asked for the
     last one's signal after each append, and halfway the engine is replaced by one resumed
     from its JSON checkpoint (a restart)
    Then every answer (signal, and a stop-entry strategy's orders) equals what `signals`
     computes for that candle over the final file, signals or orders did fire, and a
     resumed incremental engine did not rebuild
    """
    strategy = STRATEGIES[name]
    params = short_params(strategy)
    path = tmp_path / "historical_data.csv"
    append_candles(path, candles.iloc[:200])
    engine = SignalEngine(strategy, params, path)
    rows = {}
    got = {int(candles["timestamp"].iat[199]): engine.signal_at(int(candles["timestamp"].iat[199]))}
    got.update(follow(engine, path, candles, 200, 240, rows=rows))
    saved = json.loads(json.dumps(engine.checkpoint()))
    resumed = SignalEngine(strategy, params, path)
    assert resumed.restore(saved) is None or resumed.exact_mode == "recompute"
    got.update(follow(resumed, path, candles, 240, 360, batch=4, rows=rows))
    truth = file_signals(path, strategy, params)
    assert got == {ts: truth[ts] for ts in got}
    outputs = file_outputs(path, strategy, params)
    acting = sum(1 for s in got.values() if s)
    for ts, row in rows.items():  # a stop-entry strategy's orders are its output too
        expected = outputs.loc[ts, row.index]
        assert all(a == b or (a != a and b != b) for a, b in zip(row, expected, strict=True)), (
            ts, row.to_dict(), expected.to_dict())
        acting += bool(row.get("long_entry", False) or row.get("short_entry", False))
    if getattr(strategy, "inputs", "close") == "close":
        assert acting >= 5
    else:  # OHLC strategies may trade rarely on 200 candles: their levels were compared
        levels = pd.DataFrame(rows.values()).drop(columns="signal").select_dtypes("float")
        assert acting >= 1 or np.isfinite(levels.to_numpy()).any()
    if resumed.exact_mode == "incremental":
        assert resumed.rebuilds == 0 and resumed.resumed


def test_a_strategy_without_an_incremental_form_is_recomputed_over_the_whole_file(
        tmp_path, candles):
    """
    Given a registered-style strategy that has no incremental form (a renamed MovingAvg2Line)
    When the engine follows the file candle by candle
    Then it says it recomputes, and its signals still equal the whole-file signals
    """
    strategy = replace(STRATEGIES["ma2line"], name="ma2line_without_incremental")
    params = short_params(strategy)
    path = tmp_path / "historical_data.csv"
    append_candles(path, candles.iloc[:100])
    engine = SignalEngine(strategy, params, path)
    assert engine.exact_mode == "recompute"
    got = follow(engine, path, candles, 100, 180)
    truth = file_signals(path, strategy, params)
    assert got == {ts: truth[ts] for ts in got} and any(got.values())
    assert engine.restore(engine.checkpoint()) == "strategy recomputed over the whole file"


def _engine_after(tmp_path, candles, rows=300):
    strategy = STRATEGIES["sma_rsi"]
    params = short_params(strategy)
    path = tmp_path / "historical_data.csv"
    append_candles(path, candles.iloc[:rows])
    engine = SignalEngine(strategy, params, path)
    engine.sync()
    return engine, strategy, params, path


@pytest.mark.parametrize("damage,reason", [
    ("truncate", "shorter"),
    ("replace", "starts differently"),
    ("edit", "row at the checkpoint changed"),
    ("params", "another strategy or parameters"),
    ("junk", "unusable checkpoint"),
])
def test_a_checkpoint_that_no_longer_fits_the_file_is_refused_and_the_engine_rebuilds(
        tmp_path, candles, damage, reason):
    """
    Given an engine's checkpoint after 300 candles
    When the file is cut short, replaced by another, its last row edited, the parameters
     changed, or the checkpoint's state is junk
    Then restoring says why it does not fit, and the next candles' signals (after a rebuild
     from the file) still equal the whole-file signals
    """
    engine, strategy, params, path = _engine_after(tmp_path, candles)
    saved = json.loads(json.dumps(engine.checkpoint()))
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if damage == "truncate":
        path.write_text("".join(lines[:-5]))
    elif damage == "replace":
        path.write_text(lines[0] + "".join(lines[2:]))
        append_candles(path, candles.iloc[300:302])
    elif damage == "edit":
        path.write_text("".join(lines[:-1]) + lines[-1].rstrip("\n") + "1\n")  # volume
    elif damage == "params":
        params = strategy.params({**params, "SMA_LONG": 9})
    else:
        saved["state"] = {"short": "x"}
    fresh = SignalEngine(strategy, params, path)
    assert reason in fresh.restore(saved)
    start = len(read_candles(path))
    got = follow(fresh, path, candles, max(start, 300), 360)
    truth = file_signals(path, strategy, params)
    assert got == {ts: truth[ts] for ts in got} and fresh.rebuilds == 1


def test_a_file_changed_behind_a_running_engine_is_noticed(tmp_path, candles):
    """
    Given a running engine over 300 candles
    When the file is rewritten with its last 20 rows dropped, then candles are appended again
    Then the engine rebuilds from the file, and its answers equal the whole-file signals
    """
    engine, strategy, params, path = _engine_after(tmp_path, candles)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-20]))
    got = follow(engine, path, candles, 280, 320)
    truth = file_signals(path, strategy, params)
    assert got == {ts: truth[ts] for ts in got} and engine.rebuilds == 2


def test_a_partial_last_line_is_not_consumed(tmp_path, candles):
    """
    Given a running engine and a killed writer's partial last line at the end of the file
    When the engine syncs
    Then it consumes nothing; once the line is repaired and the candle appended, it goes on
    """
    engine, strategy, params, path = _engine_after(tmp_path, candles)
    with path.open("a") as handle:
        handle.write("1700000000000,1.0,2")
    assert engine.sync() == []
    got = follow(engine, path, candles, 300, 305)
    truth = file_signals(path, strategy, params)
    assert got == {ts: truth[ts] for ts in got}


def test_a_candle_that_is_not_stored_has_no_signal(tmp_path, candles):
    """
    Given an engine over 300 stored candles
    When it is asked for a candle the file does not hold
    Then SignalEngineError says so in one line
    """
    engine, *_ = _engine_after(tmp_path, candles)
    with pytest.raises(SignalEngineError, match="is not among the last stored candles"):
        engine.signal_at(123)


def test_an_absent_or_empty_file_gives_no_signal_yet(tmp_path):
    """
    Given no candle file, then a file holding only the header
    When the engine syncs
    Then it returns no pairs and has nothing to checkpoint beyond an empty position
    """
    path = tmp_path / "historical_data.csv"
    engine = SignalEngine(STRATEGIES["macd"], STRATEGIES["macd"].params(), path)
    assert engine.sync() == [] and engine.checkpoint()["rows"] == 0
    path.write_text("timestamp,open,high,low,close,volume\n")
    assert engine.sync() == []


def test_chunks_parse_like_read_candles_and_odd_chunks_are_refused(tmp_path, candles):
    """
    Given rows written by the bot's append: 2-decimal prices, and 17-digit float noise that
     pandas' parser reads differently from float() in about one case in five; and chunks
     with ISO times, a missing column or a broken candle rule
    When parse_rows reads them
    Then the rows equal read_candles' frame of the same file bit for bit, and the odd chunks
     give None (the engine then rebuilds through read_candles itself)
    """
    header = b"timestamp,open,high,low,close,volume\n"
    for rows in (slice(0, 300), slice(420, 700)):
        path = tmp_path / f"c{rows.start}.csv"
        append_candles(path, candles.iloc[rows])
        body = path.read_bytes()[len(header):]
        pd.testing.assert_frame_equal(parse_rows(header, body), read_candles(path),
                                      check_exact=True)
    noisy = candles.iloc[420:700]["close"].to_numpy()
    assert (read_candles(path)["close"].to_numpy() != noisy).any()  # the case that matters
    assert parse_rows(header, b"2024-01-01T00:00:00Z,1,2,0.5,1,3\n") is None
    assert parse_rows(b"timestamp,open,high,low,close\n", b"1,1,2,0.5,1\n") is None
    assert parse_rows(header, b"1,1,2,3,1,3\n") is None  # low above high


def test_run_record_keeps_intervals_of_acted_candles_per_run_and_rules():
    """
    Given a run record over 1-minute candles
    When candles 0,1,2 are acted on, then 5 (a gap), then a new run with other rules acts on 6
    Then the intervals are [0,2], [5,5] and [6,6], the last under the second rule set, and a
     record resumed from its saved form goes on from there
    """
    record = RunRecord(MINUTE, {"stop_loss": 0.02})
    for i in (0, 1, 2, 5):
        record.note(i * MINUTE)
    record.note(2 * MINUTE)  # an older candle changes nothing
    saved = json.loads(json.dumps(record.to_dict()))
    again = RunRecord(MINUTE, {"stop_loss": 0.03}, saved)
    again.note(6 * MINUTE)
    assert again.intervals == [[0, 2 * MINUTE, 0], [5 * MINUTE, 5 * MINUTE, 0],
                               [6 * MINUTE, 6 * MINUTE, 1]]
    assert again.rule_sets == [{"stop_loss": 0.02}, {"stop_loss": 0.03}]
    assert RunRecord(MINUTE, {}, {"rules": "junk"}).intervals == []


def test_live_signals_put_checkpoint_and_record_into_the_state_and_resume_from_it(
        tmp_path, candles):
    """
    Given LiveSignals built from an empty state over a 250-candle file
    When it handles candle 249, then a second LiveSignals is built from the state it filled
    Then the state holds the checkpoint and the run record, and the second resumes from the
     checkpoint without rebuilding and gives the next candle's whole-file signal
    """
    strategy = STRATEGIES["macd"]
    params = short_params(strategy)
    path = tmp_path / "historical_data.csv"
    append_candles(path, candles.iloc[:250])
    extra = {}
    live = LiveSignals.from_state(strategy, params, path, extra, timeframe_ms=MINUTE,
                                  rules={"stop_loss": 0.02})
    live.on_candle(int(candles["timestamp"].iat[249]), extra)
    assert set(extra) == {CHECKPOINT_KEY, RUN_RECORD_KEY}
    extra = json.loads(json.dumps(extra))
    again = LiveSignals.from_state(strategy, params, path, extra, timeframe_ms=MINUTE,
                                   rules={"stop_loss": 0.02})
    assert again.engine.resumed
    append_candles(path, candles.iloc[250:251])
    ts = int(candles["timestamp"].iat[250])
    assert again.on_candle(ts, extra)["signal"].iat[-1] == file_signals(path, strategy, params)[ts]
    assert again.engine.rebuilds == 0
    assert extra[RUN_RECORD_KEY]["intervals"][-1][:2] == [ts, ts]
    assert np.isfinite(extra[CHECKPOINT_KEY]["offset"])
