"""Bot processes forked from a process that has already imported the bot (a "zygote").

The crash test starts the bot 31 times and SIGKILLs 30 of those lives. ``python main.py``
spends about 1.5 s of CPU of each life importing pandas, numpy and ccxt before the bot's first
line runs, which made that one test cost a minute of the suite. A zygote imports them once;
each life is then ``os.fork()`` of it running ``main.main(argv)`` with its own environment,
working folder, stdin, stdout and stderr: a separate OS process with its own pid, files and
signal handlers, killed by a real SIGKILL at any instant, exactly like a started one. Kills
during interpreter start-up are the one thing no longer exercised; nothing is written then.
Every other test that starts the bot still runs ``python main.py``. See
docs/decisions/0084-test-suite-speed-and-shape.md.

The zygote is a child of the test process (``python -c``) that reads one JSON request a line
on stdin and answers one JSON line on stdout; it is single-threaded, so forking it is safe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_DIR

# What every bot life imports before its first cycle; importing them is the cost saved.
PRELOAD = ("main", "commands.bot", "bot.wiring", "bot.runner", "exchange.client",
           "exchange.ccxt_emulator", "ops.assemble", "pandas", "numpy", "ccxt")
POLL_S = 0.005


def serve() -> None:
    """The zygote's loop: import ``PRELOAD``, then answer requests until stdin closes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    requests, answers = sys.stdin, sys.stdout
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        try:
            answer = _answer(request, requests, answers)
        except Exception as exc:  # the test side turns this into an AssertionError
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def _answer(request: dict, requests: Any, answers: Any) -> dict:
    if "start" in request:
        return {"pid": _fork_life(request["start"], requests, answers)}
    if "poll" in request:
        pid, status = os.waitpid(int(request["poll"]), os.WNOHANG)
        return {"status": None if pid == 0 else _exit_status(status)}
    raise ValueError(f"unknown zygote request {sorted(request)}")


def _exit_status(status: int) -> int:
    """An exit status as ``subprocess`` gives it: the code, or minus the killing signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _fork_life(spec: dict, requests: Any, answers: Any) -> int:
    """Fork one bot life; in the child run ``main.main(spec["argv"])`` and exit with it."""
    pid = os.fork()
    if pid:
        return pid
    code = 70  # EX_SOFTWARE: the life could not even start
    try:
        os.setpgid(0, 0)  # a Ctrl+C at the terminal reaches the test, not the bot
        requests.close()
        answers.close()
        os.chdir(spec["cwd"])
        os.environ.clear()
        os.environ.update(spec["env"])
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(spec["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL if number != signal.SIGINT
                          else signal.default_int_handler)
        sys.argv = ["main.py", *spec["argv"]]
        import main

        code = int(main.main(list(spec["argv"])) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # a crash of the bot itself: its traceback goes to its stderr
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return 0  # not reached: the child always leaves through os._exit


class Zygote:
    """The test side: start the zygote once, ask it for bot lives, poll their exit."""

    def __init__(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import tests.bot_zygote as z; z.serve()"],
            cwd=PROJECT_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        ready = self._read()
        if "ready" not in ready:
            raise AssertionError(f"the bot zygote did not start: {ready}")

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the bot zygote ended (status {self.proc.poll()})")
        return json.loads(line)

    def ask(self, request: dict) -> dict:
        """One request, its answer; AssertionError when the zygote reports an error."""
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = self._read()
        if "error" in answer:
            raise AssertionError(f"bot zygote: {answer['error']}")
        return answer

    def close(self) -> None:
        """End the zygote (closing its stdin ends its loop)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForkedBot:
    """``main.py ARGV`` as a life forked from ``zygote``: ``BotProcess``'s alive/kill/wait."""

    def __init__(self, zygote: Zygote, argv: Iterable[str], workdir: Path,
                 env: Mapping[str, str]) -> None:
        self.zygote = zygote
        self.workdir = Path(workdir)
        self.started = time.monotonic()
        spec = {"argv": list(argv), "env": dict(env), "cwd": str(PROJECT_DIR),
                "stderr": str(self.workdir / "bot-stderr.txt")}
        self.pid = int(zygote.ask({"start": spec})["pid"])
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once the life ended, else None."""
        if self.returncode is None:
            self.returncode = self.zygote.ask({"poll": self.pid})["status"]
        return self.returncode

    def alive(self) -> bool:
        """True while the life runs."""
        return self.poll() is None

    def kill(self, timeout_s: float = 5.0) -> None:
        """SIGKILL: no handler, no flush, no cleanup; returns once the life is reaped."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        if not self._reaped_by(time.monotonic() + timeout_s):
            raise AssertionError(f"bot life {self.pid} outlived SIGKILL by {timeout_s} s")

    def wait(self, timeout_s: float) -> int:
        """The exit status of a life run to its end; SIGKILL and AssertionError on timeout."""
        if not self._reaped_by(time.monotonic() + timeout_s):
            self.kill()
            raise AssertionError(f"the bot did not finish within {timeout_s} s")
        return int(self.returncode)  # type: ignore[arg-type]

    def _reaped_by(self, deadline: float) -> bool:
        while self.poll() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True
