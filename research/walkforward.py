"""Walk-forward analysis: optimise on each train part, run the winner on the test part after it.

Rolling windows slide by the test length (train [t, t+train), test [t+train, t+train+test));
anchored windows keep the train start at the first usable candle and grow. Signals are
computed once on the whole series (each bar's signal uses only that bar and earlier ones), so
a part's indicators are warm from the candles before it and nothing looks ahead; a part's
backtest sees only its own bars, so only trades entered inside it count. The first window
starts after the grid's longest warm-up. See docs/decisions/0152-walk-forward-windows.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from backtest.engine import SIGNAL, Trades
from backtest.ledger import build_ledger, equity_curve
from backtest.metrics import performance_summary
from research.objective import Objective
from research.sweep import Evaluator, Outcome, SweepSpec, combo_setup

UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
YEAR_MS = 365 * 86_400_000


class WalkForwardError(ValueError):
    """Window settings the data cannot serve; one line for the user."""


def parse_duration(text: str, flag: str) -> int:
    """``"30d"`` -> milliseconds (units m, h, d, w); WalkForwardError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise WalkForwardError(f"{flag} {text!r} is not a duration such as 30d, 12h, 90m, 2w")
    return int(float(match.group(1)) * UNITS_MS[match.group(2)])


@dataclass(frozen=True)
class Window:
    """One walk-forward window: bar ranges [start, end) of its train and test parts."""

    index: int
    train: tuple[int, int]
    test: tuple[int, int]


def make_windows(stamps: np.ndarray, train_ms: int, test_ms: int, anchored: bool,
                 warmup: int) -> list[Window]:
    """The windows over the candle times ``stamps``, starting after ``warmup`` bars."""
    n = int(stamps.size)
    if warmup >= n - 1:
        raise WalkForwardError(f"{n:,} candles are too few for the warm-up of {warmup:,}"
                               " candles the grid's longest indicator needs")
    step = int(np.median(np.diff(stamps))) if n > 1 else 60_000
    first_t = int(stamps[warmup])
    end_t = int(stamps[-1]) + step
    windows: list[Window] = []
    k = 0
    while True:
        start_t = first_t if anchored else first_t + k * test_ms
        train_end_t = first_t + train_ms + k * test_ms
        test_end_t = train_end_t + test_ms
        if test_end_t > end_t:
            break
        a, b, c = np.searchsorted(stamps, [start_t, train_end_t, test_end_t], side="left")
        if b - a >= 2 and c - b >= 2:
            windows.append(Window(len(windows), (int(a), int(b)), (int(b), int(c))))
        k += 1
    if not windows:
        span_days = (end_t - first_t) / 86_400_000
        raise WalkForwardError(
            f"--train + --test ({(train_ms + test_ms) / 86_400_000:g} days) is longer than the"
            f" {span_days:.1f} days of candles after the warm-up; shorten them or add data")
    return windows


def window_ranges(windows: Sequence[Window]) -> tuple[tuple[int, int], ...]:
    """Every distinct bar range the sweep evaluates (train and test parts), in order."""
    ranges: list[tuple[int, int]] = []
    for w in windows:
        for r in (w.train, w.test):
            if r not in ranges:
                ranges.append(r)
    return tuple(ranges)


@dataclass
class WindowPick:
    """A window's chosen combination and its in- and out-of-sample figures."""

    window: Window
    outcome: Outcome
    is_summary: dict[str, Any]
    oos_summary: dict[str, Any]


def choose(windows: Sequence[Window], ranges: Sequence[tuple[int, int]],
           outcomes: Sequence[Outcome], objective: Objective) -> list[WindowPick]:
    """Per window, the combination best on its train part (the first of equals)."""
    where = {r: k for k, r in enumerate(ranges)}
    picks = []
    for w in windows:
        train_rows = [o.windows[where[w.train]] for o in outcomes]
        best = objective.best_index(train_rows)
        chosen = outcomes[best]
        picks.append(WindowPick(w, chosen, chosen.windows[where[w.train]],
                                chosen.windows[where[w.test]]))
    return picks


@dataclass
class Stitched:
    """The out-of-sample test parts joined: report, equity and the in-sample pace line."""

    summary: dict[str, Any]
    span: tuple[int, int]
    equity: np.ndarray
    is_line: np.ndarray
    wfe: float | None
    is_annual: float | None
    oos_annual: float | None


