"""The suite's run order: the longest modules first (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tests.conftest import LONGEST_MODULES, pytest_collection_modifyitems, run_order


def test_listed_modules_go_first_in_their_order_and_the_rest_after():
    """
    Given the first listed module, the second, and a module not on the list
    When their places in the run are asked
    Then they are 0, 1 and after every listed one
    """
    assert run_order(LONGEST_MODULES[0]) == 0
    assert run_order(LONGEST_MODULES[1]) == 1
    assert run_order("test_something_quick.py") == len(LONGEST_MODULES)


def test_collected_items_are_sorted_stably_by_module():
    """
    Given items of a quick module, then of the longest module, then more of the quick one
    When the collection is reordered
    Then the longest module's item comes first and the quick module's items keep their order
    """
    def item(module: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(path=Path("tests") / module, name=name)

    items = [item("test_quick.py", "a"), item(LONGEST_MODULES[0], "long"),
             item("test_quick.py", "b")]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["long", "a", "b"]
