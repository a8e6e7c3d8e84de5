"""``main.py`` run by an interpreter without the project's packages: one line, not a trace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from main import is_dependency, missing_dependency_line
from tests.conftest import PROJECT_DIR


def test_is_dependency_tells_packages_from_project_modules():
    """
    Given pandas, dotenv, the project's storage package and main.py, and no name
    When is_dependency looks at them
    Then only the installed packages count
    """
    assert is_dependency("pandas") and is_dependency("dotenv.main")
    assert not is_dependency("storage.candles") and not is_dependency("main")
    assert not is_dependency(None)


def test_missing_dependency_line_says_how_to_run():
    """
    Given the missing module pandas.core
    When the line is built
    Then it names pandas, the interpreter and the venv command
    """
    line = missing_dependency_line("pandas.core")
    assert "'pandas' is not installed for" in line and sys.executable in line
    assert ".venv/bin/python main.py" in line and "\n" not in line


@pytest.mark.parametrize("argv", [["report"], ["backtest", "--data", "x.csv"], [],
                                  ["import", "a.csv", "--out", "b.csv"]])
def test_an_interpreter_without_the_packages_gets_one_line(tmp_path, argv):
    """
    Given Python started without site-packages (-S: no pandas, numpy or dotenv)
    When main.py runs a command
    Then it exits 2 with one line saying to use .venv/bin/python, and no traceback
    """
    done = subprocess.run([sys.executable, "-S", str(PROJECT_DIR / "main.py"), *argv],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "is not installed for" in lines[0]
    assert ".venv/bin/python main.py" in lines[0]