def stitch(candles, spec: SweepSpec, picks: Sequence[WindowPick]) -> Stitched:
    """Re-run each window's winner on its test part and report the trades as one account.

    A trade still open at the end of a test part is closed at that part's last close (exit
    commission paid): the next part may hold other parameters.
    """
    evaluator = Evaluator(candles, replace(spec, windows=(), marks=()))
    stamps = candles["timestamp"].to_numpy()
    start, end = picks[0].window.test[0], picks[-1].window.test[1]
    parts: list[dict[str, np.ndarray]] = []
    rules = spec.rules
    for pick in picks:
        _, rules = combo_setup(spec, pick.outcome.combo)
        a, b = pick.window.test
        t = evaluator.result(pick.outcome.combo, a, b).trades
        parts.append({
            "direction": t.direction, "entry_bar": t.entry_bar + a - start,
            "entry_price": t.entry_price, "exit_bar": t.exit_bar + a - start,
            "exit_price": t.exit_price,
            "reason": np.where(t.is_open, SIGNAL, t.reason).astype(np.int8),
            "seen_high": t.seen_high, "seen_low": t.seen_low,
            "qty": t.qty if t.qty is not None else np.full(len(t), rules.qty)})
    trades = Trades(**{f: np.concatenate([p[f] for p in parts]) for f in parts[0]})
    o = candles["open"].to_numpy()[start:end]
    h = candles["high"].to_numpy()[start:end]
    lo = candles["low"].to_numpy()[start:end]
    c = candles["close"].to_numpy()[start:end]
    ledger = build_ledger(trades, h, lo, rules)
    equity = equity_curve(trades, ledger, c, rules, spec.capital)
    held = float(np.max(trades.qty)) if len(trades) and trades.qty is not None else 0.0
    summary = performance_summary(trades, ledger, equity, stamps[start:end], float(o[0]),
                                  float(c[-1]), held, spec.capital)
    is_net = sum(p.is_summary["Net Profit"] for p in picks)
    is_years = sum(_years(stamps, p.window.train) for p in picks)
    oos_years = sum(_years(stamps, p.window.test) for p in picks)
    is_annual = float(is_net) / is_years if is_years > 0 else None
    oos_annual = float(summary["Net Profit"] or 0.0) / oos_years if oos_years > 0 else None
    wfe = (oos_annual / is_annual if is_annual and is_annual > 0 and oos_annual is not None
           else None)
    is_line = np.empty(end - start)
    level = spec.capital
    for p in picks:
        a, b = p.window.test
        rate = p.is_summary["Net Profit"] / max(_years(stamps, p.window.train), 1e-12)
        elapsed = (stamps[a:b] - stamps[a] + _bar_ms(stamps)) / YEAR_MS
        is_line[a - start:b - start] = level + rate * elapsed
        level = is_line[b - start - 1]
    return Stitched(summary, (start, end), equity, is_line, wfe, is_annual, oos_annual)


def _bar_ms(stamps: np.ndarray) -> int:
    return int(np.median(np.diff(stamps))) if stamps.size > 1 else 60_000


def _years(stamps: np.ndarray, part: tuple[int, int]) -> float:
    a, b = part
    return (int(stamps[b - 1]) - int(stamps[a]) + _bar_ms(stamps)) / YEAR_MS


def window_rows(picks: Sequence[WindowPick], keys: Sequence[str], objective: Objective,
                stamps: np.ndarray) -> list[dict[str, Any]]:
    """The rows of walk_forward.csv."""
    from backtest.report import iso

    rows = []
    for p in picks:
        w = p.window
        row: dict[str, Any] = {
            "window": w.index + 1,
            "train_start": iso(int(stamps[w.train[0]])),
            "train_end": iso(int(stamps[w.train[1] - 1])),
            "test_start": iso(int(stamps[w.test[0]])),
            "test_end": iso(int(stamps[w.test[1] - 1])),
        }
        row.update({k: p.outcome.combo[k] for k in keys})
        row["is_objective"] = p.is_summary.get(objective.name)
        row["oos_objective"] = p.oos_summary.get(objective.name)
        row["is_trades"] = p.is_summary["Total Closed Trades"]
        row["oos_trades"] = p.oos_summary["Total Closed Trades"]
        row["is_net_profit"] = p.is_summary["Net Profit"]
        row["oos_net_profit"] = p.oos_summary["Net Profit"]
        rows.append(row)
    return rows


def summary_of(rows: Sequence[Mapping[str, Any]]) -> str:
    """A one-line count of windows whose test part made money."""
    positive = sum(1 for r in rows if (r["oos_net_profit"] or 0) > 0)
    return f"{positive} of {len(rows)} test parts profitable"
