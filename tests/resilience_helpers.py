"""Shared helpers of the resilience tests and scenarios.

Three kinds of helper:

* processes: a standalone emulator (``python main.py emulator``) and bot processes pointed at
  it, whose output is read by threads into queues so a test can never hang on a pipe;
* the seeded SIGKILL loop: start the bot, wait for a moment worth killing it at (an order
  executed on the emulator, a journal or candle write, a state save, or a random delay),
  SIGKILL it, restart it, while the emulator keeps running;
* the checks: journals against the emulator's fills, the candle file, and the bot's position
  against the emulator's balance. They return lists of problems (empty = fine), so a test can
  print all of them with the seed that produced them.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_DIR

PYTHON = sys.executable
START_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 5.0
EMULATOR_API_KEY = "emulator-api-key"
EMULATOR_API_SECRET = "emulator-api-secret"
START_BTC = 1.0  # the emulator's default base balance
LOT_STEP = 0.00001  # the emulator's BTCUSDT LOT_SIZE step
ORDER_PATH = "/api/v3/order"

# Settings that make the bot trade every few candles and leave it by SL/TP between candles:
# fast moving averages, tight stop-loss / take-profit, a short history window (quick restarts).
BUSY_BOT_SETTINGS = {
    "STRATEGY": "ma2line",
    "MA_FAST": "2",
    "MA_SLOW": "4",
    "HISTORY_CANDLES": "120",
    "STOP_LOSS_PERCENT": "0.002",
    "TAKE_PROFIT_PERCENT": "0.002",
    "PRICE_POLL_SECONDS": "10",
    "RETRY_BASE_DELAY": "1",
    "HEARTBEAT_SECONDS": "600",
}
# Settings of a developer's shell or .env that must not leak into the bot under test.
_FOREIGN_KEYS = ("EXCHANGE", "BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET",
                 "DATA_DIR", "LOGS_DIR", "SYMBOL", "TIMEFRAME", "TRADE_SIZE")


# --- processes ----------------------------------------------------------------------------


class ProcessOutput:
    """The lines a child prints, collected by a daemon thread so reading never blocks."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, needle: str, timeout_s: float) -> str:
        """The first line containing ``needle``; AssertionError with the output on timeout/EOF."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {needle!r} within {timeout_s} s; got "
                                     f"{self.lines[-20:]}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended before printing {needle!r}; got "
                                     f"{self.lines[-20:]}")
            self.lines.append(line)
            if needle in line:
                return line


def _stop_process(proc: subprocess.Popen, timeout_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL if it does not end within ``timeout_s``; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=timeout_s)


class EmulatorProcess:
    """``python main.py emulator`` on a free port, with its extension endpoints as methods."""

    def __init__(self, *, seed: int, speed: float) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "main.py", "emulator", "--port", "0", "--seed", str(seed),
             "--speed", str(speed)],
            cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.output = ProcessOutput(self.proc.stdout)
        try:
            line = self.output.wait_for("emulator listening on ", START_TIMEOUT_S)
        except AssertionError:
            _stop_process(self.proc)
            raise
        self.url = line.rsplit(" ", 1)[-1]
        self._exchange: Any = None

    def get(self, path: str) -> Any:
        """GET ``path`` on the emulator, parsed JSON."""
        with urllib.request.urlopen(self.url + path, timeout=HTTP_TIMEOUT_S) as reply:  # noqa: S310
            return json.loads(reply.read().decode("utf-8"))

    def fills(self) -> list[dict]:
        """Every fill the emulator made (``GET /emulator/fills``)."""
        return self.get("/emulator/fills")

    def fault(self, spec: Mapping[str, Any]) -> dict:
        """Arm a fault (``POST /emulator/fault``); the faults now armed."""
        request = urllib.request.Request(
            self.url + "/emulator/fault", data=json.dumps(dict(spec)).encode("utf-8"),
            headers={"X-MBX-APIKEY": EMULATOR_API_KEY, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:  # noqa: S310
            return json.loads(reply.read().decode("utf-8"))

    def balances(self) -> dict[str, float]:
        """Free balances, asked over the signed ``/api/v3/account`` with the real ccxt."""
        if self._exchange is None:
            from bot.wiring import remote_emulator_clock
            from exchange.ccxt_emulator import make_ccxt_for_emulator

            clock = remote_emulator_clock(self.url)
            self._exchange = make_ccxt_for_emulator(self.url, EMULATOR_API_KEY,
                                                    EMULATOR_API_SECRET, clock=clock)
        free = self._exchange.fetch_balance()["free"]
        return {asset: float(value or 0.0) for asset, value in free.items()}

    def stop(self) -> int:
        """Stop the emulator (SIGTERM); its exit status."""
        return _stop_process(self.proc)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bot_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a bot under test: this one, minus foreign settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_KEYS}
    env.update(BUSY_BOT_SETTINGS)
    env.update(overrides or {})
    return env


def bot_argv(url: str, workdir: Path, extra: Iterable[str] = ()) -> list[str]:
    """The arguments after ``main.py`` of a bot under test pointed at ``url``."""
    return ["--exchange-url", url, "--data-dir", str(workdir / "data"), "--logs-dir",
            str(workdir / "logs"), "--quiet", *extra]


class BotProcess:
    """``python main.py --exchange-url URL --data-dir D --logs-dir L --quiet`` in a child.

    stderr is appended to ``<workdir>/bot-stderr.txt`` (a crash of the bot itself would show
    there); stdout is discarded.
    """

    def __init__(self, url: str, workdir: Path, env: Mapping[str, str],
                 extra: Iterable[str] = ()) -> None:
        self.workdir = Path(workdir)
        self.started = time.monotonic()
        with (self.workdir / "bot-stderr.txt").open("ab") as err:
            self.proc = subprocess.Popen(
                [PYTHON, "main.py", *bot_argv(url, self.workdir, extra)],
                cwd=PROJECT_DIR, env=dict(env), stdout=subprocess.DEVNULL, stderr=err,
            )

    def poll(self) -> int | None:
        """The exit status once the process ended, else None."""
        return self.proc.poll()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler, no flush, no cleanup."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=HTTP_TIMEOUT_S)

    def wait(self, timeout_s: float) -> int:
        """The exit status of a bot run to its end; SIGKILL and AssertionError on timeout."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the bot did not finish within {timeout_s} s") from None


