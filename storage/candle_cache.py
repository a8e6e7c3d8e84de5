"""A columnar copy of a candle file, so a repeated read skips parsing the CSV.

The copy is one uncompressed numpy ``.npz`` archive (one array per candle column, the key and
the reader's one-line notes) kept beside the file as ``.<name>.columns.npz``, or, when that
folder is not writable, in ``$XDG_CACHE_HOME/paperbot/candles/`` (``~/.cache/...``). It is
keyed by the source file's size and modification time (nanoseconds): any change to the file,
an append by the bot included, makes the key differ and the copy is rebuilt from the file on
the next read. The copy holds candles that already passed the reader's checks, so a hit is
not validated again. A copy that cannot be written or read back is ignored (the file is
parsed as before), never an error. See docs/decisions/0154-candle-cache.md.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.candles import CANDLE_COLUMNS

FORMAT_VERSION = 1
# Below this size the CSV parses in a few milliseconds: no copy is worth a file beside it.
MIN_BYTES = 1_000_000


def cache_path(source: Path, beside: bool = True) -> Path:
    """Where the columnar copy of ``source`` lives: beside it, or in the user's cache folder."""
    if beside:
        return source.with_name(f".{source.name}.columns.npz")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:24]
    return root / "paperbot" / "candles" / f"{digest}.npz"


def _key(stat: os.stat_result) -> np.ndarray:
    return np.array([FORMAT_VERSION, stat.st_size, stat.st_mtime_ns], dtype=np.int64)


Read = tuple[pd.DataFrame, tuple[str, ...]]


def _read_copy(copy: Path, key: np.ndarray) -> Read | None:
    """The (frame, notes) held by ``copy`` when its key matches, else None."""
    try:
        with np.load(copy, allow_pickle=False) as archive:
            if not np.array_equal(archive["key"], key):
                return None
            # copy=False keeps one block per column: no 48 MB consolidation copy.
            frame = pd.DataFrame({col: archive[col] for col in CANDLE_COLUMNS}, copy=False)
            return frame, tuple(str(line) for line in archive["notes"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None


def _write_copy(copy: Path, key: np.ndarray, read: Read) -> bool:
    """Write the copy atomically (temporary file, then rename); False when it cannot be."""
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=copy.name, suffix=".tmp", dir=copy.parent)
    except OSError:
        return False
    try:
        os.fchmod(fd, 0o644)  # a cache anyone who may read the CSV may read too
        with os.fdopen(fd, "wb") as handle:
            frame, notes = read
            arrays = {col: frame[col].to_numpy() for col in CANDLE_COLUMNS}
            np.savez(handle, key=key, notes=np.array(notes, dtype=str), **arrays)
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
    places = (cache_path(path, beside=True), cache_path(path, beside=False))
    for copy in places:
        hit = _read_copy(copy, key)
        if hit is not None:
            return hit
    read = reader(path)
    try:
        unchanged = np.array_equal(_key(path.stat()), key)
    except OSError:
        unchanged = False
    if unchanged:
        for copy in places:
            if _write_copy(copy, key, read):
                break
    return read
