"""storage/lock.py: one process per data folder, released by the kernel when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.lock import (
    LOCK_NAME,
    DataDirLock,
    DataDirLocked,
    DataDirLockError,
    lock_holder,
    lock_path,
)
from tests.conftest import PROJECT_DIR

HOLDER = """
import sys, time
from pathlib import Path
from storage.lock import DataDirLock
lock = DataDirLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def start_holder(folder: Path) -> subprocess.Popen:
    """A real second process that takes the lock of ``folder`` and sleeps."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=PROJECT_DIR,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL (no clean-up by the holder) and reap."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_lock_writes_pid_and_lock_holder_reads_it(tmp_path):
    """Given an empty folder
    When a DataDirLock is taken on it
    Then the lock file holds this process's PID and lock_holder returns it
    And after release lock_holder returns None
    """
    folder = tmp_path / "data"
    with DataDirLock(folder) as lock:
        assert lock.held
        assert lock_path(folder) == folder / LOCK_NAME
        assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())
        assert lock_holder(folder) == os.getpid()
    assert not lock.held
    assert lock_holder(folder) is None


def test_lock_holder_of_a_folder_never_locked_is_none(tmp_path):
    """Given a folder without a lock file, and a missing folder
    When lock_holder is asked
    Then it answers None and creates nothing
    """
    assert lock_holder(tmp_path) is None
    assert lock_holder(tmp_path / "missing") is None
    assert not (tmp_path / LOCK_NAME).exists()


def test_second_holder_in_the_same_process_is_refused(tmp_path):
    """Given a folder locked by one DataDirLock
    When a second DataDirLock on the same folder is acquired
    Then DataDirLocked is raised, naming this PID in one line
    And once the first is released the second can take it
    """
    first = DataDirLock(tmp_path).acquire()
    second = DataDirLock(tmp_path)
    with pytest.raises(DataDirLocked) as caught:
        second.acquire()
    assert caught.value.pid == os.getpid()
    assert f"PID {os.getpid()}" in str(caught.value) and "\n" not in str(caught.value)
    first.release()
    first.release()  # idempotent
    assert second.acquire() is second and second.acquire().held
    second.release()


def test_second_process_is_refused_and_the_kernel_frees_a_killed_holder(tmp_path):
    """Given a real second process holding the folder's lock
    When this process tries to take it
    Then DataDirLocked names the other process's PID and lock_holder returns that PID
    And after the holder is killed with SIGKILL the lock is free at once
    """
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(DataDirLocked) as caught:
            DataDirLock(tmp_path).acquire()
        assert caught.value.pid == holder.pid
        assert f"PID {holder.pid}" in str(caught.value)
        assert lock_holder(tmp_path) == holder.pid
    finally:
        stop(holder)
    assert lock_holder(tmp_path) is None
    with DataDirLock(tmp_path):
        assert lock_holder(tmp_path) == os.getpid()


def test_a_child_process_does_not_inherit_the_lock(tmp_path):
    """Given this process holding the lock and a child process started meanwhile
    When this process releases the lock while the child still runs
    Then the folder is free (the child never held the lock file open)
    """
    lock = DataDirLock(tmp_path).acquire()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.release()
        assert lock_holder(tmp_path) is None
    finally:
        stop(child)


def test_unusable_folder_is_one_line(tmp_path):
    """Given a data folder path that is a file
    When the lock is taken
    Then DataDirLockError says in one line that the folder must be a writable folder
    """
    spot = tmp_path / "file"
    spot.write_text("x")
    with pytest.raises(DataDirLockError) as caught:
        DataDirLock(spot).acquire()
    assert "writable folder" in str(caught.value) and "\n" not in str(caught.value)


def test_reader_waits_for_a_pid_still_being_written(tmp_path, monkeypatch):
    """Given a held lock whose file is still empty (the holder has not written its PID yet)
    When lock_holder looks
    Then it waits the short grace period and answers None for the unknown PID
    And DataDirLocked then says the PID is not known yet
    """
    import storage.lock as lock_module

    monkeypatch.setattr(lock_module, "PID_WAIT_S", 0.05)
    lock = DataDirLock(tmp_path).acquire()
    try:
        os.truncate(lock_path(tmp_path), 0)
        started = time.monotonic()
        assert lock_holder(tmp_path) is None
        assert time.monotonic() - started >= 0.04
        with pytest.raises(DataDirLocked, match="PID is not known yet"):
            DataDirLock(tmp_path).acquire()
    finally:
        lock.release()


def test_second_bot_and_download_on_a_held_folder_exit_2_naming_the_pid(tmp_path, capsys,
                                                                        monkeypatch):
    """Given a real process holding the data folder's lock
    When the bot, and a download into that folder, start with it as their data folder
    Then each exits 2 with one line naming the holder's PID
    And neither wrote a state, journal, exchange or log file
    """
    import main

    data, logs = tmp_path / "data", tmp_path / "logs"
    holder = start_holder(data)
    monkeypatch.setenv("DATA_DIR", str(data))
    try:
        runs = {
            "bot": main.main(["--exchange", "local", "--logs-dir", str(logs),
                              "--max-candles", "1"]),
            "download": main.main(["download", "--since", "2026-01-01", "--exchange", "local",
                                   "--out", str(data / "historical_data.csv")]),
        }
        err = capsys.readouterr().err
    finally:
        stop(holder)
    lines = [line for line in err.splitlines() if line.strip()]
    assert runs == {"bot": 2, "download": 2}, err
    assert len(lines) == 2 and all(f"PID {holder.pid}" in line for line in lines), lines
    assert lines[1].startswith("download: ")
    assert sorted(p.name for p in data.iterdir()) == [LOCK_NAME]
    assert not logs.exists()


def test_download_locks_only_a_bots_folder(tmp_path):
    """Given DATA_DIR, a folder a bot once locked, and an unrelated folder
    When lock_for_output is asked for an output file in each
    Then the first two are locked (and released after) and the unrelated one is not
    """
    from commands.download import lock_for_output

    data, used, other = tmp_path / "data", tmp_path / "used", tmp_path / "other"
    for folder in (data, used, other):
        folder.mkdir()
    DataDirLock(used).acquire().release()
    for folder in (data, used):
        lock = lock_for_output(folder / "c.csv", data)
        assert lock is not None and lock_holder(folder) == os.getpid()
        lock.release()
    assert lock_for_output(other / "c.csv", data) is None
    assert not (other / LOCK_NAME).exists()


def test_import_into_a_folder_a_running_bot_holds_is_refused(tmp_path, capsys):
    """
    Given a bot's data folder whose lock a real second process holds
    When 'main.py import SRC --out <that folder>/historical_data.csv --force' runs
    Then it exits 2 with one line naming the holder's PID and the file is not replaced
    """
    import main
    from tests.candle_layouts import candles, write_layout

    data = tmp_path / "data"
    data.mkdir()
    target = data / "historical_data.csv"
    target.write_text("kept\n")
    src = write_layout("a Binance kline CSV in milliseconds", candles(5), tmp_path)
    holder = start_holder(data)
    try:
        status = main.main(["import", str(src), "--out", str(target), "--force"])
    finally:
        stop(holder)
    err = capsys.readouterr().err.strip()
    assert status == 2 and f"PID {holder.pid}" in err and "\n" not in err
    assert target.read_text() == "kept\n"
    assert main.main(["import", str(src), "--out", str(target), "--force"]) == 0
