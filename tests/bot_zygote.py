"""``python main.py ...`` runs forked from a process that has already imported the libraries.

``python main.py`` spends about 1 s of CPU of each start importing pandas, numpy and ccxt
before the bot's first line runs, and the suite starts the bot some 90 times. A zygote imports
those third-party libraries once (``PRELOAD``) and nothing of this project. Each run is then
``os.fork()`` of it doing what the interpreter does with ``python SCRIPT ARGV``: its own
environment, working folder, stdin, stdout, stderr, process group and ``sys.path[0]``; the
script and every project module it imports are executed afresh from the run's own project
folder (``runpy.run_path``), so a project copy's ``config/`` and ``.env`` are the ones read;
at the end it joins the non-daemon threads and runs the ``atexit`` handlers, as the
interpreter's shutdown does, and exits with the status Python would give. It is a separate OS
process with its own pid, files and signal handlers, killed by a real SIGKILL at any instant.
What no longer runs is the interpreter's own start-up; the tests about it (README commands,
outside the venv, Ctrl+C during start-up, ...) still start ``python main.py``. See
docs/decisions/0084-test-suite-speed-and-shape.md.

The zygote is ``python tests/bot_zygote.py``, a child of the test process that reads one JSON
request a line on stdin and answers one JSON line on stdout; it is single-threaded, so
forking it is safe.
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
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve()
PROJECT_DIR = HERE.parents[1]
# The third-party libraries a bot run imports, and nothing of the project: importing them is
# the cost saved. Each must leave the process single-threaded.
PRELOAD = ("numpy", "pandas", "ccxt", "requests", "dotenv", "prometheus_client")
POLL_S = 0.005
MAX_POLL_S = 0.02
EX_SOFTWARE = 70  # the run could not even start


def serve() -> None:
    """The zygote's loop: import ``PRELOAD``, then answer requests until stdin closes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    requests, answers = sys.stdin, sys.stdout
    problem = threads_problem(threading.enumerate())
    if problem:
        answers.write(json.dumps({"error": problem}) + "\n")
        answers.flush()
        return
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


def threads_problem(threads: list[threading.Thread]) -> str | None:
    """Why a process running ``threads`` may not fork (a copied lock could be held by a
    thread that does not exist in the child), or None when only one thread runs."""
    if len(threads) <= 1:
        return None
    return f"the zygote runs {len(threads)} threads {[t.name for t in threads]}; it must run one"


def _answer(request: dict, requests: Any, answers: Any) -> dict:
    if "start" in request:
        return {"pid": _fork_run(request["start"], requests, answers)}
    if "poll" in request:
        pid, status = os.waitpid(int(request["poll"]), os.WNOHANG)
        return {"status": None if pid == 0 else exit_status(status)}
    raise ValueError(f"unknown zygote request {sorted(request)}")


