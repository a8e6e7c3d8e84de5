"""The floors of the house: which package may import which, and no import cycle anywhere.

Imports are read from the source (``ast``), every kind counted: top-level, inside functions
(lazy imports for start-up speed) and under ``TYPE_CHECKING``, because each is a dependency a
reader has to follow. The allowed table is the diagram in the README's architecture part.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT_DIR

# package -> the project packages it may import (besides itself). Mirrors the README diagram.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core", "strategies"},
    "storage": {"core"},
    "strategies": {"core"},
    "risk": {"core", "storage"},
    "exchange": {"core", "storage"},
    "emulator": {"core", "storage"},
    "backtest": {"core", "risk", "storage", "strategies"},
    "research": {"core", "backtest", "strategies", "storage"},
    "bot": {"core", "config", "risk", "storage", "strategies", "exchange", "emulator"},
    "tools": {"core"},
    "ops": {"core", "config", "storage", "risk", "exchange", "bot"},
    "commands": {"core", "config", "storage", "strategies", "risk", "exchange", "emulator",
                 "backtest", "research", "bot", "ops"},
}
PACKAGES = tuple(ALLOWED)


def module_name(path: Path, root: Path) -> str:
    """``bot/runner.py`` -> ``bot.runner``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, known: set[str]) -> set[str]:
    """The project modules ``source`` imports anywhere (``from a.b import c`` counts a.b.c when
    that is a module, else a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """module -> project modules it imports, for every module of ``packages`` under ``root``."""
    files = {module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path.read_text("utf-8"), known) - {name}
            for name, path in files.items()}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """``a.x -> b.y`` for every import that crosses to a package ``ALLOWED`` does not list."""
    bad = []
    for module, targets in sorted(graph.items()):
        home = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != home and other not in ALLOWED[home]:
                bad.append(f"{module} -> {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph folded onto top-level packages."""
    folded: dict[str, set[str]] = {}
    for module, targets in graph.items():
        home = module.split(".")[0]
        folded.setdefault(home, set()).update(
            t.split(".")[0] for t in targets if t.split(".")[0] != home)
    return folded


def test_no_package_imports_a_floor_above_it():
    """
    Given every module of the project's packages
    When their imports (top-level, lazy and TYPE_CHECKING ones) are read
    Then each import stays within the allowed table: core imports nothing of the project,
         risk/strategies/storage never reach exchange or the emulator
    """
    graph = import_graph(PROJECT_DIR)
    assert "core.errors" in graph and "emulator.server" in graph
    assert layer_violations(graph) == []
    for low in ("risk", "strategies", "storage"):
        reached = package_graph(graph).get(low, set())
        assert not reached & {"exchange", "emulator", "bot", "commands"}, (low, reached)
    assert package_graph(graph).get("core", set()) == set()


def test_there_is_no_import_cycle_between_modules_or_packages():
    """
    Given the project's import graph
    When cycles are searched among modules and among packages
    Then there are none
    """
    graph = import_graph(PROJECT_DIR)
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == []


def test_every_package_is_in_the_table():
    """
    Given the project folder
    When its Python packages are listed
    Then each one has a row in the allowed-imports table, so none escapes the check
    """
    found = {p.parent.name for p in PROJECT_DIR.glob("*/__init__.py")} - {"tests"}
    assert found <= set(ALLOWED), found - set(ALLOWED)


def test_the_checker_catches_a_forbidden_import_and_a_cycle(tmp_path):
    """
    Given a small tree where risk imports the exchange, and two modules import each other
    When the graph is read and checked
    Then the forbidden import is reported and the cycle is found
    """
    for package in ("risk", "exchange", "core"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "risk" / "a.py").write_text("from exchange.client import X\n")
    (tmp_path / "exchange" / "client.py").write_text(
        "def f():\n    from exchange import other\n")
    (tmp_path / "exchange" / "other.py").write_text("import exchange.client\n")
    (tmp_path / "core" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from risk.a import Y\n")
    graph = import_graph(tmp_path, ("risk", "exchange", "core"))
    assert layer_violations(graph) == ["core.x -> risk.a", "risk.a -> exchange.client"]
    assert cycles(graph) == [["exchange.client", "exchange.other"]]
