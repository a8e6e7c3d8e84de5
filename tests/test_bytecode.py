"""Tests for the byte-code compiled once before a test run (tests/bytecode.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.bytecode import precompile, project_sources


def _tree(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n", encoding="utf-8")
    (root / "pkg" / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (root / "pkg" / "sub" / "deep.py").write_text("DEEP = 2\n", encoding="utf-8")
    (root / "notes").mkdir()  # a folder without __init__.py is no package
    (root / "notes" / "draft.py").write_text("X = 3\n", encoding="utf-8")
    (root / ".venv").mkdir()
    (root / ".venv" / "__init__.py").write_text("", encoding="utf-8")
    (root / "main.py").write_text("print('hi')\n", encoding="utf-8")


def _pyc(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def test_project_sources_are_the_packages_and_the_top_level_modules(tmp_path):
    """
    Given a project folder with a package, a plain folder, a hidden .venv and main.py
    When its sources are listed
    Then they are the package and main.py only
    """
    _tree(tmp_path)
    assert project_sources(tmp_path) == [tmp_path / "pkg", tmp_path / "main.py"]


def test_precompile_writes_the_byte_code_python_reads_and_skips_fresh_files(tmp_path):
    """
    Given a project folder without any __pycache__
    When precompile runs twice
    Then every package module and main.py has the .pyc importlib looks for, the plain folder
     and .venv have none, and the second run leaves the files as they were
    """
    _tree(tmp_path)
    assert precompile(tmp_path) is True
    compiled = [tmp_path / "pkg" / "mod.py", tmp_path / "pkg" / "sub" / "deep.py",
                tmp_path / "pkg" / "__init__.py", tmp_path / "main.py"]
    assert all(_pyc(source).is_file() for source in compiled)
    assert not _pyc(tmp_path / "notes" / "draft.py").exists()
    assert not _pyc(tmp_path / ".venv" / "__init__.py").exists()
    stamps = {source: _pyc(source).stat().st_mtime_ns for source in compiled}
    assert precompile(tmp_path) is True
    assert {source: _pyc(source).stat().st_mtime_ns for source in compiled} == stamps


def test_a_module_that_does_not_compile_is_reported_and_the_rest_still_compile(tmp_path):
    """
    Given a package with one module holding a syntax error
    When precompile runs
    Then it returns False and the other modules still have their byte-code
    """
    _tree(tmp_path)
    (tmp_path / "pkg" / "broken.py").write_text("def (:\n", encoding="utf-8")
    assert precompile(tmp_path) is False
    assert _pyc(tmp_path / "pkg" / "mod.py").is_file()
    assert _pyc(tmp_path / "main.py").is_file()


def test_the_controller_compiles_the_project_once_and_workers_do_not(monkeypatch):
    """
    Given the test run's controller and one of its xdist workers
    When pytest_configure runs in each
    Then only the controller compiles, and it compiles this project's folder
    """
    import types

    import tests.bytecode
    from tests.conftest import PROJECT_DIR, pytest_configure

    calls: list[Path] = []
    monkeypatch.setattr(tests.bytecode, "precompile", lambda root: calls.append(root) or True)
    pytest_configure(types.SimpleNamespace(workerinput={"workerid": "gw0"}))
    assert calls == []
    pytest_configure(types.SimpleNamespace())
    assert calls == [PROJECT_DIR]
