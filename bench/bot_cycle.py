"""Benchmark: what one bot cycle costs on the built-in exchange, and where the time goes.

Usage: ``python bench/bot_cycle.py [--candles 2000] [--strategy sma_rsi] [--poll 60]``

Runs the whole bot (real emulator over loopback HTTP, real ccxt, real files) at infinite
speed for ``--candles`` cycles in a temporary folder on tmpfs when there is one, and prints
the mean cost per cycle and its parts: the window refresh (server time, klines, the checks of
the reply), storing the candle, the signal and the order decision, and the SL/TP poll
(``--poll`` seconds apart; 60 = once a candle). The process's CPU seconds are printed too:
the bot is CPU-bound here, so the figures are what a small VPS pays per candle, minus the
network. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.wiring import (  # noqa: E402
    build_bot,
    start_local_exchange,
)
from config.settings import load_settings  # noqa: E402
from storage.logs import setup_logging, teardown_logging  # noqa: E402

HISTORY = 60


class StageTimes:
    """Seconds and calls spent in each timed part of the cycle."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: Counter[str] = Counter()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time every call of ``owner.name`` under ``label`` (an instance attribute)."""
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds[label] = self.seconds.get(label, 0.0) + spent
                self.calls[label] += 1

        setattr(owner, name, timed)


def run(candles: int, strategy: str, poll_seconds: int, folder: Path) -> dict[str, Any]:
    """One timed bot run; the figures (per-cycle ms by stage, wall and CPU seconds)."""
    settings = load_settings({
        "DATA_DIR": str(folder / "data"), "LOGS_DIR": str(folder / "logs"),
        "STRATEGY": strategy, "HISTORY_CANDLES": str(HISTORY),
        "PRICE_POLL_SECONDS": str(poll_seconds),
    }, env_file=folder / "absent.env")
    local = start_local_exchange(settings, speed=float("inf"), seed=7)
    setup_logging(settings.logs_dir, console=False, clock=local.clock)
    stages = StageTimes()
    try:
        client, positions = local.connect(settings)
        bot = build_bot(settings, client=client, positions=positions, clock=local.clock,
                        max_candles=candles)
        stages.wrap(bot, "run_cycle", "whole cycle")
        stages.wrap(bot.window, "refresh", "window refresh (time, klines, checks)")
        stages.wrap(bot.recorder, "store", "store the candle")
        stages.wrap(bot.signals, "on_candle", "signal")
        stages.wrap(bot.positions, "on_signal", "order decision")
        stages.wrap(bot, "check_protective_exit", "SL/TP poll")
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        bot.run()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        teardown_logging()
        local.server.stop()
    cycles = max(1, stages.calls["whole cycle"])
    return {
        "cycles": stages.calls["whole cycle"], "wall_s": wall,
        "cpu_s": (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime),
        "per_cycle_ms": {label: 1000 * seconds / cycles
                         for label, seconds in sorted(stages.seconds.items(),
                                                  key=lambda item: -item[1])},
        "polls": stages.calls["SL/TP poll"],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=2000)
    parser.add_argument("--strategy", default="sma_rsi")
    parser.add_argument("--poll", type=int, default=60, help="PRICE_POLL_SECONDS")
    args = parser.parse_args(argv)
    if args.candles < 1:
        parser.error(f"--candles must be at least 1, got {args.candles}")
    shm = Path("/dev/shm")
    ram = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="bot-cycle-", dir=ram) as folder:
        figures = run(args.candles, args.strategy, args.poll, Path(folder))
    print(f"{figures['cycles']} cycles of {args.strategy}: {figures['wall_s']:.2f} s wall, "
          f"{figures['cpu_s']:.2f} CPU s, {figures['polls']} SL/TP polls")
    for label, ms in figures["per_cycle_ms"].items():
        print(f"  {ms:7.3f} ms per cycle  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
