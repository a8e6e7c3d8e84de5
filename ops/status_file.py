"""``<DATA_DIR>/status.json``: what a running bot tells ``status`` beyond its state file.

The state file says what is held; this file says who runs, against which exchange, and when
the loop last showed life, in wall-clock time so that another process can judge staleness
whatever clock the bot runs on. It is rewritten atomically, at most every few seconds.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.events import BotEvents, CandleEvent
from storage.atomic import temp_files_for, write_atomic

STATUS_FILE = "status.json"
WRITE_EVERY_S = 5.0  # heartbeats
CYCLE_WRITE_EVERY_S = 1.0  # cycles: each one in real time, about one a second at --speed max


class StatusFile(BotEvents):
    """Writes the status file on start, on each cycle and heartbeat (throttled) and on stop."""

    def __init__(self, data_dir: Path, facts: dict[str, Any], *,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = Path(data_dir) / STATUS_FILE
        self.wall = wall
        # A bot killed mid-write leaves its temp file; this bot holds the folder's lock, so no
        # other writer's file is among them.
        for leftover in temp_files_for(self.path):
            leftover.unlink(missing_ok=True)
        speed = float(facts.get("speed", 1.0))
        timeframe_s = float(facts["timeframe_seconds"])
        now = wall()
        self.data: dict[str, Any] = {
            **facts, "pid": os.getpid(), "started": now, "last_cycle": now,
            "heartbeat": now, "running": True,
            "speed": speed if math.isfinite(speed) else "max",
            "candle_wall_seconds": timeframe_s / speed if math.isfinite(speed) else 0.0,
        }
        self._written = float("-inf")

    def _write(self, force: bool = False, every_s: float = WRITE_EVERY_S) -> None:
        now = self.wall()
        if force or now - self._written >= every_s:
            self._written = now
            write_atomic(self.path, json.dumps(self.data, indent=1).encode(), mode=0o644)

    def ready(self, notes: list[str], now_ms: int) -> None:
        """Trading starts: the loop counts as alive from now."""
        self.data["last_cycle"] = self.data["heartbeat"] = self.wall()
        self._write(force=True)

    def tick(self, now_ms: int) -> None:
        """The loop waits: a heartbeat."""
        self.data["heartbeat"] = self.wall()
        self._write()

    def candle(self, event: CandleEvent) -> None:
        """A cycle ran."""
        self.data["last_cycle"] = self.data["heartbeat"] = self.wall()
        self.data["candles_processed"] = event.candles_processed
        self.data["cycles_skipped"] = event.cycles_skipped
        self._write(every_s=CYCLE_WRITE_EVERY_S)

    def stopped(self, summary: str, now_ms: int) -> None:
        """The loop ended cleanly."""
        self.data["running"] = False
        self.data["stopped"] = self.wall()
        self._write(force=True)


def read_status_file(data_dir: Path) -> dict[str, Any] | None:
    """The status file's content, or None when absent or unreadable."""
    try:
        data = json.loads((Path(data_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
