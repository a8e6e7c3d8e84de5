"""``python main.py status``: is the bot running, what does it hold, when did it last act."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "show whether the bot runs, its position, last candle and PnL (exit 0 ok, 1 down, 3 stale)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the status command."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the bot's data folder (default: DATA_DIR)")
    parser.add_argument("--all", type=Path, default=None, metavar="ROOT",
                        help="list every bot data folder under ROOT, one line each")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-price", action="store_true",
                        help="do not ask the exchange for the price (no unrealised PnL)")


def run(args: argparse.Namespace) -> int:
    """Print the status; exit 0 running, 1 not running, 3 running but stale, 2 bad usage."""
    from ops.status import (
        find_instances,
        format_instance,
        format_row,
        instance_status,
        overall_code,
    )

    if args.all is not None:
        if args.data_dir is not None:
            print("main.py status: use --all ROOT or --data-dir D, not both", file=sys.stderr)
            return 2
        if not args.all.is_dir():
            print(f"main.py status: --all {args.all} is not a folder", file=sys.stderr)
            return 2
        found = [instance_status(d, ask_price=not args.no_price)
                 for d in find_instances(args.all)]
        code = overall_code([s["code"] for s in found])
        if args.json:
            print(json.dumps({"root": str(args.all), "code": code, "instances": found},
                             indent=1))
        elif not found:
            print(f"no bot data folders under {args.all}")
        else:
            print("\n".join(format_row(args.all, s) for s in found))
        return code
    data_dir = args.data_dir
    if data_dir is None:
        from config.settings import SettingsError, load_settings

        try:
            data_dir = load_settings().data_dir
        except SettingsError as exc:
            print(f"main.py status: {exc}", file=sys.stderr)
            return 2
    if not Path(data_dir).is_dir():
        print(f"no bot data folder at {data_dir}: not running (set --data-dir or DATA_DIR)")
        return 1
    status = instance_status(data_dir, ask_price=not args.no_price)
    print(json.dumps(status, indent=1) if args.json else format_instance(status))
    return int(status["code"])
