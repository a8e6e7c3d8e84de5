"""``python main.py audit``: check every journal row against a replay of the stored candles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("replay data/historical_data.csv through the strategy and the bot's rules and check"
        " every row of data/historical_trades.csv")

# Rows printed at most; the CSV always holds every finding.
PRINT_LIMIT = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the audit command."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the bot's data folder (default: the DATA_DIR setting, data/)")
    parser.add_argument("--strategy", default=None,
                        help="strategy to replay (default: the one the bot ran with, from"
                             " state.json, else the STRATEGY setting)")
    parser.add_argument("--out", type=Path, default=Path("reports/audit.csv"),
                        help="CSV of every finding (default reports/audit.csv)")
    parser.add_argument("--all", action="store_true",
                        help=f"print every finding (default: at most {PRINT_LIMIT} lines,"
                             " unexplained first)")


def _fail(message: str) -> int:
    print(f"audit: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Print the table, write the CSV; 0 when nothing is unexplained, 1 otherwise, 2 on bad
    input."""
    from bot.audit import (
        AuditInputError,
        audit,
        format_table,
        load_journal,
        read_state,
        rules_from,
        write_csv,
    )
    from config.settings import SettingsError, load_settings
    from storage.candles import CandleFileError, read_candles
    from strategies.registry import get_strategy

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    data_dir = args.data_dir or settings.data_dir
    if not data_dir.is_dir():
        return _fail(f"{data_dir}: no such data folder; pass --data-dir D (the bot's DATA_DIR)")
    candles_csv = data_dir / "historical_data.csv"
    trades_csv = data_dir / "historical_trades.csv"
    try:
        state = read_state(data_dir / "state.json")
        rules, strategy = rules_from(state, settings, args.strategy, get_strategy)
        rows = load_journal(trades_csv)
        candles = read_candles(candles_csv)
        result = audit(candles, rows, state, rules, strategy)
    except (AuditInputError, CandleFileError) as exc:
        return _fail(str(exc))
    try:
        write_csv(result, args.out)
    except OSError as exc:
        return _fail(f"cannot write {args.out} ({exc.strerror})")
    print(format_table(result, limit=None if args.all else PRINT_LIMIT))
    print(f"-> {args.out}")
    return 0 if result.clean else 1
