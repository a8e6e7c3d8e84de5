"""Helpers for the optimize tests: candle files, in-process runs, results and backtests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

import main
from backtest.synthetic import synthetic_candles
from research.results import parse_cell


def write_candles(path: Path, n: int = 3000, seed: int = 5) -> Path:
    """``n`` synthetic 1-minute candles as the bot's candle CSV."""
    synthetic_candles(n, seed=seed).to_csv(path, index=False)
    return path


def random_walk_candles(n: int, seed: int, step_ms: int = 3_600_000) -> pd.DataFrame:
    """A driftless geometric random walk (no edge anywhere), hourly."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.002, (2, n)))
    return pd.DataFrame({
        "timestamp": 1_704_067_200_000 + step_ms * np.arange(n, dtype=np.int64),
        "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
        "low": np.minimum(open_, close) * (1 - wick[1]), "close": close,
        "volume": np.ones(n)})


def cycle_candles(n: int, seed: int, period: int = 240, step_ms: int = 3_600_000
                  ) -> pd.DataFrame:
    """A steady price cycle plus small noise: a planted, stable edge for trend followers."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    close = 100.0 * np.exp(0.05 * np.sin(2 * np.pi * t / period)
                           + np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame({
        "timestamp": 1_704_067_200_000 + step_ms * t.astype(np.int64),
        "open": open_, "high": np.maximum(open_, close) * 1.0005,
        "low": np.minimum(open_, close) * 0.9995, "close": close, "volume": np.ones(n)})


def optimize(*args) -> int:
    """Run ``main.py optimize`` in-process; its exit status."""
    return main.main(["optimize", *map(str, args)])


def backtest_report(*args) -> dict:
    """Run ``main.py backtest`` in-process into a fresh folder; its report.json."""
    out = Path(args[args.index("--out") + 1])
    assert main.main(["backtest", *map(str, args)]) == 0
    return json.loads((out / "report.json").read_text())


def read_results(folder: Path) -> list[dict]:
    """The rows of results.csv with numbers parsed (None for empty cells)."""
    with (folder / "results.csv").open(newline="") as handle:
        return [{k: parse_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to check nothing was touched."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}
