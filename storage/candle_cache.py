"""A columnar copy of a candle file, so a repeated read skips parsing the CSV.

The copy is one file in ``$XDG_CACHE_HOME/paperbot/candles/`` (``~/.cache/...``) named by a hash
of the candle file's absolute path, or beside the candle file (``.<name>.columns``) when that
folder cannot be used: a small JSON header (the key, the reader's one-line notes) and the six
columns as one float64 block, memory-mapped on read. It is keyed by the source file's size and
modification time (nanoseconds): any change to the file, an append by the bot included, makes
the key differ and the copy is rebuilt from the file on the next read. The copy holds candles
that already passed the reader's checks, so a hit is not validated again. A copy that cannot
be written or read back is ignored (the file is parsed as before), never an error. See
docs/decisions/0154-candle-cache.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS

FORMAT_VERSION = 2
MAGIC = b"PBCANDL\x00"
# Below this size the CSV parses in a few milliseconds: no copy is worth a file beside it.
MIN_BYTES = 1_000_000
ALIGN = 64


def cache_path(source: Path, beside: bool = False) -> Path:
    """Where the columnar copy of ``source`` lives: in the user's cache folder, keyed by the
    file's absolute path, or (``beside``) next to the file."""
    if beside:
        return source.with_name(f".{source.name}.columns")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:24]
    return root / "paperbot" / "candles" / f"{digest}.columns"


def _key(stat: os.stat_result) -> list[int]:
    return [FORMAT_VERSION, int(stat.st_size), int(stat.st_mtime_ns)]


Read = tuple[pd.DataFrame, tuple[str, ...]]


def _read_copy(copy: Path, key: list[int]) -> Read | None:
    """The (frame, notes) held by ``copy`` when its key matches, else None.

    The columns are memory-mapped copy-on-write: nothing is read until used, nothing is
    copied, and a caller writing into a column changes only its own pages.
    """
    try:
        with copy.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                return None
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
        if header.get("key") != key:
            return None
        rows = int(header["rows"])
        grid = np.memmap(copy, dtype=np.float64, mode="c", offset=int(header["offset"]),
                         shape=(len(CANDLE_COLUMNS), rows)).view(np.ndarray)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    columns = {"timestamp": grid[0].view(np.int64)}
    columns.update({col: grid[k] for k, col in enumerate(CANDLE_COLUMNS) if k})
    # copy=False keeps one block per column: no 48 MB consolidation copy.
    frame = pd.DataFrame(columns, copy=False)
    return frame, tuple(str(line) for line in header.get("notes", []))


def _write_copy(copy: Path, key: list[int], read: Read) -> bool:
    """Write the copy atomically (temporary file, then rename); False when it cannot be.

    Layout: MAGIC, an 8-byte header length, a JSON header (key, rows, notes, data offset),
    padding, then the six columns as one C-ordered float64 block (timestamps bit-cast).
    """
    frame, notes = read
    rows = len(frame)
    grid = np.empty((len(CANDLE_COLUMNS), rows), dtype=np.float64)
    grid[0] = frame["timestamp"].to_numpy(dtype=np.int64).view(np.float64)
    for k, col in enumerate(CANDLE_COLUMNS[1:], start=1):
        grid[k] = frame[col].to_numpy(dtype=np.float64)
    header = {"key": key, "rows": rows, "notes": list(notes), "offset": 0}
    text = json.dumps(header).encode()
    offset = -(-(len(MAGIC) + 8 + len(text) + 32) // ALIGN) * ALIGN
    header["offset"] = offset
    text = json.dumps(header).encode().ljust(offset - len(MAGIC) - 8)
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=copy.name, suffix=".tmp", dir=copy.parent)
    except OSError:
        return False
    try:
        os.fchmod(fd, 0o644)  # a cache anyone who may read the CSV may read too
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + len(text).to_bytes(8, "little") + text)
            handle.write(grid.tobytes())
        os.replace(tmp, copy)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False


def cached_read(
    path: str | Path,
    reader: Callable[[Path], Read],
    min_bytes: int = MIN_BYTES,
) -> Read:
    """``reader(path)`` -> (frame, notes), served from the columnar copy when it is current.

    A miss reads the file with ``reader`` (its errors propagate unchanged) and, when the file
    did not change while it was read, stores the copy for the next call.
    """
    path = Path(path)
    try:
        before = path.stat()
    except OSError:
        return reader(path)
    if before.st_size < min_bytes or not path.is_file():
        return reader(path)
    key = _key(before)
    # The user's cache folder first: a data folder, a checkout's fixtures or a shared
    # read-only copy stay as they are; beside the file only when that folder cannot be used.
    places = (cache_path(path, beside=False), cache_path(path, beside=True))
    for copy in places:
        hit = _read_copy(copy, key)
        if hit is not None:
            return hit
    read = reader(path)
    try:
        unchanged = _key(path.stat()) == key
    except OSError:
        unchanged = False
    if unchanged:
        for copy in places:
            if _write_copy(copy, key, read):
                break
    return read
