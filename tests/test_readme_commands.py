"""Every ``python main.py ...`` command the README shows parses as written."""

from __future__ import annotations

import importlib
import re
import shlex

import pytest

from main import available_commands, build_parser
from tests.conftest import PROJECT_DIR

DOCS = [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs" / "readme").glob("*.md"))]
COMMAND = re.compile(r"^\s*(?:\.venv/bin/)?python3? main\.py(?P<rest>(?: .*)?)$")


def readme_commands() -> list[tuple[str, str]]:
    """(document name, command line) for each main.py command in a bash block of the docs.

    A line holding ``...`` shows only part of a command and is left out.
    """
    found = []
    for doc in DOCS:
        in_block, pending = False, ""
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = line.strip() in ("```bash", "```sh", "```shell")
                continue
            if not in_block:
                continue
            for part in re.split(r"&&|;", line):
                text = (pending + part).split(" #")[0].rstrip()
                if text.endswith("\\"):
                    pending = text[:-1] + " "
                    continue
                pending = ""
                match = COMMAND.match(text)
                if match and "..." not in match.group("rest"):  # "..." marks an elision
                    found.append((doc.name, match.group("rest").strip()))
    return found


def test_the_docs_show_commands():
    """
    Given the README and docs/readme
    When their bash blocks are scanned
    Then they show main.py commands, the Quick start's among them
    """
    lines = readme_commands()
    assert len(lines) > 20
    assert ("README.md", "--exchange local --speed max --max-candles 300") in lines


@pytest.mark.parametrize(("doc", "line"), readme_commands())
def test_each_documented_command_parses(doc, line):
    """
    Given one main.py command line from the docs
    When its command's argument parser reads it
    Then it parses: the command exists and every flag is known
    """
    argv = shlex.split(line)
    commands = available_commands()
    name = argv.pop(0) if argv and argv[0] in commands else "bot"
    if argv in (["-h"], ["--help"]):
        return
    module = importlib.import_module(commands[name])
    build_parser(name, module).parse_args(argv)
