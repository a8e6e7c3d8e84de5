"""Live = stored history: every cycle's signal equals ``signals`` over the bot's own candle file.

Everything that uses the three long bot runs (``tests.live_runs``) is in this one module, so
pytest-xdist's ``--dist loadscope`` keeps them in one worker and they are made once: the
exactness checks, the live-vs-backtest parity of ``sma_rsi`` and ``macd`` with ``audit`` over
the same runs, and the scenarios of features/audit.feature (steps in tests/audit_steps.py).
"""

import pandas as pd
import pytest
from pytest_bdd import scenarios

from tests.audit_steps import *  # noqa: F403 - the audit.feature steps
from tests.live_runs import OUTAGE_MINUTES, replay_run, restart_run, signals_table
from tests.parity_support import compare

scenarios("audit.feature")

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


@pytest.mark.parametrize("strategy", ["sma_rsi", "macd"])
def test_recursive_strategies_agree_trade_for_trade_and_audit_finds_nothing_unexplained(
        strategy, tmp_path, capsys):
    """
    Given the whole bot trading sma_rsi or macd (RSI / EMA recursions) on the emulator over a
     replayed 2,060-candle real-like file, its signals computed incrementally over its own
     candle file (tests.live_runs), and the backtester on the same file
    When their trades are compared by the parity rule, and `python main.py audit` runs over
     the bot's data folder
    Then every pair matches or differs only by an SL/TP exit the (one-a-minute) polls could
     not see, with ten or more matches, and audit exits 0 with every journal row matched
    """
    import main
    from tests.live_runs import replay_run

    run = replay_run(strategy)
    expected = run.candles.iloc[: len(run.candles) - 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(run.stored, expected)
    result = compare(run)
    assert result.unexplained == [], result.unexplained
    # One poll a candle (tests.live_runs) leaves many SL/TP extremes unseen: explained, allowed.
    assert len(result.matched) >= 10
    out = tmp_path / "audit.csv"
    status = main.main(["audit", "--data-dir", str(run.settings.data_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    findings = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert status == 0, printed
    assert set(findings.loc[findings["line"] != "", "verdict"]) == {"matched"}
    assert (findings["line"] != "").sum() == len(run.journal)
