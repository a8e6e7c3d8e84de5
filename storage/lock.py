"""One process per data folder: an OS-level lock held for the life of the process.

``DataDirLock`` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<DATA_DIR>/.paperbot.lock`` and
writes the holder's PID into it. The kernel drops the lock when the process ends, however it
ends (SIGKILL included), so there is never a stale lock to clean up; the file itself stays (a
lock file that is deleted and re-created lets two processes hold "the" lock at once).
A second holder gets ``DataDirLocked`` whose one-line message names the holder's PID.
``lock_holder`` tells a reader (``status``) which PID holds a folder, without taking it.
See docs/decisions/0090-data-folder-lock.md.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

LOCK_NAME = ".paperbot.lock"
# A holder writes its PID just after taking the lock; a reader that sees the lock held but
# the file still empty waits this long for the PID to appear.
PID_WAIT_S = 0.5


class DataDirLocked(Exception):
    """Another live process holds the data folder; ``pid`` is its PID (None if unknown)."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"PID {pid}" if pid is not None else "a process whose PID is not known yet"
        super().__init__(
            f"{data_dir} is in use by another bot or command ({who}); stop that process"
            " first, or give this one another folder (DATA_DIR or --data-dir)"
        )
        self.data_dir = data_dir
        self.pid = pid


class DataDirLockError(Exception):
    """The lock file cannot be created or opened; the message is one line with the fix."""


def lock_path(data_dir: Path) -> Path:
    """Where the lock file of ``data_dir`` lives."""
    return Path(data_dir) / LOCK_NAME


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _held_by_other(fd: int) -> bool:
    """True when another open file holds an exclusive lock on ``fd``'s file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _holder_pid(fd: int) -> int | None:
    """The PID written in a held lock file, waiting briefly for a holder still writing it."""
    deadline = time.monotonic() + PID_WAIT_S
    pid = _read_pid(fd)
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.02)
        pid = _read_pid(fd)
    return pid


def lock_holder(data_dir: Path) -> int | None:
    """PID of the live process holding ``data_dir``'s lock; None when nobody holds it.

    Only looks: the lock is never taken, and no file is created.
    """
    path = lock_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if not _held_by_other(fd):
            return None
        return _holder_pid(fd)
    finally:
        os.close(fd)


class DataDirLock:
    """Exclusive lock on a data folder, as a context manager or via ``acquire``/``release``.

    ``with DataDirLock(folder):`` creates the folder if needed, takes the lock or raises
    ``DataDirLocked`` (another holder) or ``DataDirLockError`` (the folder is unusable).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = lock_path(self.data_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        """Take the lock (non-blocking) and write this process's PID into the lock file."""
        if self._fd is not None:
            return self
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # O_CLOEXEC (Python's default): a child process never inherits the lock.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DataDirLockError(
                f"cannot create the lock file {self.path} ({exc.strerror}); make"
                f" {self.data_dir} a writable folder or choose another DATA_DIR / --data-dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            try:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise DataDirLockError(
                        f"cannot lock {self.path} ({exc.strerror}); put DATA_DIR on a local"
                        " file system"
                    ) from None
                raise DataDirLocked(self.data_dir, _holder_pid(fd)) from None
            finally:
                os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (closing the file drops it); the file stays for the next holder.

        The PID is left in the file: it means nothing once the lock is free, and clearing it
        first would show a reader a held lock with no PID.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_if_bot_folder(out: Path, data_dir: Path | None = None) -> DataDirLock | None:
    """The lock of the folder ``out`` is written into, taken, when a bot uses that folder.

    A bot's folder is ``data_dir`` (DATA_DIR) or any folder holding the lock file (every bot
    that ever ran there left it). Writing a candle file there while a bot appends to it
    would interleave rows, so the writer takes the lock (DataDirLocked if a bot holds it).
    None for an unrelated folder, which is left without a lock file.
    """
    folder = Path(out).resolve().parent
    ours = data_dir is not None and folder == Path(data_dir).resolve()
    if not ours and not lock_path(folder).exists():
        return None
    return DataDirLock(folder).acquire()
