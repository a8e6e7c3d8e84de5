"""Where the combinations run: this process, a local process pool, or a Dask cluster.

Each engine takes batches of combinations and yields ``(batch, outcomes)`` as batches finish,
in completion order, so the caller can write rows, draw progress and stop on Ctrl+C the same
way whichever engine runs. Candles reach each worker once: the pool's workers get them as
their initialiser's arguments (from a fork server, never a fork of this threaded process);
on Dask they are scattered to every worker once and each worker keeps one ``Evaluator`` per
sweep. See docs/decisions/0151-parallel-engine.md.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from urllib.parse import urlparse

from core.memory import reuse_freed_memory
from research.grid import Combo
from research.sweep import Evaluator, Outcome, SweepSpec

Batch = list[Combo]


class ClusterError(ConnectionError):
    """The Dask cluster cannot be used; the message is one line for the user."""


def batches(combos: Sequence[Combo], workers: int) -> list[Batch]:
    """Consecutive runs of combinations, about eight per worker (at most 16 combos each).

    Consecutive combinations share indicator series (the grid's last keys vary fastest), and
    enough batches per worker keep every worker busy to the end and progress fine-grained.
    """
    if not combos:
        return []
    size = max(1, min(16, math.ceil(len(combos) / (8 * max(1, workers)))))
    return [list(combos[i:i + size]) for i in range(0, len(combos), size)]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ---- in this process -------------------------------------------------------------------------

def run_inline(candles, spec: SweepSpec, work: Sequence[Batch]) -> Iterator[tuple[Batch, list]]:
    """Every batch in this process, in order, one combination at a time (nothing is lost
    to a Ctrl+C but the combination being computed)."""
    evaluator = Evaluator(candles, spec)
    for batch in work:
        for combo in batch:
            yield [combo], [evaluator.evaluate(combo)]


# ---- local process pool ----------------------------------------------------------------------

_POOL_EVALUATOR: Evaluator | None = None


def _pool_start(candles, spec: SweepSpec) -> None:
    """Pool worker initialiser: one Evaluator on the candles sent once; Ctrl+C is the parent's."""
    global _POOL_EVALUATOR
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _POOL_EVALUATOR = Evaluator(candles, spec)


def _pool_batch(item: tuple[int, Batch]) -> tuple[int, list[Outcome]]:
    assert _POOL_EVALUATOR is not None
    return item[0], _POOL_EVALUATOR.evaluate_many(item[1])


def pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` while this process runs no other thread, else a preloaded ``forkserver``.

    A plain ``fork`` copies whatever locks the parent's other threads hold at that moment (a
    log handler's, an executor's), and a worker can then wait on one forever: with any other
    thread alive, workers come from a fork server, a clean single-threaded process with the
    sweep code imported. A single-threaded parent (the command line) forks directly: no
    server to start (about half a second of imports) and no candles to pickle.
    """
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["research.sweep"])
    return context


def run_pool(
    candles, spec: SweepSpec, work: Sequence[Batch], workers: int
) -> Iterator[tuple[Batch, list]]:
    """Every batch on ``workers`` worker processes, yielded as each finishes."""
    if workers <= 1 or len(work) <= 1:
        yield from run_inline(candles, spec, work)
        return
    pool = pool_context().Pool(
        min(workers, len(work)), initializer=_pool_start, initargs=(candles, spec)
    )
    try:
        for index, outcomes in pool.imap_unordered(_pool_batch, list(enumerate(work))):
            yield work[index], outcomes
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# ---- Dask cluster ----------------------------------------------------------------------------

_DASK_EVALUATORS: dict[str, Evaluator] = {}


def dask_batch(token: str, spec: SweepSpec, candles, batch: Batch) -> list[Outcome]:
    """Runs on a Dask worker: one Evaluator per sweep token, kept for the sweep's next batches."""
    evaluator = _DASK_EVALUATORS.get(token)
    if evaluator is None:
        reuse_freed_memory()
        _DASK_EVALUATORS.clear()  # one sweep at a time per worker: free the previous one
        evaluator = _DASK_EVALUATORS[token] = Evaluator(candles, spec)
    return evaluator.evaluate_many(batch)


def check_reachable(address: str, timeout: float = 3.0) -> tuple[str, int]:
    """(host, port) of ``tcp://HOST:PORT`` when something listens there; ClusterError if not."""
    parsed = urlparse(address)
    if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
        raise ClusterError(f"--cluster {address!r} is not tcp://HOST:PORT"
                           " (e.g. tcp://10.0.0.5:8786)")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"--cluster {address}: no Dask scheduler reachable ({reason});"
                           " start one with 'dask scheduler' or check the address") from None
    return parsed.hostname, parsed.port


def connect(address: str, timeout: float = 10.0):
    """A ``distributed.Client`` of the scheduler at ``address``; ClusterError (one line)."""
    check_reachable(address)
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClusterError(f"--cluster {address}: cannot join the Dask cluster ({first})") \
            from None


def run_dask(
    client, candles, spec: SweepSpec, work: Sequence[Batch], token: str
) -> Iterator[tuple[Batch, list]]:
    """Every batch on the cluster's workers, yielded as each finishes (any order).

    A worker lost mid-sweep costs only its unfinished batches, which the scheduler runs again
    elsewhere; a batch is yielded once however often it ran.
    """
    from distributed import as_completed

    if not work:
        return
    if not client.scheduler_info().get("workers"):
        raise ClusterError("the Dask cluster has no worker; start one with"
                           " 'dask worker tcp://HOST:PORT'")
    [data] = client.scatter([candles], broadcast=True, hash=False)
    futures = {client.submit(dask_batch, token, spec, data, batch, pure=False): index
               for index, batch in enumerate(work)}
    done: set[int] = set()
    try:
        with client.as_current():  # as_completed looks the client up as the current one
            finished = as_completed(list(futures))
        for future in finished:
            index = futures[future]
            outcomes = future.result()
            if index not in done:
                done.add(index)
                yield work[index], outcomes
    finally:
        client.cancel(list(futures))
        client.cancel([data])
