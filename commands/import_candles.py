"""``python main.py import SRC --out FILE``: any known candle file into the project's CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("convert a candle file (TradingView, freqtrade, Binance, Date,Open,... CSV) into the"
        " project's candle CSV")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The source file, the output file and whether an existing output may be replaced."""
    parser.add_argument("source", type=Path, metavar="SRC",
                        help="candle file: TradingView chart export, freqtrade .feather/.json,"
                             " Binance kline CSV (headerless, 12 columns), Date,Open,High,Low,"
                             "Close,Volume with ISO dates, ',' or ';' delimited")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="project candle CSV to write (timestamp,open,high,low,close,volume)")
    parser.add_argument("--force", action="store_true",
                        help="replace FILE when it exists (otherwise it is kept and the import"
                             " refused)")


def candle_csv_bytes(frame) -> bytes:
    """The project's candle CSV text of a candle frame (header, epoch ms, shortest floats)."""
    from core.candles import CANDLE_COLUMNS

    return frame[CANDLE_COLUMNS].to_csv(index=False, lineterminator="\n").encode("utf-8")


def run(args: argparse.Namespace) -> int:
    """Read SRC with the one reader, write FILE atomically; 0 done, 2 on bad input."""
    from storage.atomic import write_atomic
    from storage.candle_formats import read_candle_source, stderr_note
    from storage.candles import CandleFileError

    if args.out.exists() and not args.force:
        print(f"import: {args.out} exists; pick another --out or add --force to replace it",
              file=sys.stderr)
        return 2
    try:
        frame, source = read_candle_source(args.source)
    except CandleFileError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    note = stderr_note("import")
    for line in source.notes:
        note(line)
    from storage.lock import DataDirLocked, DataDirLockError, lock_if_bot_folder

    try:
        # Replacing a candle file a running bot appends to would lose its rows.
        lock = lock_if_bot_folder(args.out)
    except (DataDirLocked, DataDirLockError) as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    try:
        write_atomic(args.out, candle_csv_bytes(frame), mode=0o644)
    except OSError as exc:
        print(f"import: cannot write {args.out} ({exc.strerror})", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.release()
    first, last = (frame["timestamp"].iloc[i] for i in (0, -1))
    import pandas as pd

    span = " to ".join(pd.Timestamp(int(t), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
                       for t in (first, last))
    print(f"import: {source.rows:,} {source.timeframe or 'single'} candles ({source.layout})"
          f" from {span} -> {args.out}")
    return 0
