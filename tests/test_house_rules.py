"""The house rule that every test's docstring is Gherkin holds by itself."""

import ast
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent


def gherkin_gaps(source: str) -> list[str]:
    """Names of test functions in ``source`` whose docstring lacks a Given, When or Then line."""
    gaps = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            doc = ast.get_docstring(node) or ""
            starts = {line.strip().split(" ", 1)[0].rstrip(":") for line in doc.splitlines()}
            if not {"Given", "When", "Then"} <= starts:
                gaps.append(node.name)
    return gaps


def test_gherkin_gaps_spots_a_plain_docstring():
    """
    Given a test function whose docstring is plain prose and one with Given/When/Then lines
    When the checker reads the source
    Then only the plain one is reported
    """
    source = (
        'def test_plain():\n    """Checks things."""\n\n'
        'def test_gherkin():\n    """\n    Given a\n    When b\n    Then c\n    """\n'
    )
    assert gherkin_gaps(source) == ["test_plain"]


def test_every_test_docstring_is_gherkin():
    """
    Given every test module under tests/
    When each test function's docstring is read
    Then each one has a Given, a When and a Then line
    """
    offenders = []
    for path in sorted(TESTS_DIR.rglob("*.py")):
        offenders += [f"{path.name}::{name}" for name in gherkin_gaps(path.read_text("utf-8"))]
    assert offenders == [], f"tests without a Gherkin docstring: {offenders}"
