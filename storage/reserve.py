"""A reserve of disk space that keeps an open position protected while the disk is full.

Every order first saves its intent (crash-safe sequence, decision 0041), so on a full disk a
stop-loss or take-profit could not fire. The bot keeps ``<DATA_DIR>/.paperbot.reserve``, a
file of ``RESERVE_BYTES`` really allocated on disk. When a state save or a journal append
fails with "no space left", the reserve is deleted and the write tried once more: the space
it frees is far more than the few KB the exit of a position needs (intent, journal row,
state). No new position is opened while the reserve cannot be made again, so every open
position has its reserve. See docs/decisions/0093-disk-full-position-protection.md.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

RESERVE_NAME = ".paperbot.reserve"
RESERVE_BYTES = 1024 * 1024
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

T = TypeVar("T")
log = logging.getLogger("paperbot")


def disk_full(exc: BaseException) -> bool:
    """True for "no space left on device" or "disk quota exceeded"."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class DiskReserve:
    """The reserve file of one data folder."""

    def __init__(self, data_dir: Path, size: int = RESERVE_BYTES) -> None:
        if size < 1:
            raise ValueError(f"the reserve needs at least 1 byte, got {size}")
        self.path = Path(data_dir) / RESERVE_NAME
        self.size = size

    @property
    def held(self) -> bool:
        """True while the reserve file exists at its full size."""
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Make the reserve if it is missing; False when the disk has no room for it.

        The blocks are allocated (``posix_fallocate``), not a sparse hole, and the file is
        written under a temporary name first so a half-made reserve is never counted.
        """
        if self.held:
            return True
        temp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
            return False
        return True

    def ready(self) -> bool:
        """True when the reserve is in place and as much again is free besides it.

        The headroom matters: right after a release, making the reserve again could take the
        last free block, and the next write would release it again at once.
        """
        if not self.ensure():
            return False
        try:
            stats = os.statvfs(self.path.parent)
        except OSError:
            return True  # no way to tell: the reserve itself is there
        return stats.f_bavail * stats.f_frsize >= self.size

    def release(self) -> bool:
        """Delete the reserve to free its space; False when there was none to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def write_or_release(self, write: Callable[[], T], what: str) -> T:
        """``write()``; on a full disk, free the reserve and try once more.

        The error of the second try (or of the first, when no reserve was left) propagates.
        """
        try:
            return write()
        except OSError as exc:
            if not disk_full(exc) or not self.release():
                raise
        log.error("The disk is full while %s: released the %d KB reserve kept for this, so an"
                  " open position stays protected. Free disk space; no new position is opened"
                  " until the reserve can be made again", what, self.size // 1024)
        return write()
