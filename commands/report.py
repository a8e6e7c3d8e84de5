"""``python main.py report``: summary of the trades journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "summarise data/historical_trades.csv: trades, wins/losses, PnL, fees, drawdown, exits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--trades FILE (default: the settings' trades journal)."""
    parser.add_argument("--trades", type=Path, default=None,
                        help="trades CSV (default: data/historical_trades.csv)")
    parser.add_argument("--candles", type=Path, default=None,
                        help="candle CSV an open position is marked to (default: the candle"
                             " file next to the trades journal, historical_data.csv)")


def run(args: argparse.Namespace) -> int:
    """Print the summary; exit 2 when the file cannot be read."""
    from config.settings import SettingsError, load_settings
    from storage.journal_summary import (
        format_summary,
        last_stored_close,
        open_position_line,
        summarize,
    )
    from storage.trades import TradeJournalError, read_trades

    path = args.trades
    if path is None:
        try:
            path = load_settings().trades_csv
        except SettingsError as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
    if not path.is_file():
        print(f"report: no trades journal at {path}; run the bot first", file=sys.stderr)
        return 2
    try:
        trades = read_trades(path)
    except (TradeJournalError, ValueError) as exc:
        text = str(exc)
        print(f"report: {text if str(path) in text else f'{path}: {text}'}", file=sys.stderr)
        return 2
    print(f"Trades journal: {path}")
    summary = summarize(trades)
    print(format_summary(summary))
    candles = args.candles or path.with_name("historical_data.csv")
    line = open_position_line(summary, last_stored_close(candles))
    if line:
        print(line)
    return 0
