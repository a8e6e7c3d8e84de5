"""The command-line dispatcher in main.py."""

import argparse
import types

import pytest

import main


def fake_command(calls):
    def add_arguments(parser):
        parser.add_argument("--n", type=int, default=1)

    def run(args):
        calls.append(args.n)
        return 7

    return types.SimpleNamespace(HELP="a fake command", add_arguments=add_arguments, run=run)


def test_available_commands_lists_only_existing_modules(monkeypatch):
    """
    Given the command table names one module that exists and one that does not
    When the available commands are listed
    Then only the existing one is returned
    """
    monkeypatch.setattr(main, "COMMANDS", {"ok": "commands", "gone": "commands.no_such_thing"})
    assert main.available_commands() == {"ok": "commands"}


def test_build_parser_uses_the_command_flags():
    """
    Given a command module with a --n flag
    When its parser is built and parses --n 3
    Then the value is 3 and the program name shows the command
    """
    parser = main.build_parser("demo", fake_command([]))
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.parse_args(["--n", "3"]).n == 3
    assert parser.prog == "main.py demo"


def test_main_dispatches_to_the_named_command_and_returns_its_status(monkeypatch):
    """
    Given a registered command 'demo'
    When main runs with 'demo --n 4'
    Then the command runs with n=4 and main returns its exit status
    """
    calls = []
    module = fake_command(calls)
    monkeypatch.setattr(main, "available_commands", lambda: {"demo": "x", "bot": "y"})
    monkeypatch.setattr(main.importlib, "import_module", lambda name: module)
    assert main.main(["demo", "--n", "4"]) == 7
    assert calls == [4]


def test_main_without_a_command_runs_the_bot(monkeypatch):
    """
    Given the bot command is registered
    When main runs with only flags
    Then the bot command receives them
    """
    calls = []
    module = fake_command(calls)
    monkeypatch.setattr(main, "available_commands", lambda: {"bot": "y"})
    monkeypatch.setattr(main.importlib, "import_module", lambda name: module)
    assert main.main(["--n", "9"]) == 7
    assert calls == [9]


def test_bad_argument_exits_with_status_2(monkeypatch, capsys):
    """
    Given a registered command with an integer flag
    When main runs it with a non-integer value
    Then it exits with status 2 and a usage line on stderr
    """
    module = fake_command([])
    monkeypatch.setattr(main, "available_commands", lambda: {"demo": "x"})
    monkeypatch.setattr(main.importlib, "import_module", lambda name: module)
    with pytest.raises(SystemExit) as caught:
        main.main(["demo", "--n", "many"])
    assert caught.value.code == 2
    assert "usage: main.py demo" in capsys.readouterr().err


def test_help_lists_commands(monkeypatch, capsys):
    """
    Given a registered command
    When main runs with --help alone
    Then the command and its help line are listed and the status is 0
    """
    monkeypatch.setattr(main, "available_commands", lambda: {"demo": "x"})
    monkeypatch.setattr(main.importlib, "import_module", lambda name: fake_command([]))
    assert main.main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_missing_bot_command_is_reported(monkeypatch, capsys):
    """
    Given no bot command in this checkout
    When main runs without a command
    Then it says the command is not available and returns 2
    """
    monkeypatch.setattr(main, "available_commands", lambda: {})
    assert main.main([]) == 2
    assert "not available" in capsys.readouterr().err
