"""Start-up failures that used to be tracebacks: each is one line and exit 2 (issue 10, point 8)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

import main
from storage.trades import TradeJournal, TradeRow
from tests.main_subprocess import child_env, error_lines, project_copy


def _one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("where", ["file", "devnull"])
def test_logs_dir_that_is_a_file_or_dev_null_is_one_line(tmp_path, capsys, where):
    """
    Given --logs-dir naming a regular file, or /dev/null
    When the bot starts
    Then it exits 2 with one line saying it is not a folder, before anything is written
    """
    target = tmp_path / "a-file" if where == "file" else "/dev/null"
    if where == "file":
        target.write_text("x")
    status = main.main(["--exchange", "local", "--data-dir", str(tmp_path / "data"),
                        "--logs-dir", str(target), "--max-candles", "1", "--quiet"])
    assert status == 2
    assert f"{target} is not a folder" in _one_line(capsys)
    assert not (tmp_path / "data").exists()


def _journal_with_bad_pnl(path) -> None:
    TradeJournal(path).append(TradeRow(
        timestamp_ms=1_767_225_600_000, order_id="2", side="sell", quantity=0.001,
        entry_price=23000.0, exit_price=23100.0, pnl=0.1, client_order_id="pb-2s-x",
        exchange="local", symbol="BTC/USDT"))
    path.write_text(path.read_text().replace(",0.1,", ",ten,"))


def test_a_journal_pnl_that_is_not_a_number_is_one_line_for_bot_and_report(tmp_path, capsys):
    """
    Given a trades journal whose PnL says 'ten'
    When report reads it, and the bot starts on it
    Then report exits 2 with one line naming line 2 and the value (no row silently dropped)
    And the bot exits 2 with one line, the journal kept aside
    """
    data = tmp_path / "data"
    data.mkdir()
    journal = data / "historical_trades.csv"
    _journal_with_bad_pnl(journal)
    assert main.main(["report", "--trades", str(journal)]) == 2
    line = _one_line(capsys)
    assert "line 2: PnL 'ten' is not a number" in line and line.count(str(journal)) == 1
    status = main.main(["--exchange", "local", "--data-dir", str(data), "--logs-dir",
                        str(tmp_path / "logs"), "--max-candles", "1", "--quiet"])
    assert status == 2
    assert "PnL 'ten' is not a number" in _one_line(capsys)
    assert len(list(data.glob("historical_trades.csv.corrupt-*"))) == 1


def test_ctrl_c_during_start_up_is_one_line_and_exit_2(tmp_path):
    """
    Given the bot starting as a process (imports and exchange start-up still running)
    When it receives SIGINT (Ctrl+C) just after it took the data folder's lock
    Then it exits 2 with one line saying it was interrupted while starting, no traceback
    """
    project = project_copy(tmp_path)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "main.py", "--exchange", "local", "--data-dir", str(data),
         "--logs-dir", str(tmp_path / "logs"), "--quiet"], cwd=project,
        env=child_env(project), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (data / ".paperbot.lock").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    lines = error_lines(stderr)
    assert proc.returncode == 2, stderr
    assert len(lines) == 1 and "interrupted by Ctrl+C while starting" in lines[0], lines
