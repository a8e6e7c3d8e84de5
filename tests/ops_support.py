"""Helpers for operations tests: run the bot on a pseudo-terminal, wait for a log line."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.main_subprocess import child_env


def run_on_terminal(project: Path, *args: str, env: dict[str, str] | None = None,
                    timeout: float = 60) -> tuple[int, str]:
    """``python main.py *args`` with stdout on a pseudo-terminal; (exit status, what it showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "main.py", *args], cwd=project,
                            env=child_env(project, env), stdout=follower,
                            stderr=subprocess.DEVNULL, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return status, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def wait_for_line(path: Path, pattern: str, timeout: float = 30.0) -> re.Match:
    """The first match of ``pattern`` in the file at ``path`` once it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            match = re.search(pattern, path.read_text(encoding="utf-8", errors="replace"))
            if match:
                return match
        time.sleep(0.05)
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "(none)"
    raise AssertionError(f"{pattern!r} never appeared in {path}: {text[-2000:]}")