# --- the kill loop ------------------------------------------------------------------------

DEFAULT_KILLS = 30


def crash_seed() -> int:
    """``CRASH_TEST_SEED`` when set, else a fresh seed (printed with any failure)."""
    raw = os.environ.get("CRASH_TEST_SEED", "").strip()
    return int(raw) if raw else random.SystemRandom().randrange(1_000_000)


def crash_kills(default: int = DEFAULT_KILLS) -> int:
    """``CRASH_TEST_KILLS`` when set (at least 1), else ``default``."""
    raw = os.environ.get("CRASH_TEST_KILLS", "").strip()
    return max(1, int(raw)) if raw else default


# When to kill, with the weight of each: "order" holds the emulator's answer to the next order
# back and kills as soon as the order has executed (sent, filled, not yet answered); "fill"
# kills just after an order executed; "journal" / "candles" / "state" just after that file
# changed; "random" after a random delay from the start (some land in start-up or reconcile).
TRIGGER_WEIGHTS = {"order": 3, "fill": 2, "journal": 2, "candles": 2, "state": 1, "random": 2}
# Long enough that a loaded 2-core machine still kills before the answer arrives.
ORDER_ANSWER_DELAY_S = 2.0
TRIGGER_DEADLINE_S = 3.5
POLL_S = 0.002
TORN_CANDLE_CHANCE = 0.2
TORN_JOURNAL_CHANCE = 0.15


