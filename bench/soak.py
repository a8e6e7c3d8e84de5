"""Soak benchmark: the bot on the built-in emulator for 72 simulated hours of 1-minute candles.

Usage: ``python bench/soak.py [--candles 4320] [--log-max-bytes N] [--strategy NAME]
[--keep DIR]``

Runs ``python main.py --exchange local --speed max --max-candles N --quiet`` as a child process
(its own data and logs folders in a temporary directory) and samples it from outside every
0.1 s: resident memory (``VmRSS``) and its peak (``VmHWM``) from ``/proc/<pid>/status``, CPU
seconds (user + system) from ``/proc/<pid>/stat``, and how many candles it has stored (the tail
of its candle file). It prints candles processed, fills and closed trades, memory at the end of
the first hour, the middle and the end, CPU seconds per candle over the first and the last
hour (and 6 hours) of simulated time, and the size of every log and CSV it left.

Targets (docs/readme/soak.md): RSS growth under 10 MB from the first hour to the last; CPU per
candle independent of how many candles are stored; logs bounded by rotation (run once with
``--log-max-bytes 20000`` to watch them rotate).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from storage.candles import last_stored_timestamp  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
HISTORY = 200  # HISTORY_CANDLES: the first cycle stores this many candles at once
SAMPLE_S = 0.1


@dataclass(frozen=True)
class Sample:
    """The child process at one instant."""

    wall_s: float
    cpu_s: float
    rss_kb: int
    hwm_kb: int
    candles: int  # candles acted on so far (stored rows beyond the first window)


def read_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (kB) of a process from /proc; {} when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process from /proc/<pid>/stat; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; the numeric fields start after its closing parenthesis.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def stored_candles(csv: Path, first_ms: list[int]) -> int:
    """Candles acted on so far, from the candle file's first and last timestamps."""
    if not first_ms:
        try:
            with csv.open("rb") as handle:
                handle.readline()
                line = handle.readline()
        except OSError:
            return 0
        if not line.endswith(b"\n"):
            return 0
        first_ms.append(int(line.split(b",", 1)[0]))
    last = last_stored_timestamp(csv)
    if last is None:
        return 0
    rows = (last - first_ms[0]) // 60_000 + 1
    return max(0, rows - HISTORY + 1)


def sample_run(cmd: list[str], env: dict[str, str], csv: Path) -> tuple[list[Sample], int, str]:
    """Run ``cmd`` and sample it until it exits: (samples, exit status, stderr)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    samples: list[Sample] = []
    first_ms: list[int] = []
    while proc.poll() is None:
        status, cpu = read_status(proc.pid), read_cpu_seconds(proc.pid)
        if status and cpu is not None:
            samples.append(Sample(time.perf_counter() - started, cpu, status.get("VmRSS", 0),
                                  status.get("VmHWM", 0), stored_candles(csv, first_ms)))
        time.sleep(SAMPLE_S)
    _, err = proc.communicate()
    return samples, proc.returncode, err


def at_candle(samples: list[Sample], n: int) -> Sample:
    """The first sample taken once ``n`` candles were done (the last one if never)."""
    return next((s for s in samples if s.candles >= n), samples[-1])


def cpu_per_candle(samples: list[Sample], lo: int, hi: int,
                   keep: Callable[[int], bool] | None = None) -> tuple[float, int]:
    """CPU seconds per candle from candle ``lo`` to ``hi``, and how many candles counted.

    With ``keep``, only stretches between two samples whose every candle passes it count
    (e.g. candles spent flat): holding a position costs a price poll every few seconds, so
    flat and long candles are compared separately.
    """
    cpu, count = 0.0, 0
    window = [s for s in samples if lo <= s.candles <= hi]
    for a, b in zip(window, window[1:], strict=False):
        done = range(a.candles + 1, b.candles + 1)
        if not done or (keep is not None and not all(keep(c) for c in done)):
            continue
        cpu += b.cpu_s - a.cpu_s
        count += len(done)
    if count == 0:
        return float("nan"), 0
    return cpu / count, count


def long_candles(root: Path, first_ms: int, total: int) -> set[int]:
    """Candle numbers (1 = the first acted on) during whose wait a position was open."""
    from datetime import datetime

    trades = root / "data" / "historical_trades.csv"
    if not trades.exists():
        return set()
    times = []
    for line in trades.read_text().splitlines()[1:]:
        stamp, _, side = line.split(",")[:3]
        ms = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
        times.append((side, ms))
    spans, opened = [], None
    for side, ms in times:
        if side == "buy":
            opened = ms
        elif opened is not None:
            spans.append((opened, ms))
            opened = None
    if opened is not None:
        spans.append((opened, 2**62))
    # Candle n is the row HISTORY - 1 + n; the bot waits for it from its open to 62 s later.
    return {n for n in range(1, total + 1)
            if any(first_ms + (HISTORY - 1 + n) * 60_000 < end
                   and first_ms + (HISTORY + n) * 60_000 + 2_000 > start
                   for start, end in spans)}


def file_sizes(*folders: Path) -> list[tuple[str, int]]:
    """(name relative to the run folder, bytes) of every file the bot left."""
    rows = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rows.append((f"{folder.name}/{path.relative_to(folder)}", path.stat().st_size))
    return rows


def first_candle_ms(root: Path) -> int | None:
    """Open time of the first row of the run's candle file."""
    csv = root / "data" / "historical_data.csv"
    try:
        with csv.open("rb") as handle:
            handle.readline()
            return int(handle.readline().split(b",", 1)[0])
    except (OSError, ValueError):
        return None


