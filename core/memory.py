"""Keep large numpy temporaries on the heap instead of fresh mmap'ed pages.

glibc's malloc hands every block over its mmap threshold (128 KiB to 32 MiB, adaptive) to a
fresh ``mmap`` and returns it with ``munmap`` on free, so a backtest that creates and drops
dozens of 8 MB arrays per combination pays a page fault (and a zeroed page) for every 4 KiB
of each one: measured here, a third of a sweep's CPU time was system time. Raising the mmap
threshold and the trim threshold lets freed blocks be reused as they are. See
docs/decisions/0155-fast-fills.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_done = False


def reuse_freed_memory(threshold: int = 512 * 2**20) -> bool:
    """Ask glibc's malloc to keep blocks below ``threshold`` on the heap and not trim it.

    Returns True when applied (once per process; forked children inherit it), False where
    the C library has no ``mallopt`` (musl, macOS, Windows): nothing else changes there.
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                     2 * threshold))
    _done = ok
    return ok
