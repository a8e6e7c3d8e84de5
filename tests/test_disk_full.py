"""A full disk: the reserve keeps an open position protected; a journal write is whole or nothing.

The real-disk test runs the position manager in a child process on a 512 KiB tmpfs of its own
(``unshare -rm``: a private mount namespace, nothing is mounted for anyone else) and fills it
up; where the machine does not allow that, it is skipped and the write-hook test below still
proves the logic.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.clock import ManualClock
from storage.reserve import RESERVE_NAME, DiskReserve, disk_full
from storage.state import StateStore
from storage.trades import TradeJournal
from tests.conftest import PROJECT_DIR
from tests.position_doubles import T0, FakeBroker

PROTECT = r"""
import logging, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from core.clock import ManualClock
from risk.position import PositionManager
from storage.reserve import DiskReserve
from storage.state import StateStore
from storage.trades import TradeJournal, load_rows
from tests.position_doubles import T0, FakeBroker

folder = Path(sys.argv[1])
reserve = DiskReserve(folder, size=128 * 1024)
assert reserve.ensure()
clock = ManualClock(T0)
broker = FakeBroker(clock)
manager = PositionManager(
    broker, TradeJournal(folder / "trades.csv", symbol="BTC/USDT", reserve=reserve),
    StateStore(folder / "state.json", reserve=reserve), symbol="BTC/USDT", trade_size=0.001,
    stop_loss_percent=0.02, take_profit_percent=0.04, strategy_name="sma_rsi",
    exchange_name="local", clock=clock)
print("buy:", manager.on_signal(1, T0, 23000.0))
with open(folder / "filler", "wb", buffering=0) as handle:  # the disk fills up
    try:
        while True:
            handle.write(b"x" * 4096)
            handle.flush()
    except OSError as exc:
        print("disk full:", exc.errno)
