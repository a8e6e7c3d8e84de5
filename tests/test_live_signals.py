"""Live = stored history: every cycle's signal equals ``signals`` over the bot's own candle file.

The runs are shared with the parity test and the audit scenarios (``tests.live_runs``).
"""

import pytest

from tests.live_runs import OUTAGE_MINUTES, replay_run, restart_run, signals_table

RUNS = {"sma_rsi": lambda: replay_run("sma_rsi"), "macd": lambda: replay_run("macd"),
        "rsi": restart_run}


@pytest.mark.parametrize("strategy", sorted(RUNS))
def test_every_cycle_signal_equals_signals_over_the_written_candle_file(tmp_path, strategy):
    """
    Given the whole bot trading on the emulator for 2,000 candles with sma_rsi or macd (a
     replayed real-like file), or rsi (generated market, restarted once from its checkpoint,
     then after a 150-minute outage without a checkpoint)
    When `python main.py signals --data <its data/historical_data.csv>` runs on the file the
     bot wrote
    Then each of the 2,000 cycles' signals equals the signal of its candle there: zero
     differences, and the cycles carried BUY and SELL signals
    """
    run = RUNS[strategy]()
    truth = signals_table(run.settings.candles_csv, strategy, tmp_path / "signals.csv")
    differences = [(ts, got, truth.get(ts)) for ts, got in run.cycles if truth.get(ts) != got]
    assert len(run.cycles) >= 2000
    assert differences == []
    assert {1, -1} <= {s for _, s in run.cycles}


def test_the_restarted_bot_resumed_from_its_checkpoint_then_rebuilt_after_the_outage():
    """
    Given the rsi run in three lives
    When its trading log is read
    Then the engine was built from the file at the first start, resumed from the checkpoint
     at the restart, and rebuilt from the stored candles after the outage; and the candle
     file has no candle twice
    """
    from storage.candles import read_candles

    run = restart_run()
    assert run.log.count("Signals: rsi rebuilt from") == 2
    assert run.log.count("stored candles (no checkpoint)") == 2
    assert run.log.count("Signals: rsi resumed from the checkpoint") == 1
    stored = read_candles(run.settings.candles_csv)
    assert stored["timestamp"].is_unique
    assert run.outage[1] - run.outage[0] == OUTAGE_MINUTES * 60_000
