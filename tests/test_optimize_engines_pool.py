"""The local process pool: never a fork of a threaded parent (a fork server then)."""

import subprocess
import sys
import threading

from research.engines import pool_context
from tests.conftest import PROJECT_DIR


def test_pool_context_forks_only_a_single_threaded_process():
    """
    Given the local engine's multiprocessing context
    When it is asked for with another thread alive, then with none
    Then the first starts workers from a fork server (no lock held by another thread is
      copied), the second forks directly
    """
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()
    single = subprocess.run(
        [sys.executable, "-c", "from research.engines import pool_context;"
         " print(pool_context().get_start_method())"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert single.stdout.strip() == "fork", single.stderr


def test_a_pool_started_while_another_thread_holds_a_lock_still_runs():
    """
    Given a thread of this process holding a lock while the pool starts
    When the pool runs a task
    Then the task finishes (a forked worker would inherit the held lock)
    """
    held = threading.Lock()
    held.acquire()
    try:
        with pool_context().Pool(1) as pool:
            assert pool.apply_async(abs, (-3,)).get(timeout=60) == 3
    finally:
        held.release()
