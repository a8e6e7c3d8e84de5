"""``optimize`` refuses bad input with one line and exit 2, leaving --out as it was."""

from __future__ import annotations

import pytest

from tests.dask_cluster import free_port
from tests.optimize_support import folder_state, optimize, write_candles

BASE = ["--strategy", "ma2line"]
CASES = [
    (["--grid", "MA_FAST=2:x:2"], "'x' is not a number"),
    (["--grid", "MA_FAST=2:10:0"], "the step 0 must be above 0"),
    (["--grid", "MA_FAST=10:2:2"], "stop 2 is before start 10"),
    (["--grid", "RSI_PERIOD=5:10:5"], "unknown key 'RSI_PERIOD'"),
    (["--grid", "MA_FAST=2:4:1", "--objective", "Profit"], "not a Performance Summary metric"),
    (["--grid", "MA_FAST=1:500:1", "--grid", "MA_SLOW=1:500:1"], "more than 100,000"),
    (["--grid", "MA_FAST=2:4:1", "--method", "random"], "needs --trials"),
    (["--grid", "MA_FAST=20:30:5", "--grid", "MA_SLOW=5:15:5"], "rejects all 9 combinations"),
    (["--grid", "MA_FAST=2:4:1", "--walk-forward", "--train", "30d", "--test", "7d"],
     "is longer than the"),
    (["--grid", "MA_FAST=2:4:1", "--grid", "MA_SLOW=3000", "--walk-forward", "--train", "1h",
      "--test", "1h"], "too few for the warm-up"),
    (["--grid", "MA_FAST=2:4:1", "--walk-forward", "--train", "1x", "--test", "1h"],
     "is not a duration"),
    (["--grid", "MA_FAST=2:4:1", "--cluster", "tcp://127.0.0.1:{port}"],
     "no Dask scheduler reachable"),
    (["--grid", "MA_FAST=2:4:1", "--cluster", "127.0.0.1"], "is not tcp://HOST:PORT"),
    (["--grid", "MA_FAST=2:4:1", "--pbo", "--partitions", "5"], "must be an even number"),
    (["--grid", "sl=0.01", "--no-sl-tp"], "--no-sl-tp turns SL/TP off"),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A candle file and an --out folder already holding a file that must survive."""
    folder = tmp_path_factory.mktemp("bad")
    out = folder / "out"
    out.mkdir()
    (out / "notes.txt").write_text("kept\n")
    return write_candles(folder / "candles.csv", n=3000), out


@pytest.mark.parametrize("args,fragment", CASES, ids=[c[1][:24] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_leaves_out_alone(setup, args, fragment, capsys):
    """
    Given a bad --grid, --objective, --method, window, cluster or partitions value
    When optimize runs with an --out folder that already holds a file
    Then it exits 2 with one stderr line naming the problem, and the folder is unchanged
    """
    candles, out = setup
    before = folder_state(out)
    args = [a.replace("{port}", str(free_port())) for a in args]
    assert optimize("--data", candles, *BASE, *args, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("optimize: ") and fragment in err[0]
    assert folder_state(out) == before


def test_a_results_file_of_another_strategy_is_refused(setup, tmp_path, capsys):
    """
    Given a folder holding an ma2line sweep
    When an rsi sweep is pointed at it
    Then it is refused with one line naming another strategy, the folder unchanged
    """
    candles, _ = setup
    out = tmp_path / "out"
    assert optimize("--data", candles, *BASE, "--workers", "1", "--grid", "MA_FAST=2:4:2",
                    "--out", out) == 0
    before = folder_state(out)
    capsys.readouterr()
    assert optimize("--data", candles, "--strategy", "rsi", "--workers", "1", "--grid",
                    "RSI_PERIOD=7,14", "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another strategy" in err[0]
    assert folder_state(out) == before