def exit_status(status: int) -> int:
    """A wait status as ``subprocess`` gives it: the exit code, or minus the killing signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _fork_run(spec: dict, requests: Any, answers: Any) -> int:
    """Fork one run; the child runs ``spec["script"]`` as ``__main__`` and exits with it."""
    pid = os.fork()
    if pid:
        return pid
    code = EX_SOFTWARE
    try:
        requests.close()
        answers.close()
        _enter_run(spec)
        code = _run_script(spec["script"], spec["argv"])
    finally:
        os._exit(code)
    return 0  # not reached: the child always leaves through os._exit


def _enter_run(spec: dict) -> None:
    """The child's process state as ``python SCRIPT`` started in ``spec["cwd"]`` has it."""
    os.setpgid(0, 0)  # a Ctrl+C at the terminal reaches the test, not the run
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(spec.get("stdout") or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                  0o644)
    err = os.open(spec["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
        os.close(source)  # a started interpreter has only 0, 1 and 2 open
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                      buffering=1, closefd=False)
    # The dispositions a fresh interpreter starts with.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    script = Path(spec["script"])
    sys.path[0] = str((Path(spec["cwd"]) / script).resolve().parent)


def _run_script(script: str, argv: list[str]) -> int:
    """``script`` run as ``__main__`` with ``argv``; the status the interpreter would exit
    with, after its shutdown steps (non-daemon threads joined, ``atexit`` handlers run)."""
    import runpy

    sys.argv = [script, *argv]
    interrupted = False
    try:
        runpy.run_path(os.path.abspath(script), run_name="__main__")  # __file__ absolute
        code = 0
    except SystemExit as exc:
        code = _system_exit_code(exc)
    except BaseException as exc:  # an uncaught error: the interpreter prints it and exits 1
        exc.__traceback__ = _from_script(exc.__traceback__)  # the hook prints the error's own
        sys.excepthook(type(exc), exc, exc.__traceback__)
        interrupted = isinstance(exc, KeyboardInterrupt)
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter calls
    except BaseException:  # noqa: BLE001 - the run's own threads failing at shutdown
        sys.excepthook(*sys.exc_info())
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if interrupted:  # an uncaught Ctrl+C ends the interpreter by SIGINT itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _from_script(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without its first entries in this file and runpy: the traceback starts at the
    script, as the interpreter prints it."""
    while tb is not None and tb.tb_next is not None and (
            tb.tb_frame.f_code.co_filename in (__file__, "<frozen runpy>")):
        tb = tb.tb_next
    return tb


def _system_exit_code(exc: SystemExit) -> int:
    """The exit status of ``SystemExit(code)``: None is 0, a number itself, else printed, 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


class Zygote:
    """The test side: start the zygote once, ask it for runs, poll their exit."""

    def __init__(self, env: Mapping[str, str] | None = None, cwd: Path = PROJECT_DIR) -> None:
        env = dict(os.environ if env is None else env)
        env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as main.py sets it before numpy loads
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE)], cwd=cwd, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )
        self._lock = threading.Lock()
        ready = self._read()
        if "ready" not in ready:
            self.close()
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


class ForkedRun:
    """``python SCRIPT ARGV`` in ``cwd`` forked from ``zygote``: poll, alive, kill, wait.

    stderr (and stdout, when a file is given) are appended to the named files.
    """

    def __init__(self, zygote: Zygote, argv: Iterable[str], *, cwd: Path,
                 env: Mapping[str, str], stderr: Path, stdout: Path | None = None,
                 script: str = "main.py") -> None:
        self.zygote = zygote
        self.started = time.monotonic()
        spec = {"script": script, "argv": list(argv), "env": dict(env), "cwd": str(cwd),
                "stderr": str(stderr), "stdout": str(stdout) if stdout else None}
        self.pid = int(zygote.ask({"start": spec})["pid"])
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once the run ended, else None."""
        if self.returncode is None:
            self.returncode = self.zygote.ask({"poll": self.pid})["status"]
        return self.returncode

    def alive(self) -> bool:
        """True while the run goes on."""
        return self.poll() is None

    def kill(self, timeout_s: float = 5.0) -> None:
        """SIGKILL: no handler, no flush, no cleanup; returns once the run is reaped."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        if not self.reaped_by(time.monotonic() + timeout_s):
            raise AssertionError(f"run {self.pid} outlived SIGKILL by {timeout_s} s")

    def wait(self, timeout_s: float) -> int:
        """The exit status of a run to its end; SIGKILL and AssertionError on timeout."""
        if not self.reaped_by(time.monotonic() + timeout_s):
            self.kill()
            raise AssertionError(f"the bot did not finish within {timeout_s} s")
        return int(self.returncode)  # type: ignore[arg-type]

    def reaped_by(self, deadline: float) -> bool:
        """Poll (5 ms, backing off to 20 ms) until the run ended (True) or ``deadline``."""
        pause = POLL_S
        while self.poll() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 1.5, MAX_POLL_S)
        return True


class ForkedBot(ForkedRun):
    """``main.py ARGV`` of this checkout as a run forked from ``zygote`` (the crash test's
    lives): stderr to ``<workdir>/bot-stderr.txt``, stdout discarded, as ``BotProcess``."""

    def __init__(self, zygote: Zygote, argv: Iterable[str], workdir: Path,
                 env: Mapping[str, str]) -> None:
        self.workdir = Path(workdir)
        super().__init__(zygote, argv, cwd=PROJECT_DIR, env=env,
                         stderr=self.workdir / "bot-stderr.txt")


if __name__ == "__main__":
    serve()
