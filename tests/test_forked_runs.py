"""Runs forked from the zygote behave as ``python SCRIPT`` does (tests/bot_zygote.py,
tests/main_subprocess.py): the same output and status, the interpreter's shutdown steps, the
network jail, and subprocess's timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.bot_zygote import ForkedRun, _system_exit_code, threads_problem
from tests.main_subprocess import (
    JAIL,
    child_env,
    forked_main,
    project_copy,
    run_main,
    write_jail,
    zygote,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork needs POSIX")

PRINTS = """
import os, sys
print("argv", sys.argv[1:])
print("cwd", os.path.basename(os.getcwd()))
print("path0", os.path.basename(sys.path[0]))
print("setting", os.environ.get("SOME_SETTING"))
print("to stderr", file=sys.stderr)
sys.exit(3)
"""


def _script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _forked(folder: Path, script: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 20) -> tuple[int, str, str]:
    run = ForkedRun(zygote(), list(args), cwd=folder, env=env or child_env(folder),
                    stdout=folder / "out.txt", stderr=folder / "err.txt", script=script)
    assert run.reaped_by(time.monotonic() + timeout)
    assert run.returncode is not None
    return (run.returncode, (folder / "out.txt").read_text(encoding="utf-8"),
            (folder / "err.txt").read_text(encoding="utf-8"))


def test_a_forked_run_prints_and_exits_as_a_started_interpreter_does(tmp_path):
    """
    Given a script that prints its arguments, folder, sys.path[0] and a setting, writes to
     stderr and exits 3
    When it runs once as python SCRIPT and once forked from the zygote, with the same
     environment in the same folder
    Then status, stdout and stderr are the same
    """
    folder = tmp_path / "here"
    _script(folder, "prints.py", PRINTS)
    env = child_env(folder, {"SOME_SETTING": "forty-two"})
    started = subprocess.run([sys.executable, "prints.py", "a", "b c"], cwd=folder, env=env,
                             capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode == 3
    assert "setting forty-two" in started.stdout and "path0 here" in started.stdout
    assert _forked(folder, "prints.py", "a", "b c", env=env) == (
        started.returncode, started.stdout, started.stderr)


def test_an_uncaught_error_prints_its_traceback_and_exits_1_and_a_text_exit_prints_it(tmp_path):
    """
    Given a script raising ValueError and one calling sys.exit("bye")
    When each runs forked from the zygote
    Then the first exits 1 with the traceback ending in the error, the second exits 1 with
     "bye" on stderr
    """
    _script(tmp_path / "a", "raises.py", "raise ValueError('boom')\n")
    _script(tmp_path / "b", "says.py", "import sys\nsys.exit('bye')\n")
    code, _, err = _forked(tmp_path / "a", "raises.py")
    assert code == 1
    assert err.splitlines() == ["Traceback (most recent call last):",
                                f'  File "{tmp_path / "a" / "raises.py"}", line 1, in <module>',
                                "    raise ValueError('boom')", "ValueError: boom"]
    code, _, err = _forked(tmp_path / "b", "says.py")
    assert (code, err) == (1, "bye\n")


def test_shutdown_joins_threads_runs_atexit_and_ends_idle_thread_pools(tmp_path):
    """
    Given a script whose main code ends while a non-daemon thread still works, with an
     atexit handler and a thread pool it never shuts down
    When it runs forked from the zygote
    Then the thread finished its file, the handler printed, and the run ended with status 0
    """
    _script(tmp_path, "threads.py", """
        import atexit, threading, time
        from concurrent.futures import ThreadPoolExecutor
        def work():
            time.sleep(0.3)
            open("thread-done", "w").write("yes")
        threading.Thread(target=work).start()
        ThreadPoolExecutor(2).submit(print, "pool ran")
        atexit.register(print, "atexit ran")
    """)
    code, out, _ = _forked(tmp_path, "threads.py")
    assert code == 0
    assert (tmp_path / "thread-done").read_text(encoding="utf-8") == "yes"
    assert "pool ran" in out and out.endswith("atexit ran\n")


def test_an_uncaught_ctrl_c_ends_the_run_by_sigint(tmp_path):
    """
    Given a script raising KeyboardInterrupt
    When it runs forked from the zygote
    Then its status is -2, as a started interpreter's
    """
    _script(tmp_path, "interrupted.py", "raise KeyboardInterrupt\n")
    assert _forked(tmp_path, "interrupted.py")[0] == -2


def test_a_forked_run_is_behind_the_network_jail(tmp_path):
    """
    Given a script that connects to an address off this machine
    When it runs forked from run_main's zygote
    Then the connection is refused by the network jail and never leaves
    """
    _script(tmp_path, "connects.py", """
        import socket
        try:
            socket.create_connection(("192.0.2.1", 443), timeout=1)
        except OSError as exc:
            print(exc)
    """)
    code, out, _ = _forked(tmp_path, "connects.py")
    assert code == 0 and "network jail" in out


def test_run_main_forks_by_default_and_starts_python_when_asked(tmp_path):
    """
    Given a project copy with a bad HISTORY_CANDLES in the environment
    When run_main runs the bot forked and with fresh=True
    Then both exit 2 with the same one-line refusal and the same stdout
    """
    project = project_copy(tmp_path)
    env = {"HISTORY_CANDLES": "ten", "DATA_DIR": str(tmp_path / "d"),
           "LOGS_DIR": str(tmp_path / "l")}
    forked = run_main(project, "--max-candles", "1", env=env)
    fresh = run_main(project, "--max-candles", "1", env=env, fresh=True)
    assert forked.returncode == fresh.returncode == 2
    assert forked.stderr == fresh.stderr and "HISTORY_CANDLES" in forked.stderr
    assert forked.stdout == fresh.stdout
    assert forked.args == fresh.args


def test_a_run_past_its_timeout_is_killed_and_raises_timeout_expired(tmp_path):
    """
    Given a project copy running the standalone emulator, which runs until stopped
    When it is forked with a 0.5 s timeout
    Then subprocess.TimeoutExpired is raised, with what it printed so far
    """
    project = project_copy(tmp_path)
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        forked_main(project, ["emulator", "--port", "0"], child_env(project), 0.5)
    assert caught.value.timeout == 0.5
    assert caught.value.cmd[1:] == ["main.py", "emulator", "--port", "0"]


def test_one_zygote_serves_the_test_process_and_a_dead_one_is_replaced():
    """
    Given run_main's zygote
    When it is asked for twice, then killed and asked for again
    Then the first two are the same process and the third is a new, running one
    """
    first = zygote()
    assert zygote() is first
    first.proc.kill()
    first.proc.wait(timeout=5)
    replaced = zygote()
    assert replaced is not first and replaced.proc.poll() is None


def test_exit_codes_of_system_exit_follow_the_interpreter():
    """
    Given SystemExit with None, 3, 256 and -1
    When their exit statuses are taken
    Then they are 0, 3, 0 and 255
    """
    assert [_system_exit_code(SystemExit(c)) for c in (None, 3, 256, -1)] == [0, 3, 0, 255]


def test_a_process_with_another_thread_may_not_fork():
    """
    Given the threads of a process: the main one alone, then with a second one
    When the zygote's thread check looks at them
    Then it passes with one thread and names both when there are two
    """
    main = threading.main_thread()
    helper = threading.Thread(target=lambda: None, name="busy-helper")
    assert threads_problem([main]) is None
    problem = threads_problem([main, helper])
    assert problem is not None and "busy-helper" in problem and "2 threads" in problem


def test_the_jail_is_written_where_child_env_puts_it_on_the_path(tmp_path):
    """
    Given an empty folder
    When the network jail is written into it
    Then its jail folder holds the jail's sitecustomize.py, and the environment child_env
     gives a project in that folder has exactly that folder as PYTHONPATH
    """
    jail = write_jail(tmp_path)
    assert (jail / "sitecustomize.py").read_text(encoding="utf-8") == JAIL
    assert child_env(tmp_path / "project")["PYTHONPATH"] == str(jail)


def test_a_forked_run_has_only_the_three_standard_descriptors_open(tmp_path):
    """
    Given a script that lists the file descriptors open in its process
    When it runs forked from the zygote
    Then only 0, 1 and 2 are open besides the one the listing itself opens, as in a started
     interpreter
    """
    _script(tmp_path, "fds.py",
            "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n")
    started = subprocess.run([sys.executable, "fds.py"], cwd=tmp_path, env=child_env(tmp_path),
                             capture_output=True, text=True, timeout=30, check=False)
    code, out, _ = _forked(tmp_path, "fds.py")
    assert code == 0 and out == started.stdout
