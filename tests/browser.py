"""Headless Chromium for the HTML report's tests: find it, load a page, read what it drew.

Chromium comes from the OS packages (``.ci/run`` installs Debian's ``chromium``). Every run
gets a fresh profile, no sandbox (CI runs as root), no GPU, no background traffic, and a
proxy on a closed loopback port, so a page that tried to fetch anything could not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--proxy-server=127.0.0.1:9", "--window-size=1400,900")


def find_chromium() -> str | None:
    """The path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, or skip the test saying how to get it."""
    found = find_chromium()
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium; .ci/run"
                    " installs it)")
    return found


def load(page: Path, *, fragment: str = "", screenshot: Path | None = None,
         budget_ms: int = 1500, timeout_s: float = 60) -> dict[str, str]:
    """Load ``page`` and return the ``data-*`` attributes of its body after the scripts ran.

    With ``screenshot`` a PNG of the window is written too (a second load).
    """
    binary = require_chromium()
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory() as profile:
        common = [binary, *FLAGS, f"--user-data-dir={profile}",
                  f"--virtual-time-budget={budget_ms}"]
        done = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    body = re.search(r"<body([^>]*)>", done.stdout)
    if body is None:
        raise AssertionError(f"Chromium printed no page body: {done.stderr[-500:]}")
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    if screenshot is not None:
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}",
                            f"--virtual-time-budget={budget_ms}",
                            f"--screenshot={screenshot}", url],
                           capture_output=True, timeout=timeout_s, check=False)
    return attributes
