"""What running unattended costs the loop: candles/s with and without every listener.

Runs ``main.py --speed max --max-candles N --quiet`` on the built-in emulator twice in fresh
folders: once plain (the status file only), once with metrics served (METRICS_PORT=0) and
alerts sent to a local JSON receiver (every kind). Then times ``DeliveryWorker.submit`` with a
target that never answers, the cost the loop pays per alert. Prints figures; asserts nothing.

    .venv/bin/python bench/operations_overhead.py [--candles 300]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.http_receiver import Receiver  # noqa: E402


def timed_run(candles: int, extra_env: dict[str, str]) -> float:
    """Wall seconds of one bot run of ``candles`` candles at --speed max."""
    with tempfile.TemporaryDirectory() as folder:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": folder, "LANG": "C.UTF-8",
               "HISTORY_CANDLES": "60", "STRATEGY": "ma2line", **extra_env}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "main.py", "--speed", "max", "--max-candles", str(candles),
             "--quiet", "--data-dir", f"{folder}/data", "--logs-dir", f"{folder}/logs"],
            cwd=PROJECT, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bot run failed: {done.stderr.strip()}")
    return elapsed


def submit_cost_us(count: int = 200) -> float:
    """Microseconds per ``submit`` while the only target hangs (the loop's cost per alert)."""
    from ops.notify import ALERTS_LOGGER, DeliveryWorker

    # The delivery failures are expected here; without a handler they would hit stderr.
    logging.getLogger(ALERTS_LOGGER).addHandler(logging.NullHandler())
    with Receiver("hang") as hang:
        worker = DeliveryWorker([hang.url(0.5)], queue_size=count + 1)
        started = time.perf_counter()
        for n in range(count):
            worker.submit("bench", f"message {n}")
        elapsed = time.perf_counter() - started
        hang.released.set()
        worker.close(0.1)
    return elapsed / count * 1e6


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=300)
    args = parser.parse_args(argv)
    plain = timed_run(args.candles, {})
    with Receiver() as receiver:
        full = timed_run(args.candles, {"METRICS_PORT": "0", "NOTIFY_URLS": receiver.url()})
        alerts = len(receiver.posts)
    print(f"{args.candles} candles at --speed max (process start included)")
    print(f"  plain:                     {plain:6.2f} s  {args.candles / plain:7.1f} candles/s")
    print(f"  metrics + alerts ({alerts:3d} sent): {full:6.2f} s  {args.candles / full:7.1f}"
          " candles/s")
    print(f"  DeliveryWorker.submit with a hanging target: {submit_cost_us():.1f} us per alert")
    return 0


if __name__ == "__main__":
    sys.exit(main())
