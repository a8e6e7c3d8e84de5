"""A real Dask scheduler and worker processes on 127.0.0.1 for tests (free ports only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_DIR


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalDaskCluster:
    """``dask scheduler`` plus ``workers`` ``dask worker`` processes (no nanny, one thread)."""

    def __init__(self, folder: Path, workers: int = 2) -> None:
        self.folder = folder
        self.env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
        # A free port chosen here lets the workers start with the scheduler, not after it
        # (they retry until it listens); the scheduler fails loudly if the port was taken.
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start("scheduler", "--host", "127.0.0.1", "--port", port,
                                     "--no-dashboard")
        self.workers = [
            self._start("worker", self.address, "--host", "127.0.0.1", "--no-nanny",
                        "--nthreads", "1", "--no-dashboard", "--name", f"w{k}",
                        log=f"worker{k}")
            for k in range(workers)]

    def _start(self, role: str, *args: str, log: str | None = None) -> subprocess.Popen:
        out = (self.folder / f"{log or role}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "dask", role, *args], cwd=PROJECT_DIR,
                                env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_for_workers(self, count: int, timeout: float = 30.0) -> None:
        """Block until ``count`` workers joined the scheduler."""
        from distributed import Client

        if self.scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited: {self.log('scheduler')}")
        with Client(self.address, timeout=f"{timeout}s") as client:
            client.wait_for_workers(count, timeout=timeout)

    def log(self, name: str) -> str:
        """The tail of one process's log."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def kill_worker(self, index: int) -> None:
        """SIGKILL one worker (no goodbye to the scheduler), as a crashed machine would."""
        self.workers[index].send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Stop every process this cluster started, by its PID."""
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
