"""The local process pool: workers start from a fork server, not a fork of a threaded parent."""

import threading

from research.engines import pool_context


def test_pool_context_is_a_preloaded_fork_server():
    """
    Given the local engine's multiprocessing context
    When it is asked for
    Then it starts workers from a fork server, so no lock held by another thread is copied
    """
    assert pool_context().get_start_method() == "forkserver"


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
