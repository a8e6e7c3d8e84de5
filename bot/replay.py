"""A replay run's checks: the file's timeframe, the data folder, and where the file ends.

``python main.py --replay FILE`` trades a candle file through the built-in emulator. Three
things used to go wrong silently: a TIMEFRAME other than the file's (every kline call refused
with -1120 Invalid interval), a data folder already holding newer candles (nothing is ever
"new", so nothing happens), and the file's end (the market went on flat, with zero-volume
candles stored as if traded). ``prepare_replay`` turns the first two into one line before the
bot starts; ``ReplayPlan.end_ms`` lets the loop stop at the third.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.wiring import StartupError
from config.settings import TIMEFRAMES, Settings


def _utc(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class ReplayPlan:
    """The replayed file, its candles and timeframe, and when its first/last candle closes."""

    path: Path
    frame: pd.DataFrame
    timeframe: str
    start_ms: int
    end_ms: int

    def end_message(self) -> str:
        """The line the bot logs when it has traded the file's last candle."""
        last = _utc(self.end_ms - self.tf_ms)
        return (f"Replay of {self.path} finished: its last candle ({last}) is processed, stopping"
                " (--continue-generated keeps a generated market going"
                " after a replay)")

    @property
    def tf_ms(self) -> int:
        """The timeframe in milliseconds."""
        return TIMEFRAMES[self.timeframe] * 1000


def timeframe_is_set(env: dict[str, str], flag: str | None = None) -> bool:
    """True when TIMEFRAME comes from a flag, the environment or ``.env`` (not the default)."""
    return bool(flag) or bool(env.get("TIMEFRAME", "").strip())


def prepare_replay(settings: Settings, path: Path, *, timeframe_set: bool) -> tuple[Settings,
                                                                                   ReplayPlan]:
    """The settings for a replay of ``path`` and its plan; StartupError (one line) when unfit.

    The file's timeframe becomes the bot's when TIMEFRAME is not set; when it is set and
    differs, the line names the TIMEFRAME to use. A data folder whose candle file already
    reaches the replay's first traded candle is refused, naming --data-dir.
    """
    from storage.candle_formats import read_candle_source
    from storage.candles import CandleFileError, last_stored_timestamp

    try:
        frame, source = read_candle_source(path)
    except CandleFileError as exc:
        raise StartupError(f"--replay: {exc}") from None
    label = source.timeframe
    if label is None:
        raise StartupError(f"--replay {path} holds a single candle; a replay needs at least"
                           f" HISTORY_CANDLES={settings.history_candles} + 1")
    if label not in TIMEFRAMES:
        raise StartupError(f"--replay {path} holds {label} candles; the bot trades"
                           f" {', '.join(TIMEFRAMES)}: resample the file to one of them")
    if timeframe_set and settings.timeframe != label:
        raise StartupError(
            f"--replay {path} holds {label} candles but TIMEFRAME={settings.timeframe}; set"
            f" TIMEFRAME={label} (or leave TIMEFRAME unset: a replay takes the file's timeframe)")
    settings = dataclasses.replace(settings, timeframe=label)
    tf_ms = TIMEFRAMES[label] * 1000
    stamps = frame["timestamp"].to_numpy()
    if len(stamps) <= settings.history_candles:
        raise StartupError(
            f"--replay {path} holds {len(stamps)} candles; the bot first reads"
            f" HISTORY_CANDLES={settings.history_candles} of them, so the file needs more"
            " (or lower HISTORY_CANDLES)")
    first_open = int(stamps[0]) + settings.history_candles * tf_ms
    end_ms = int(stamps[-1]) + tf_ms
    for where, stored in ((settings.candles_csv, last_stored_timestamp(settings.candles_csv)),
                          (settings.state_file, _state_last_candle(settings.state_file))):
        if stored is not None and stored >= first_open:
            raise StartupError(
                f"--replay {path} starts trading at {_utc(first_open)} but {where} already"
                f" holds candles up to {_utc(stored)}, so no replayed candle would be new;"
                " replay into an empty folder: add --data-dir"
                f" {settings.data_dir / ('replay-' + path.stem)}")
    return settings, ReplayPlan(path, frame, label, first_open, end_ms)


def _state_last_candle(path: Path) -> int | None:
    """The state file's last processed candle, or None (absent or unreadable: checked later)."""
    import json

    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("last_candle_ms")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int | float) else None
