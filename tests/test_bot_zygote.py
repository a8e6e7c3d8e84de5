"""The zygote that forks the crash test's bot lives (tests/bot_zygote.py)."""

from __future__ import annotations

import os
import time

import pytest

from tests.bot_zygote import ForkedBot, Zygote, exit_status

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork and SIGKILL need POSIX")


@pytest.fixture(scope="module")
def zygote():
    with Zygote() as started:
        yield started


def test_a_life_runs_main_with_its_own_environment_and_stderr(zygote, tmp_path):
    """
    Given a zygote that imported the libraries once
    When a life runs the bot with HISTORY_CANDLES=ten in its environment
    Then it exits 2 and its one-line refusal naming HISTORY_CANDLES is in its own stderr file,
     while the zygote's environment never had that setting
    """
    env = dict(os.environ, HISTORY_CANDLES="ten", DATA_DIR=str(tmp_path / "data"),
               LOGS_DIR=str(tmp_path / "logs"))
    life = ForkedBot(zygote, ["--max-candles", "1", "--quiet"], tmp_path, env)
    assert life.wait(20) == 2
    stderr = (tmp_path / "bot-stderr.txt").read_text(encoding="utf-8")
    assert "HISTORY_CANDLES" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "HISTORY_CANDLES" not in os.environ or os.environ["HISTORY_CANDLES"] != "ten"


def test_a_killed_life_reports_minus_nine_and_is_no_longer_alive(zygote, tmp_path):
    """
    Given a life running the standalone emulator (which runs until stopped)
    When it is killed with SIGKILL
    Then it was alive before, is not after, and its exit status is -9 as subprocess gives it
    """
    life = ForkedBot(zygote, ["emulator", "--port", "0"], tmp_path, dict(os.environ))
    time.sleep(0.2)
    assert life.alive()
    life.kill()
    assert not life.alive()
    assert life.poll() == -9


def test_waiting_past_the_timeout_kills_the_life_and_says_so(zygote, tmp_path):
    """
    Given a life that does not end by itself
    When it is waited for 0.3 s
    Then an AssertionError says it did not finish, and the life has been killed
    """
    life = ForkedBot(zygote, ["emulator", "--port", "0"], tmp_path, dict(os.environ))
    with pytest.raises(AssertionError, match="did not finish within 0.3 s"):
        life.wait(0.3)
    assert life.poll() == -9


def test_an_unknown_request_is_an_error_and_the_zygote_keeps_serving(zygote, tmp_path):
    """
    Given a running zygote
    When it is sent a request it does not know
    Then the test side gets an AssertionError naming it, and the next life still starts
    """
    with pytest.raises(AssertionError, match="unknown zygote request"):
        zygote.ask({"dance": 1})
    life = ForkedBot(zygote, ["--help"], tmp_path, dict(os.environ))
    assert life.wait(20) == 0


def testexit_status_is_the_code_or_minus_the_signal():
    """
    Given wait statuses of a process that exited 3 and of one killed by signal 9
    When they are turned into exit statuses
    Then they are 3 and -9
    """
    assert exit_status(3 << 8) == 3
    assert exit_status(9) == -9


def test_a_closed_zygote_ends():
    """
    Given a started zygote
    When it is closed
    Then its process has ended with status 0
    """
    started = Zygote()
    started.close()
    assert started.proc.returncode == 0
