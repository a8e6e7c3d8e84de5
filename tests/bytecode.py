"""The project's byte-code, compiled once before a test run starts its workers.

The suite starts ~100 Python processes (test workers, ``python main.py`` runs, spawned
workers). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on this project's machines and in CI,
none of them leaves a ``.pyc`` behind, so each compiled every project module it imported from
source again: about 0.15 s of CPU a bot start. ``py_compile`` writes regardless of that
setting, and every later process then reads the files. They go where Python itself puts them
(``__pycache__/``, ignored by git). See docs/decisions/0084-test-suite-speed-and-shape.md.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def project_sources(root: Path) -> list[Path]:
    """The top-level packages (folders with an ``__init__.py``) and modules of ``root``."""
    packages = [p for p in sorted(root.iterdir())
                if p.is_dir() and not p.name.startswith(".") and (p / "__init__.py").is_file()]
    modules = [p for p in sorted(root.glob("*.py")) if p.is_file()]
    return packages + modules


def precompile(root: Path) -> bool:
    """Write missing or stale byte-code for ``root``'s packages and modules; True when every
    file compiled (one that does not is left to its importer, which reports it)."""
    ok = True
    for source in project_sources(root):
        if source.is_dir():
            ok = bool(compileall.compile_dir(source, quiet=1)) and ok
        else:
            ok = bool(compileall.compile_file(source, quiet=1)) and ok
    return ok
