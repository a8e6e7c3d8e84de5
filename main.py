"""Command line of the paper-trading bot: argument parsing and dispatch only.

``python main.py [bot options]`` runs the bot; ``python main.py COMMAND ...`` runs one of the
sub-commands below. Each command lives in ``commands/<name>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when chosen so
that a short command does not pay for the others' imports.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path

# numpy's OpenBLAS starts a thread per core when imported (about 60 ms of every command's
# start here); nothing in the project needs threaded BLAS, and one thread is deterministic and
# fork-safe (docs/decisions/0155-fast-fills.md). A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

PROJECT_DIR = Path(__file__).resolve().parent

# name -> module; "bot" is what runs when no command is given.
COMMANDS: dict[str, str] = {
    "bot": "commands.bot",
    "signals": "commands.signals",
    "emulator": "commands.emulator",
    "backtest": "commands.backtest",
    "compare": "commands.compare",
    "download": "commands.download",
    "report": "commands.report",
    "check": "commands.check",
    "status": "commands.status",
    "import": "commands.import_candles",
    "optimize": "commands.optimize",
    "audit": "commands.audit",
}


def is_dependency(module: str | None) -> bool:
    """True when ``module`` is an installed-package import, not one of the project's own."""
    if not module:
        return False
    top = module.split(".")[0]
    return not (PROJECT_DIR / top).is_dir() and not (PROJECT_DIR / f"{top}.py").is_file()


def missing_dependency_line(module: str) -> str:
    """One line for a run by an interpreter that lacks the project's packages."""
    return (f"main.py: the package '{module.split('.')[0]}' is not installed for"
            f" {sys.executable}; run with the project's virtual environment: .venv/bin/python"
            " main.py ... (or 'source .venv/bin/activate' first; to create it: python3 -m venv"
            " .venv && .venv/bin/pip install -r requirements.txt)")


def available_commands() -> dict[str, str]:
    """The commands whose module exists in this checkout."""
    found = {}
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            found[name] = module
    return found


def build_parser(name: str, module) -> argparse.ArgumentParser:
    """The argument parser of one command."""
    prog = "main.py" if name == "bot" else f"main.py {name}"
    parser = argparse.ArgumentParser(prog=prog, description=module.HELP)
    module.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the chosen command and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = available_commands()
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print("usage: main.py [COMMAND] [options]\n\ncommands:")
        for name in commands:
            try:
                module = importlib.import_module(commands[name])
            except ModuleNotFoundError as exc:
                if not is_dependency(exc.name):
                    raise
                print(missing_dependency_line(exc.name or "?"), file=sys.stderr)
                return 2
            print(f"  {name:<10} {module.HELP}")
        print("\nWithout a command the bot runs. 'main.py COMMAND --help' shows its options.")
        return 0
    name = argv.pop(0) if argv and argv[0] in commands else "bot"
    if name not in commands:
        print(f"main.py: the command '{name}' is not available in this version", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(commands[name])
        args = build_parser(name, module).parse_args(argv)
        return int(module.run(args) or 0)
    except ModuleNotFoundError as exc:
        if not is_dependency(exc.name):
            raise
        print(missing_dependency_line(exc.name or "?"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Before the bot installs its signal handlers (start-up) Ctrl+C lands here.
        print(f"main.py: interrupted by Ctrl+C while starting '{name}'; nothing was traded."
              " Start it again when ready", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