def journal_counts(root: Path) -> tuple[int, str]:
    """(fills in the trades journal, the bot's last summary line)."""
    trades = root / "data" / "historical_trades.csv"
    fills = max(0, len(trades.read_text().splitlines()) - 1) if trades.exists() else 0
    logs = sorted((root / "logs").glob("trading.log*"), key=lambda p: p.name)
    last = ""
    for path in logs:
        for line in path.read_text().splitlines():
            if "Stopped after" in line:
                last = line.split(" - ", 1)[-1]
    return fills, last


def report(samples: list[Sample], candles: int, root: Path, wall: float) -> str:
    """The printed figures."""
    hour = 60
    mid = candles // 2
    first, middle, end = at_candle(samples, hour), at_candle(samples, mid), samples[-1]
    fills, summary = journal_counts(root)
    lines = [
        f"candles processed: {end.candles:,} of {candles:,} ({candles / 60:.0f} simulated hours)"
        f" in {wall:.1f} s wall, {end.cpu_s:.1f} s CPU",
        f"fills: {fills}   {summary}",
        "memory (MB)           RSS    peak RSS",
        f"  after hour 1      {first.rss_kb / 1024:6.1f}  {first.hwm_kb / 1024:8.1f}",
        f"  middle (hour {mid // 60:>2}) {middle.rss_kb / 1024:6.1f}  {middle.hwm_kb / 1024:8.1f}",
        f"  end               {end.rss_kb / 1024:6.1f}  {end.hwm_kb / 1024:8.1f}",
        f"  growth hour 1 -> end: {(end.rss_kb - first.rss_kb) / 1024:+.1f} MB RSS,"
        f" {(end.hwm_kb - first.hwm_kb) / 1024:+.1f} MB peak",
    ]
    first_ms = first_candle_ms(root)
    held = long_candles(root, first_ms, candles) if first_ms is not None else set()
    lines.append(f"candles spent long (price polled every PRICE_POLL_SECONDS): {len(held):,}")
    lines.append("CPU ms per candle       all           flat          long")
    for span in (1, 6):
        n = span * 60
        if candles < 2 * n:
            continue
        for label, lo, hi in ((f"first {span} h", 0, n), (f"last {span} h", candles - n, candles)):
            cells = []
            for keep in (None, lambda c: c not in held, lambda c: c in held):
                per, count = cpu_per_candle(samples, lo, hi, keep)
                cells.append("   n/a      " if count == 0 else f"{per * 1000:5.1f} ({count:>4})")
            lines.append(f"  {label:<12} " + "  ".join(cells))
    lines.append("files:")
    lines += [f"  {name:<40} {size:>10,} bytes"
              for name, size in file_sizes(root / "data", root / "logs")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures; exit 1 if the bot failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=4320, help="default 4320 = 72 h of 1m")
    parser.add_argument("--log-max-bytes", type=int, default=None,
                        help="LOG_MAX_BYTES for the run (default: the bot's 5 MB)")
    parser.add_argument("--strategy", default="sma_rsi")
    parser.add_argument("--keep", type=Path, default=None, help="leave the run folder here")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="soak-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATA_DIR": str(root / "data"), "LOGS_DIR": str(root / "logs"),
           "STRATEGY": args.strategy, "EXCHANGE": "local", "BINANCE_TESTNET_API_KEY": "",
           "BINANCE_TESTNET_API_SECRET": ""}
    if args.log_max_bytes is not None:
        env["LOG_MAX_BYTES"] = str(args.log_max_bytes)
    cmd = [sys.executable, str(PROJECT / "main.py"), "--exchange", "local", "--speed", "max",
           "--max-candles", str(args.candles), "--quiet"]
    print("command: " + " ".join(["python", "main.py", *cmd[2:]])
          + (f"   (LOG_MAX_BYTES={args.log_max_bytes})" if args.log_max_bytes else ""))
    started = time.perf_counter()
    samples, status, err = sample_run(cmd, env, root / "data" / "historical_data.csv")
    wall = time.perf_counter() - started
    if status != 0 or not samples:
        print(f"the bot failed with status {status}: {err.strip()[-2000:]}", file=sys.stderr)
        return 1
    print(report(samples, args.candles, root, wall))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