broker.price = 22000.0
print("stop:", manager.on_price(22000.0))
print("rows:", [r["side"] + "/" + r["exit_reason"] for r in load_rows(folder / "trades.csv")])
print("flat:", manager.position is None, "reserve:", reserve.held)
print("buy while full:", str(manager.on_signal(1, T0 + 60_000, 22000.0))[:40])
os.unlink(folder / "filler")
print("buy after room:", manager.on_signal(1, T0 + 120_000, 22000.0), reserve.held)
"""


def _private_tmpfs_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"
                            " 2>/dev/null || mount -t tmpfs -o size=64k tmpfs /tmp"],
                           capture_output=True, timeout=10, check=False)
    return probe.returncode == 0


def run_on_a_full_disk(tmp_path: Path) -> str:
    """``PROTECT`` run on a 512 KiB tmpfs of its own (a private mount namespace); its output.

    Shared by this test and the full-disk scenario of features/resilience.feature.
    """
    folder = tmp_path / "disk"
    folder.mkdir()
    script = (f"mount -t tmpfs -o size=512k tmpfs {folder} && exec {sys.executable} -c"
              f" \"$0\" {folder} {PROJECT_DIR}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script, PROTECT], capture_output=True,
                          text=True, timeout=60, check=False, cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not _private_tmpfs_works(), reason="no private tmpfs (unshare) here")
def test_stop_loss_fires_on_a_really_full_disk_thanks_to_the_reserve(tmp_path):
    """
    Given a long position on a 512 KiB disk of its own holding the 128 KiB reserve
    When the disk fills up completely and the price falls through the stop-loss
    Then the reserve is released, the intent saved, the position sold and journaled
    And no new position is opened while the disk is full, and one is once there is room
    """
    out = run_on_a_full_disk(tmp_path)
    assert "buy: bought" in out and f"disk full: {errno.ENOSPC}" in out
    assert "stop: sold: stop_loss" in out
    assert "rows: ['buy/', 'sell/stop_loss']" in out
    assert "flat: True reserve: False" in out
    assert "buy while full: skipped: BUY skipped: no room on the di" in out
    assert "buy after room: bought True" in out


def test_a_save_failing_on_a_full_disk_frees_the_reserve_and_retries(tmp_path, monkeypatch,
                                                                     caplog):
    """
    Given a state store and journal with a reserve, and a disk that refuses writes until the
    reserve is deleted (a write hook)
    When the state is saved and a fill journaled
    Then the reserve is released once, both writes land, and one ERROR says what happened
    And without a reserve left, the next full-disk error reaches the caller
    """
    import logging

    import storage.state as state_module
    from storage.state import BotState

    reserve = DiskReserve(tmp_path, size=4096)
    assert reserve.ensure() and reserve.held
    real = state_module.write_atomic

    def full_until_released(path, data, mode=0o600):
        if (tmp_path / RESERVE_NAME).exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, mode=mode)

    monkeypatch.setattr(state_module, "write_atomic", full_until_released)
    store = StateStore(tmp_path / "state.json", reserve=reserve)
    with caplog.at_level(logging.ERROR, logger="paperbot"):
        store.save(BotState(order_seq=7))
    assert StateStore(tmp_path / "state.json").load().order_seq == 7
    assert not reserve.held and "released the 4 KB reserve" in caplog.text
    assert store.ready_to_open() is True  # room again: the reserve is made anew
    monkeypatch.setattr(state_module, "write_atomic", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    reserve.release()
    with pytest.raises(OSError):
        store.save(BotState())


def test_the_journal_append_uses_the_reserve_too(tmp_path, monkeypatch):
    """
    Given a journal with a reserve and an append that fails on a full disk until it is freed
    When a fill is journaled
    Then it is written whole after the reserve is released
    """
    import storage.trades as trades_module
    from tests.test_trades_journal import _buy

    reserve = DiskReserve(tmp_path, size=4096)
    reserve.ensure()
    real = trades_module.append_whole

    def full_until_released(path, data):
        if reserve.held:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        real(path, data)

    monkeypatch.setattr(trades_module, "append_whole", full_until_released)
    journal = TradeJournal(tmp_path / "t.csv", reserve=reserve)
    assert journal.append(_buy()) is True
    assert [r["order_id"] for r in TradeJournal(tmp_path / "t.csv").rows()] == ["11"]


def test_reserve_basics(tmp_path):
    """
    Given a data folder
    When the reserve is made, made again, released twice and the folder is missing
    Then it is allocated at full size once, release says whether it freed anything
    And a reserve that cannot be made answers False; a non-disk error is not "full"
    """
    reserve = DiskReserve(tmp_path, size=8192)
    assert reserve.ensure() and (tmp_path / RESERVE_NAME).stat().st_blocks * 512 >= 8192
    assert reserve.ensure()
    assert reserve.release() is True and reserve.release() is False
    assert DiskReserve(tmp_path / "missing" / "deeper").ensure() is False
    assert disk_full(OSError(errno.ENOSPC, "x")) and not disk_full(OSError(errno.EACCES, "x"))
    with pytest.raises(ValueError):
        DiskReserve(tmp_path, size=0)


def test_a_buy_is_refused_while_no_reserve_can_be_made(tmp_path):
    """
    Given a flat position manager whose state store cannot make its reserve (no room)
    When a BUY signal arrives
    Then it is skipped with a line saying to free disk space, and nothing is sent
    """
    from risk.position import PositionManager

    class NoRoom(DiskReserve):
        def ready(self) -> bool:
            return False

    clock = ManualClock(T0)
    broker = FakeBroker(clock)
    manager = PositionManager(
        broker, TradeJournal(tmp_path / "t.csv"),
        StateStore(tmp_path / "s.json", reserve=NoRoom(tmp_path)), symbol="BTC/USDT",
        trade_size=0.001, stop_loss_percent=0.02, take_profit_percent=0.04,
        strategy_name="sma_rsi", exchange_name="local", clock=clock)
    result = manager.on_signal(1, T0, 23000.0)
    assert str(result).startswith("skipped: BUY skipped: no room on the disk")
    assert "free disk space" in result.reason and broker.sent == []
