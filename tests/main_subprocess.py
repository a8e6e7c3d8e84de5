"""Running ``python main.py ...`` as a user would, hermetically and without any network.

``project_copy`` builds a throw-away project tree (``main.py`` and ``config/`` copied, the other
packages linked) so that the ``.env`` the bot reads is the test's, never the developer's.
Every child process runs with a minimal environment (no keys or settings inherited) and a
``sitecustomize`` "network jail" that refuses any name look-up or connection that is not
loopback: a regression that would reach Binance fails loudly instead of going out.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bot_zygote import ForkedRun, Zygote
from tests.conftest import PROJECT_DIR

LINKED = ("backtest", "bot", "commands", "core", "emulator", "exchange", "ops", "risk", "storage",
          "strategies")

JAIL = '''"""Test network jail: only loopback names and addresses may be used."""
import ipaddress
import socket

_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _loopback(host):
    if host is None or host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host if not isinstance(host, bytes) else host.decode()):
        raise socket.gaierror(f"network jail: look-up of {host!r} refused in tests")
    return _getaddrinfo(host, *args, **kwargs)


def _check(address):
    if isinstance(address, tuple) and not _loopback(address[0]):
        raise ConnectionRefusedError(f"network jail: connection to {address!r} refused in tests")


def connect(self, address):
    _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
'''


def project_copy(root: Path) -> Path:
    """A project tree under ``root`` that runs this checkout's code with its own ``.env``."""
    project = root / "project"
    project.mkdir(parents=True)
    shutil.copy2(PROJECT_DIR / "main.py", project / "main.py")
    shutil.copytree(PROJECT_DIR / "config", project / "config",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in LINKED:
        (project / name).symlink_to(PROJECT_DIR / name, target_is_directory=True)
    write_jail(root)
    return project


def write_jail(root: Path) -> Path:
    """``root/jail/sitecustomize.py``, the network jail ``child_env`` of any project under
    ``root`` puts on ``PYTHONPATH``; the jail folder."""
    jail = root / "jail"
    jail.mkdir()
    (jail / "sitecustomize.py").write_text(JAIL, encoding="utf-8")
    return jail


def child_env(project: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: no inherited setting or key, the network jail on the path."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(project)),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(project.parent / "jail"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


def run_main(project: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 120, fresh: bool = False) -> subprocess.CompletedProcess:
    """``python main.py *args`` in ``project``; the finished process with text output.

    The run is forked from this test process's zygote (``tests.bot_zygote``), which saves the
    ~1 s of library imports of each start; ``fresh=True`` starts a new interpreter instead,
    for what happens before ``main.py`` runs. A timeout raises ``subprocess.TimeoutExpired``
    either way.
    """
    if fresh or os.name != "posix":
        return subprocess.run(
            [sys.executable, "main.py", *args], cwd=project, env=child_env(project, env),
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    return forked_main(project, list(args), child_env(project, env), timeout)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    """This test process's zygote for ``run_main``, started on first use behind the network
    jail and ended when the process exits."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            root = Path(tempfile.mkdtemp(prefix="zygote-"))
            atexit.register(shutil.rmtree, root, True)
            write_jail(root)
            _zygote = Zygote(env=child_env(root / "project"), cwd=root)
            atexit.register(_zygote.close)
        return _zygote


def forked_main(project: Path, args: list[str], env: dict[str, str],
                timeout: float) -> subprocess.CompletedProcess:
    """``python main.py *args`` in ``project`` with exactly ``env``, forked from ``zygote()``:
    what ``subprocess.run(..., capture_output=True, text=True)`` returns or raises."""
    command = [sys.executable, "main.py", *args]
    outputs = Path(tempfile.mkdtemp(prefix="run-main-"))
    try:
        run = ForkedRun(zygote(), args, cwd=project, env=env, stdout=outputs / "stdout",
                        stderr=outputs / "stderr")
        finished = run.reaped_by(time.monotonic() + timeout)
        if not finished:
            run.kill()
        stdout, stderr = (_text(outputs / name) for name in ("stdout", "stderr"))
        if not finished:
            raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr)
        assert run.returncode is not None  # reaped
        return subprocess.CompletedProcess(command, run.returncode, stdout, stderr)
    finally:
        shutil.rmtree(outputs, ignore_errors=True)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:  # the run ended before it opened its output
        return ""


def run_many(jobs: dict[str, tuple[Path, list[str], dict[str, str]]]
             ) -> dict[str, subprocess.CompletedProcess]:
    """Several ``run_main`` calls at once (one per CPU): name -> finished process.

    Each job is (project, args, env). The bot's start-up is mostly imports, so independent
    short runs in parallel save most of their wall time.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(run_main, project, *args, env=env)
                   for name, (project, args, env) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def error_lines(stderr: str) -> list[str]:
    """The non-empty lines of a child's stderr."""
    return [line for line in stderr.splitlines() if line.strip()]


class Emulator:
    """``python main.py emulator`` in a child process, on a free port, stopped by ``stop``."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "main.py", "emulator", "--port", "0", *args], cwd=project,
            env=child_env(project, env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout],
                         daemon=True).start()
        self._lines = lines
        self.url = self._wait_for(r"emulator listening on (http://\S+)").group(1)

    def _wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    break
                continue
            self.output.append(line.rstrip("\n"))
            match = re.search(pattern, line)
            if match:
                return match
        self.stop()
        raise AssertionError(f"emulator never printed {pattern!r}: {self.output}")

    def stop(self) -> None:
        """SIGTERM, then wait; SIGKILL if it does not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