@dataclass
class KillReport:
    """What a kill loop did: kills by trigger, triggers that fired, torn tails left, time."""

    seed: int
    kills: int = 0
    by_trigger: Counter = field(default_factory=Counter)
    fired: Counter = field(default_factory=Counter)
    torn: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    plan: list[str] = field(default_factory=list)
    # Client ids of orders that had executed while the killed bot still held them as
    # pending intents (its answer never arrived): the restart must find and journal each.
    in_flight: set[str] = field(default_factory=set)

    def summary(self) -> str:
        """One line for assertion messages and the benchmark."""
        return (f"seed {self.seed}: {self.kills} kills in {self.seconds:.1f} s; by trigger "
                f"{dict(self.by_trigger)}; fired {dict(self.fired)}; torn tails "
                f"{dict(self.torn)}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_ino, st.st_mtime_ns)


def wait_until(condition: Callable[[], bool], deadline: float, interval_s: float = POLL_S,
               alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``condition`` until true (True) or ``deadline`` (monotonic) / ``alive`` fails."""
    while time.monotonic() < deadline and alive():
        if condition():
            return True
        time.sleep(interval_s)
    return False


class KillLoop:
    """Start, kill at a chosen moment, restart: ``kills`` times, planned by ``random.Random(seed)``.

    The plan (trigger, delays, torn tails) depends only on the seed; the exact instant each
    kill lands depends on scheduling, so a replay reruns the same plan, not the same
    interleaving. ``start_bot(url, workdir, env)`` starts one life: a ``BotProcess`` unless
    told otherwise (the crash scenario forks its lives from a ``tests.bot_zygote.Zygote``).
    """

    def __init__(self, emulator: EmulatorProcess, workdir: Path, env: Mapping[str, str],
                 seed: int, start_bot: Callable[[str, Path, Mapping[str, str]], Any] = BotProcess
                 ) -> None:
        self.emulator = emulator
        self.start_bot = start_bot
        self.workdir = Path(workdir)
        self.env = dict(env)
        self.rng = random.Random(seed)
        self.report = KillReport(seed=seed)
        data = self.workdir / "data"
        self.candles_csv = data / "historical_data.csv"
        self.trades_csv = data / "historical_trades.csv"
        self.state_file = data / "state.json"

    def run(self, kills: int, triggers: Sequence[str] = ()) -> KillReport:
        """Do ``kills`` kill-and-restart rounds; the report.

        ``triggers`` fixes the first rounds' triggers (e.g. one of each kind); the rest are
        drawn by ``TRIGGER_WEIGHTS``.
        """
        started = time.monotonic()
        names = list(TRIGGER_WEIGHTS)
        weights = [TRIGGER_WEIGHTS[n] for n in names]
        unknown = set(triggers) - set(names)
        if unknown:
            raise ValueError(f"unknown kill trigger(s) {sorted(unknown)}; use {names}")
        for number in range(kills):
            drawn = self.rng.choices(names, weights)[0]
            trigger = triggers[number] if number < len(triggers) else drawn
            self.report.plan.append(trigger)
            self.round(trigger)
        self.report.seconds = time.monotonic() - started
        return self.report

    def round(self, trigger: str) -> None:
        """One bot life ended by SIGKILL at ``trigger`` (or at the deadline)."""
        delay = self.rng.uniform(0.0, 0.015)
        random_delay = self.rng.uniform(0.2, 2.5)
        tear = self.rng.random()
        if trigger == "order":
            self.emulator.fault({"fault": "slow", "count": 1, "delay_s": ORDER_ANSWER_DELAY_S,
                                 "method": "POST", "path": ORDER_PATH})
        candles_before = _size(self.candles_csv)
        bot = self.start_bot(self.emulator.url, self.workdir, self.env)
        try:
            fired = self._wait(trigger, bot, bot.started + TRIGGER_DEADLINE_S, random_delay)
            if not fired:
                # A slow machine must not turn every life into a start-up that is killed
                # before its first cycle: lives would do nothing and the candles would gap.
                wait_until(lambda: _size(self.candles_csv) != candles_before,
                           bot.started + START_TIMEOUT_S, alive=bot.alive)
            if fired and trigger == "fill":
                time.sleep(delay)
            elif fired and trigger == "candles":
                time.sleep(delay / 5)
            if not bot.alive():
                raise AssertionError(f"the bot exited by itself (status {bot.poll()})"
                                     f" before a kill; see {self.workdir / 'bot-stderr.txt'}")
        finally:
            bot.kill()
        if trigger == "order":
            self.emulator.fault({"fault": "clear"})
            if fired:
                self._note_in_flight()
        self.report.kills += 1
        self.report.by_trigger[trigger] += 1
        if fired:
            self.report.fired[trigger] += 1
        self._tear(tear)

    def _note_in_flight(self) -> None:
        """Record the pending intent the killed bot left, if the kill beat the answer."""
        try:
            pending = json.loads(self.state_file.read_text(encoding="utf-8")).get("pending")
        except (OSError, ValueError):
            return
        if isinstance(pending, dict) and pending.get("client_order_id"):
            self.report.in_flight.add(str(pending["client_order_id"]))

    def _wait(self, trigger: str, bot: Any, deadline: float, random_delay: float) -> bool:
        if trigger == "random":
            time.sleep(max(0.0, bot.started + random_delay - time.monotonic()))
            return True
        if trigger in ("order", "fill"):
            base = len(self.emulator.fills())
            return wait_until(lambda: len(self.emulator.fills()) > base, deadline,
                              interval_s=0.004, alive=bot.alive)
        if trigger == "state":
            before = _stamp(self.state_file)
            return wait_until(lambda: _stamp(self.state_file) != before, deadline,
                              alive=bot.alive)
        path = self.trades_csv if trigger == "journal" else self.candles_csv
        size = _size(path)
        return wait_until(lambda: _size(path) != size, deadline, alive=bot.alive)

    def _tear(self, draw: float) -> None:
        """Sometimes leave what a write cut short leaves: the start of a line, no newline.

        A torn candle row is always possible (candles are appended every cycle); a torn
        journal row only while an order's outcome is pending in the state (a fill is journaled
        before the intent is cleared), so only then is one left.
        """
        if draw < TORN_CANDLE_CHANCE and _size(self.candles_csv) > 0:
            with self.candles_csv.open("ab") as handle:
                handle.write(b"17" + str(int(draw * 1e9)).encode())
            self.report.torn["candles"] += 1
            return
        if draw < TORN_CANDLE_CHANCE + TORN_JOURNAL_CHANCE and self._pending():
            with self.trades_csv.open("ab") as handle:
                handle.write(b"2030-01-01T00:00:00Z,9")
            self.report.torn["journal"] += 1

    def _pending(self) -> bool:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return bool(state.get("pending")) and _size(self.trades_csv) > 0


# --- checks -------------------------------------------------------------------------------


def fill_keys(fills: Iterable[Any]) -> list[tuple[str, str]]:
    """(client order id, order id) of each fill: emulator JSON dicts or ``Fill`` records."""
    keys = []
    for fill in fills:
        if isinstance(fill, Mapping):
            keys.append((str(fill["client_order_id"]), str(fill["order_id"])))
        else:
            keys.append((str(fill.client_order_id), str(fill.order_id)))
    return keys


def journal_problems(trades_csv: Path, fills: Iterable[Any]) -> list[str]:
    """Every way the trades journal disagrees with the exchange's fills; [] when it agrees.

    The file must parse (``load_rows`` and ``read_trades``), end with a newline, and hold each
    fill exactly once by client order id and by order id, and no fill row the exchange never
    made. Rows without an order id (testnet wipes) are not fills and are skipped.
    """
    from storage.trades import TradeJournalError, load_rows, read_trades

    problems: list[str] = []
    path = Path(trades_csv)
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        problems.append(f"{path.name} ends in a partial line")
    try:
        rows = load_rows(path)
        read_trades(path)
    except (TradeJournalError, ValueError) as exc:
        return problems + [f"{path.name} does not parse: {exc}"]
    journaled = [(r["client_order_id"], r["order_id"]) for r in rows if r["order_id"]]
    made = fill_keys(fills)
    for label, index in (("client order id", 0), ("order id", 1)):
        counts = Counter(key[index] for key in journaled)
        twice = sorted(k for k, n in counts.items() if n > 1)
        if twice:
            problems.append(f"{label}s journaled more than once: {twice}")
    missing = sorted(set(made) - set(journaled))
    extra = sorted(set(journaled) - set(made))
    if missing:
        problems.append(f"fills missing from the journal: {missing}")
    if extra:
        problems.append(f"journal rows the exchange never filled: {extra}")
    return problems


def candle_problems(candles_csv: Path, timeframe_ms: int = 60_000) -> list[str]:
    """Problems of the candle file: unreadable, partial last line, duplicate, off-grid or missing
    candles (a gap)."""
    from storage.candles import CandleFileError, read_candles

    path = Path(candles_csv)
    if not path.is_file():
        return [f"{path.name} was never written"]
    problems = []
    if not path.read_bytes().endswith(b"\n"):
        problems.append(f"{path.name} ends in a partial line")
    try:
        frame = read_candles(path)
    except CandleFileError as exc:
        return problems + [str(exc)]
    stamps = frame["timestamp"]
    if not stamps.is_unique:
        problems.append(f"duplicate candle timestamps: {sorted(stamps[stamps.duplicated()])[:5]}")
    if (stamps % timeframe_ms != 0).any():
        problems.append("a candle timestamp is not on the timeframe grid")
    gaps = frame["timestamp"][stamps.diff() > timeframe_ms]
    if len(gaps):
        problems.append(f"{len(gaps)} gap(s) in the candles, the first before {gaps.iloc[0]}")
    return problems


def leftover_problems(data_dir: Path) -> list[str]:
    """Files a clean start should never leave: damaged files moved aside, temp files of saves.

    A ``.corrupt-`` copy means the bot found a file it could not read and started afresh,
    which after a mere kill means the kill lost data.
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        return []
    return [f"left in {directory.name}: {p.name}" for p in sorted(directory.iterdir())
            if ".corrupt-" in p.name or p.name.endswith(".tmp")]


def journal_base_delta(rows: Iterable[Mapping[str, str]], base: str = "BTC") -> float:
    """Base asset the journaled fills moved: buys add quantity less a base fee, sells subtract."""
    delta = 0.0
    for row in rows:
        if not row["order_id"]:
            continue
        quantity = float(row["quantity"])
        if row["side"] == "buy":
            fee = float(row["fee"] or 0) if row["fee_currency"] == base else 0.0
            delta += quantity - fee
        else:
            delta -= quantity
    return delta


def position_problems(state_file: Path, trades_csv: Path, base_balance: float,
                      start_base: float = START_BTC, step: float = LOT_STEP) -> list[str]:
    """Problems of the saved position against the exchange's base balance.

    The base the bot added to the account (balance - ``start_base``) must equal what the
    journaled fills moved, and the position held must equal it up to the dust each closed
    round trip leaves (a sell is rounded down to the lot ``step``). No order may be pending.
    """
    from storage.state import StateStore
    from storage.trades import load_rows

    state = StateStore(state_file).load()
    rows = load_rows(trades_csv)
    problems = []
    if state.pending is not None:
        problems.append(f"an order is still pending: {state.pending}")
    added = base_balance - start_base
    moved = journal_base_delta(rows)
    if abs(added - moved) > 1e-9:
        problems.append(f"the exchange holds {added:+.8f} BTC more than at the start but the "
                        f"journal accounts for {moved:+.8f}")
    held = state.position.quantity if state.position is not None else 0.0
    round_trips = sum(1 for r in rows if r["order_id"] and r["side"] == "sell")
    dust = added - held
    if not -1e-9 <= dust <= round_trips * step + 1e-9:
        problems.append(f"the bot holds {held:.8f} BTC but the exchange balance implies "
                        f"{added:.8f} (dust {dust:.8f} over {round_trips} sells, step {step})")
    return problems


# --- the in-process bot (BotHarness) ------------------------------------------------------


def advance(bot: Any, candles: int) -> list:
    """Run ``candles`` candle-close cycles of a started bot; their results."""
    results = []
    for _ in range(candles):
        assert bot.wait_for_close(), "the loop was asked to stop"
        results.append(bot.run_cycle())
    return results


def until_fill(harness: Any, bot: Any, limit: int = 300) -> Any:
    """Run cycles until the emulator records a new fill; that ``Fill``."""
    before = len(harness.server.fills)
    for _ in range(limit):
        assert bot.wait_for_close(), "the loop was asked to stop"
        bot.run_cycle()
        if len(harness.server.fills) > before:
            return harness.server.fills[before]
    raise AssertionError(f"no order within {limit} candles")


def started_bot(harness: Any) -> Any:
    """A new bot on ``harness`` that has reconciled and handled its first candle."""
    bot = harness.new_bot(None)
    bot.positions.reconcile()
    advance(bot, 1)
    return bot


def harness_problems(harness: Any) -> list[str]:
    """Journal and candle-file disagreements with the in-process exchange (empty = fine)."""
    settings = harness.settings
    return (journal_problems(settings.trades_csv, harness.server.fills)
            + candle_problems(settings.candles_csv) + leftover_problems(settings.data_dir))


def gaps_after(harness: Any, status: int) -> list[int]:
    """Clock ms from each answer with ``status`` to the next request the emulator received."""
    records = harness.server.requests
    return [records[i + 1].time_ms - r.time_ms for i, r in enumerate(records[:-1])
            if r.status == status]
