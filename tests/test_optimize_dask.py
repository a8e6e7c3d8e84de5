"""``optimize --cluster``: a real Dask scheduler and two workers on 127.0.0.1."""

from __future__ import annotations

import pytest

from research import progress as progress_module
from tests.dask_cluster import LocalDaskCluster
from tests.optimize_support import optimize, read_results, write_candles

GRID = ["--strategy", "ma2line", "--grid", "MA_FAST=3:12:3", "--grid", "MA_SLOW=10:30:10",
        "--grid", "tp=0.005,0.01"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-thread workers, shared by this module's tests (started
    here, awaited by the tests, so the local run overlaps their start-up)."""
    folder = tmp_path_factory.mktemp("dask")
    started = LocalDaskCluster(folder, workers=2)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The candle file and the folder of the same sweep run locally on one worker."""
    folder = tmp_path_factory.mktemp("local")
    candles = write_candles(folder / "candles.csv", n=4000, seed=9)
    assert optimize("--data", candles, *GRID, "--workers", "1", "--out", folder / "out") == 0
    return candles, folder / "out"


def test_cluster_results_equal_the_local_run_row_for_row(cluster, local_run, tmp_path):
    """
    Given a Dask scheduler with two worker processes on 127.0.0.1
    When the sweep runs with --cluster
    Then results.csv equals the local run's byte for byte
    """
    candles, local = local_run
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    assert optimize("--data", candles, *GRID, "--cluster", cluster.address, "--out", out) == 0
    assert (out / "results.csv").read_bytes() == (local / "results.csv").read_bytes()


def test_killing_a_worker_mid_sweep_still_completes_every_combo_once(cluster, local_run,
                                                                    tmp_path, monkeypatch):
    """
    Given the sweep running on the cluster
    When one worker is killed (SIGKILL) as the first result arrives
    Then the other worker finishes the rest: every combo once, rows equal to the local run
    """
    candles, local = local_run
    cluster.wait_for_workers(2)
    real = progress_module.SweepProgress.advance
    seen = []

    def advance(self, count=1):
        if not seen:
            cluster.kill_worker(0)
        seen.append(count)
        real(self, count)

    monkeypatch.setattr(progress_module.SweepProgress, "advance", advance)
    out = tmp_path / "out"
    assert optimize("--data", candles, *GRID, "--cluster", cluster.address, "--out", out) == 0
    assert cluster.workers[0].wait(timeout=10) != 0
    assert len(seen) > 1  # the kill came before the sweep had finished
    rows = read_results(out)
    keys = [(r["MA_FAST"], r["MA_SLOW"], r["tp"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(read_results(local))
    assert (out / "results.csv").read_bytes() == (local / "results.csv").read_bytes()
