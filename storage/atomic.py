"""Crash-safe file primitives: atomic replace and partial-last-line repair.

A process killed at any instant must leave either the old or the new content of a state
file, and at most one partial last line at the end of an append-only journal.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


def fsync_dir(directory: str | Path) -> None:
    """Flush a directory entry (a rename or a new file) to disk where the OS supports it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some file systems (and Windows) cannot fsync a directory; the rename still happened.
        pass
    finally:
        os.close(fd)


def temp_files_for(path: str | Path) -> list[Path]:
    """Temporary files a killed ``write_atomic`` of ``path`` may have left behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = f"{TEMP_PREFIX}{path.name}.*{TEMP_SUFFIX}"
    return sorted(path.parent.glob(pattern))


def write_atomic(path: str | Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Writes a temporary file in the same directory (same file system, so the rename is
    atomic) with permission ``mode``, flushes and fsyncs it, renames it over ``path`` and
    fsyncs the directory so the rename itself survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def cut_partial_tail(path: str | Path) -> bytes:
    """Cut a last line that lacks its newline (a killed writer's leftover); return what was cut.

    Returns ``b""`` when the file is absent, empty or ends with a newline. Only the tail is
    read, so the cost does not grow with the file.
    """
    return repair_tail(path, lambda _line: False)[1]


CUT = "cut"
COMPLETED = "completed"


def repair_tail(path: str | Path, is_complete: Callable[[bytes], bool]) -> tuple[str, bytes]:
    """Make ``path`` end on a whole line before anything is appended to it.

    A last line without its newline is either a complete row that only lacks the newline
    (``is_complete(line)`` says so): the newline is added, ``("completed", line)``; or what a
    write cut short left: it is cut, ``("cut", line)``. ``("", b"")`` when nothing was wrong.
    Only the tail is read, so the cost does not grow with the file.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return "", b""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return "", b""
        block = min(size, 4096)
        while True:
            handle.seek(size - block)
            tail = handle.read(block)
            cut = tail.rfind(b"\n")
            if cut >= 0 or block == size:
                break
            block = min(size, block * 2)
        keep = size - block + cut + 1 if cut >= 0 else 0
        handle.seek(keep)
        removed = handle.read()
        if is_complete(removed):
            handle.seek(size)
            handle.write(b"\n")
            outcome = COMPLETED
        else:
            handle.truncate(keep)
            outcome = CUT
        handle.flush()
        os.fsync(handle.fileno())
    return outcome, removed


def append_whole(path: str | Path, data: bytes) -> None:
    """Append ``data`` (whole lines) and fsync; on any failure the file is cut back to its old
    size, so an append is all of ``data`` or nothing (a full disk cannot leave half a row).

    A process killed mid-write can still leave a partial line; ``repair_tail`` handles that.
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        before = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise
    finally:
        os.close(fd)


def move_aside(path: str | Path) -> Path:
    """Rename a damaged ``path`` to a free ``<name>.corrupt-<UTC stamp>[-n]``; the new path.

    The bytes are kept (never overwritten or deleted) for the user to inspect or repair.
    """
    path = Path(path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = path.with_name(f"{path.name}.corrupt-{stamp}")
    aside, counter = base, 1
    while aside.exists():
        aside = base.with_name(f"{base.name}-{counter}")
        counter += 1
    os.replace(path, aside)
    return aside
