"""``results.csv``, ``sweep.json`` and ``best.json`` of an ``optimize`` folder.

Rows are appended to ``results.csv`` as combinations finish (one flushed line each), so an
interrupted run keeps them; at the end, or on Ctrl+C, the file is rewritten sorted by the
objective (temporary file, then rename). ``sweep.json`` records what the rows depend on (the
candles, strategy, base parameters, fill rules, capital): a later run with the same ``--out``
resumes only when that matches, and otherwise refuses with one line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from research.objective import Objective

RESULTS = "results.csv"
SWEEP = "sweep.json"
BEST = "best.json"


class ResultsError(ValueError):
    """An --out folder that cannot be used for this sweep; one line for the user."""


def data_fingerprint(candles) -> dict[str, Any]:
    """What identifies the candles: count, first and last time, and a hash of every value."""
    # SHA-1 as a fast fingerprint (hardware-accelerated here), not as a security measure.
    digest = hashlib.sha1(usedforsecurity=False)
    for col in ("timestamp", "open", "high", "low", "close", "volume"):
        digest.update(np.ascontiguousarray(candles[col].to_numpy()).data)
    stamps = candles["timestamp"].to_numpy()
    return {"candles": int(stamps.size), "first": int(stamps[0]), "last": int(stamps[-1]),
            "hash": digest.hexdigest()}


def columns_for(param_names: Sequence[str], metric_names: Sequence[str]) -> list[str]:
    """The CSV header: the strategy's parameters, sl, tp, then every metric."""
    return [*param_names, "sl", "tp", *metric_names]


def row_of(outcome, param_names: Sequence[str]) -> dict[str, Any]:
    """One CSV row (a dict) of an evaluated combination."""
    row: dict[str, Any] = {name: outcome.params[name] for name in param_names}
    row["sl"], row["tp"] = outcome.sl, outcome.tp
    row.update(outcome.summary)
    return row


def row_key(row: Mapping[str, Any], param_names: Sequence[str]) -> tuple[str, ...]:
    """A combination's identity in a results file: its parameter values as floats."""
    return tuple(_key_part(row[name]) for name in (*param_names, "sl", "tp"))


def _key_part(value: Any) -> str:
    if value is None or value == "":
        return ""
    return repr(float(value))


def _cell(value: Any) -> Any:
    """A value as the CSV writes it: '' for None, repr for floats (exact round trip)."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return value


def parse_cell(text: str) -> int | float | None:
    """A CSV cell back as a number (None for '')."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


class ResultsFile:
    """The rows of one --out folder: those already there (on resume) and new ones."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any], header: list[str],
                 param_names: Sequence[str]) -> None:
        self.folder = folder
        self.path = folder / RESULTS
        self.fingerprint = fingerprint
        self.header = header
        self.param_names = list(param_names)
        self.rows: dict[tuple[str, ...], dict[str, Any]] = {}
        self._handle: TextIO | None = None
        self._writer: Any = None

    def load(self) -> int:
        """Read the rows of an earlier run; ResultsError when they belong to another sweep."""
        sweep = self.folder / SWEEP
        if not self.path.exists() and not sweep.exists():
            return 0
        try:
            earlier = json.loads(sweep.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ResultsError(f"{self.folder}: holds {RESULTS} without a readable {SWEEP};"
                               " choose another --out folder") from None
        for part, label in (("data", "other candles"), ("strategy", "another strategy"),
                            ("params", "other base parameters"), ("rules", "other fill rules"),
                            ("capital", "another capital"), ("first", "another --from"),
                            ("broker", "other broker settings")):
            if earlier.get(part) != self.fingerprint.get(part):
                raise ResultsError(
                    f"{self.folder}: its results come from {label} than this run;"
                    " choose another --out folder (or delete that one)")
        if not self.path.exists():
            return 0
        with self.path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):  # a row cut by a hard kill
            lines = lines[:-1]
        reader = csv.DictReader(lines)
        if reader.fieldnames is not None and list(reader.fieldnames) != self.header:
            raise ResultsError(f"{self.path}: its columns differ from this run's;"
                               " choose another --out folder")
        for raw in reader:
            row = {k: parse_cell(v) for k, v in raw.items()}
            self.rows[row_key(row, self.param_names)] = row
        return len(self.rows)

    def done(self, row: Mapping[str, Any]) -> bool:
        """True when this combination's row is already there."""
        return row_key(row, self.param_names) in self.rows

    def start(self) -> None:
        """Write sweep.json and open results.csv for appending (rewritten first, complete)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic_text(self.folder / SWEEP, json.dumps(self.fingerprint, indent=2) + "\n")
        self._rewrite(list(self.rows.values()))
        self._handle = self.path.open("a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")

    def add(self, row: Mapping[str, Any]) -> None:
        """Keep one finished row and append it to the file at once."""
        key = row_key(row, self.param_names)
        if key in self.rows:
            return
        self.rows[key] = dict(row)
        self._writer.writerow([_cell(row.get(col)) for col in self.header])
        if self._handle is not None:
            self._handle.flush()

    def finish(self, objective: Objective,
               order: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Close the file and rewrite it sorted by the objective; the sorted rows.

        Equal objective values keep the order of ``order`` (the plan's rows), whatever order
        the workers finished in; rows outside it follow in their file order.
        """
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        position = {row_key(r, self.param_names): k for k, r in enumerate(order)}
        rows = sorted(self.rows.items(), key=lambda item: position.get(item[0], len(position)))
        ranked = [dict(r) for r in objective.rank([row for _, row in rows])]
        self._rewrite(ranked)
        return ranked

    def _rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(self.header)
            for row in rows:
                writer.writerow([_cell(row.get(col)) for col in self.header])
        os.replace(tmp, self.path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_best(folder: Path, best: Mapping[str, Any], strategy: str,
               param_names: Sequence[str], objective: Objective,
               env_lines: list[str]) -> Path:
    """``best.json``: the winner's parameters, objective value, metrics and .env lines."""
    metrics = {k: v for k, v in best.items() if k not in (*param_names, "sl", "tp")}
    document = {
        "strategy": strategy,
        "params": {name: best[name] for name in param_names},
        "sl": best["sl"], "tp": best["tp"],
        "objective": {"name": objective.name, "direction": objective.direction,
                      "value": best.get(objective.name)},
        "performance": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                        for k, v in metrics.items()},
        "env": env_lines,
    }
    path = folder / BEST
    _atomic_text(path, json.dumps(document, indent=2) + "\n")
    return path
