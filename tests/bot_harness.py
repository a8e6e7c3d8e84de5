"""An in-process bot on the real emulator over loopback, for end-to-end tests.

Everything is real (settings, emulator HTTP server, ccxt, exchange client, position manager,
journals, loop) except time: a PacedClock at infinite speed, shared by the bot and the
emulator, so days of candles run in seconds and every run is repeatable.
"""

from __future__ import annotations

from pathlib import Path

from bot.wiring import build_bot, start_local_exchange
from config.settings import load_settings
from storage.logs import setup_logging, teardown_logging

# A fixed market start (2026-01-01 00:00 UTC) makes every in-process run the same candles.
HARNESS_START_MS = 1_767_225_600_000


class BotHarness:
    """One emulator, and bots built on it on demand (a new bot = a restart)."""

    def __init__(self, tmp_path: Path, *, strategy: str = "ma2line", seed: int = 1,
                 env: dict[str, str] | None = None, persist: bool = False,
                 start_ms: int = HARNESS_START_MS) -> None:
        values = {"DATA_DIR": str(tmp_path / "data"), "LOGS_DIR": str(tmp_path / "logs"),
                  "STRATEGY": strategy, "RETRY_BASE_DELAY": "1",
                  "PRICE_POLL_SECONDS": "15"}
        values.update(env or {})
        self.settings = load_settings(values, env_file=tmp_path / "absent.env")
        self.local = start_local_exchange(self.settings, speed=float("inf"), seed=seed,
                                          persist=persist, start_ms=start_ms)
        self.server = self.local.server
        self.clock = self.local.clock
        self.market = self.server.market
        setup_logging(self.settings.logs_dir, console=False, clock=self.clock)
        self.bot = None

    def new_bot(self, max_candles: int | None):
        """Build a fresh client, position manager and loop (as a restarted process would)."""
        client, positions = self.local.connect(self.settings)
        self.bot = build_bot(self.settings, client=client, positions=positions,
                             clock=self.clock, max_candles=max_candles)
        return self.bot

    def run(self, candles: int):
        """Run a new bot for ``candles`` closed candles."""
        bot = self.new_bot(candles)
        bot.run()
        return bot

    def run_until_long(self, limit: int = 2000):
        """Run one candle at a time until a position is open; the bot, or AssertionError."""
        bot = self.new_bot(None)
        bot.positions.reconcile()
        for _ in range(limit):
            bot.wait_for_close()
            bot.run_cycle()
            if bot.positions.position is not None:
                return bot
        raise AssertionError(f"no position opened within {limit} candles")

    def log_text(self, name: str = "trading.log") -> str:
        path = self.settings.logs_dir / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def close(self) -> None:
        teardown_logging()
        self.server.stop()
