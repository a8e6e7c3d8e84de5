"""Long bot runs on the emulator shared by the live = stored history tests, parity and audit.

Each run is made once per test process and used by every assertion about it. The first test
that asks for any of them starts all three, each in its own worker process: they are the
suite's longest module and start first (tests/conftest.py), and the other test workers
often wait on bot and emulator subprocesses meanwhile, so the ~6,000 bot cycles take about one
and a half runs' wall time instead of three:

* ``replay_run(strategy)``: ``tests.parity_support.parity_run`` on a 2,060-candle replayed
  real-like file (2,000 cycles), for ``sma_rsi`` and ``macd``: every cycle's signal, the
  backtest of the same file, the bot's data folder for ``audit``;
* ``restart_run()``: ``rsi`` on the generated market for 2,000 cycles in three lives: a
  restart that resumes from the checkpoint, then a 150-minute outage after which the
  checkpoint is gone from the state file, so the engine rebuilds from the candle file.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from tests.parity_support import SEED, ParityRun, parity_run, record_cycles

LIVE_CANDLES = 2060  # HISTORY (60) of warm-up, then 2,000 cycles
LIVE_POLL_SECONDS = 60  # one SL/TP poll a candle: the rules hold for any interval
RESTART_LIVES = (700, 700, 750)  # the first cycle after the outage counts 150
OUTAGE_MINUTES = 150


@dataclass
class RestartRun:
    """The rsi run in three lives."""

    settings: Any
    cycles: list[tuple[int, int]] = field(default_factory=list)
    log: str = ""
    outage: tuple[int, int] = (0, 0)  # clock ms when the bot went down / came back


def ram_dir(prefix: str) -> Path:
    """A temporary folder on tmpfs when there is one (the bot fsyncs every candle)."""
    shm = Path("/dev/shm")
    ram = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=ram))
    atexit.register(shutil.rmtree, root, True)
    return root


REPLAYED = ("sma_rsi", "macd")
_jobs: dict[str, Future] = {}


def _start_jobs() -> None:
    """Start the three runs in three spawned worker processes (once per test process)."""
    if _jobs:
        return
    pool = ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn"))
    for strategy in REPLAYED:
        _jobs[strategy] = pool.submit(_replay_job, strategy)
    _jobs["rsi"] = pool.submit(_restart_job)
    pool.shutdown(wait=False)


def _replay_job(strategy: str) -> ParityRun:
    run = parity_run(LIVE_CANDLES, SEED, strategy, LIVE_POLL_SECONDS)
    run.price_at = None  # a bound method of the worker's market: not sent back
    atexit.unregister(shutil.rmtree)  # the folder outlives the worker (see _result)
    return run


def _restart_job() -> RestartRun:
    run = _restart_run()
    atexit.unregister(shutil.rmtree)
    return run


def _result(name: str) -> Any:
    _start_jobs()
    run = _jobs[name].result()
    # The worker exits without its atexit clean-up: this process removes the folder.
    atexit.register(shutil.rmtree, Path(run.settings.data_dir).parent, True)
    return run


@lru_cache(maxsize=2)
def replay_run(strategy: str) -> ParityRun:
    """The bot trading ``strategy`` on a replayed 2,060-candle file, and its backtest."""
    return _result(strategy)


@lru_cache(maxsize=1)
def restart_run() -> RestartRun:
    """``rsi`` for 2,000 cycles: life 1; restart from the checkpoint; outage, no checkpoint."""
    return _result("rsi")


def _restart_run() -> RestartRun:
    from tests.bot_harness import BotHarness

    root = ram_dir("restart-")
    harness = BotHarness(root, strategy="rsi",
                         env={"PRICE_POLL_SECONDS": str(LIVE_POLL_SECONDS)})
    run = RestartRun(settings=harness.settings)
    try:
        for life, candles in enumerate(RESTART_LIVES):
            if life == 2:
                down = harness.clock.now_ms()
                harness.clock.advance(OUTAGE_MINUTES * 60)
                run.outage = (down, harness.clock.now_ms())
                drop_checkpoint(harness.settings.state_file)
            bot = harness.new_bot(candles)
            cycles = record_cycles(bot)
            bot.run()
            run.cycles += cycles
        run.log = harness.log_text()
    finally:
        harness.close()
    return run


def drop_checkpoint(state_file: Path) -> None:
    """Remove the signal checkpoint from a state file (as an older bot's state would be)."""
    from bot.signal_engine import CHECKPOINT_KEY

    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["extra"].pop(CHECKPOINT_KEY, None)
    state_file.write_text(json.dumps(state), encoding="utf-8")


def signals_table(candles_csv: Path, strategy: str, out: Path) -> dict[int, int]:
    """``python main.py signals --data candles_csv`` run in-process: timestamp -> signal."""
    import main
    from strategies.registry import get_strategy

    defaults = get_strategy(strategy).defaults
    args = ["signals", "--data", str(candles_csv), "--strategy", strategy, "--out", str(out)]
    for key, value in defaults.items():
        args += ["--param", f"{key}={value}"]
    assert main.main(args) == 0
    table = pd.read_csv(out)
    return dict(zip(table["timestamp"].tolist(), table["signal"].tolist(), strict=True))


def copy_data_dir(source: Path, target: Path) -> Path:
    """A copy of a bot's data folder to tamper with."""
    shutil.copytree(source, target)
    return target
