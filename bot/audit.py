"""``audit``: replay the stored candles through the strategy and the bot's rules, check the journal.

Every row of ``historical_trades.csv`` is checked against what the bot should have done:

* a BUY / SELL on a signal came from that signal on the candle the row names (its
  ``signal_candle_time``), was requested at that candle's close and filled in the next candle
  (the cycle after the close);
* a stop-loss / take-profit SELL's polled price (``requested_price``) crossed its level from the
  entry's fill price, and lies inside the candle it was polled in;
* a closing SELL's PnL equals the fills and fees (``risk.pnl``);
* no signal that should have traded was missed on a candle the bot acted on; a signal on a
  candle the bot did not act on (it was down, or an outage) is explained, not missed.

The state file's run record (``bot.signal_engine.RunRecord``) says which candles the bot acted
on and with which strategy, parameters and stop-loss / take-profit. Each finding is matched,
explained (with the reason) or unexplained. See docs/decisions/0111-audit.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bot.signal_engine import RUN_RECORD_KEY
from risk.pnl import clean_quantity, fee_in_quote, held_quantity, realized_pnl
from risk.rules import stop_loss_price, take_profit_price
from storage.trades import format_number, format_utc, load_rows

MATCHED, EXPLAINED, UNEXPLAINED = "matched", "explained", "unexplained"
VERDICTS = (MATCHED, EXPLAINED, UNEXPLAINED)
# Journal numbers carry ten decimals; a recomputed PnL may differ by that rounding only.
PNL_TOLERANCE = 1e-8
DUST_FRACTION = 0.01  # as risk.position: a remainder this small closes the position


class AuditInputError(Exception):
    """An input file cannot be audited; the message is one line saying what to fix."""


@dataclass(frozen=True)
class Finding:
    """One line of the audit: a journal row (``line`` > 0) or a signal (``line`` 0)."""

    line: int
    time: str
    side: str
    check: str
    verdict: str
    reason: str


@dataclass
class AuditRules:
    """What the bot ran with: strategy, parameters, levels, timing."""

    strategy: str
    params: dict[str, Any]
    stop_loss: float
    take_profit: float
    timeframe_ms: int
    offset_ms: int


@dataclass
class AuditResult:
    """The findings, and a summary of what was audited."""

    findings: list[Finding] = field(default_factory=list)
    rules: AuditRules | None = None
    candles: int = 0
    rows: int = 0
    acted: int = 0
    runs: int = 0

    def count(self, verdict: str) -> int:
        """How many findings have ``verdict``."""
        return sum(1 for f in self.findings if f.verdict == verdict)

    @property
    def clean(self) -> bool:
        """True when nothing is unexplained."""
        return self.count(UNEXPLAINED) == 0


def parse_utc(text: str, where: str) -> int:
    """Epoch ms of a journal time (``2026-01-01T00:05:02Z``); AuditInputError otherwise."""
    try:
        stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuditInputError(f"{where}: time {text!r} is not YYYY-MM-DDTHH:MM:SSZ; the"
                              " journal is damaged") from None
    return int(stamp.timestamp() * 1000)


def number(text: str, where: str, name: str) -> float | None:
    """A journal number (None when empty); AuditInputError when it is not a number."""
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise AuditInputError(f"{where}: {name} {text!r} is not a number; the journal is"
                              " damaged") from None
    if not math.isfinite(value):
        raise AuditInputError(f"{where}: {name} {text!r} is not a finite number")
    return value


def read_state(path: Path) -> dict[str, Any]:
    """The state file's JSON object, read only (an absent file is an empty state)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{path}: damaged state file ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise AuditInputError(f"{path}: the state file is not a JSON object")
    return data


def acted_candles(record: Any, strategy: str) -> tuple[set[int], int]:
    """Open times of the candles the bot acted on with ``strategy``, and how many runs."""
    if not isinstance(record, dict):
        return set(), 0
    try:
        step = int(record["timeframe_ms"])
        rule_sets = record["rules"]
        acted: set[int] = set()
        runs = 0
        for first, last, index in record["intervals"]:
            if rule_sets[int(index)].get("strategy") != strategy:
                continue
            runs += 1
            acted.update(range(int(first), int(last) + 1, step))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise AuditInputError("state.json: the run record is damaged") from None
    return acted, runs


def _asset_pair(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base or "BTC", quote or "USDT"


class Auditor:
    """Checks one journal against one candle file under one set of rules."""

    def __init__(self, candles: pd.DataFrame, signals: np.ndarray, rules: AuditRules,
                 acted: set[int], has_record: bool) -> None:
        self.rules = rules
        self.stamps = candles["timestamp"].to_numpy(dtype="int64")
        self.close = candles["close"].to_numpy()
        self.low = candles["low"].to_numpy()
        self.high = candles["high"].to_numpy()
        self.index = {int(t): i for i, t in enumerate(self.stamps)}
        self.signals = signals
        self.acted = acted
        self.has_record = has_record
        self.findings: list[Finding] = []

    # -- journal rows ---------------------------------------------------------------------

    def run(self, rows: list[dict[str, str]]) -> list[Finding]:
        """Check every journal row, then every would-trade signal without a row."""
        position: dict[str, Any] | None = None
        named: set[tuple[int, str]] = set()
        holding: list[tuple[int, int | None]] = []  # (entry fill ms, exit fill ms) per position
        for offset, raw in enumerate(rows):
            line = offset + 2
            row = self._typed(raw, f"line {line}")
            if row["signal_ms"] is not None and row["reason"] in ("", "signal"):
                named.add((row["signal_ms"], row["side"]))
            if row["side"] == "buy":
                self._buy(line, row, position)
                position = row
                holding.append((row["time_ms"], None))
            elif row["side"] == "sell":
                position = self._sell(line, row, position)
                if position is None and holding and holding[-1][1] is None:
                    holding[-1] = (holding[-1][0], row["time_ms"])
            else:
                self._add(line, row, "side", UNEXPLAINED, f"side {raw['side']!r} is not buy"
                          " or sell")
        self._signals(named, holding)
        return self.findings

    def _typed(self, raw: dict[str, str], where: str) -> dict[str, Any]:
        signal_text = raw["signal_candle_time"]
        return {
            "time_ms": parse_utc(raw["timestamp"], where),
            "time": raw["timestamp"],
            "side": raw["side"].lower(),
            "reason": raw["exit_reason"],
            "quantity": number(raw["quantity"], where, "quantity") or 0.0,
            "entry": number(raw["entry_price"], where, "entry_price"),
            "exit": number(raw["exit_price"], where, "exit_price"),
            "pnl": number(raw["PnL"], where, "PnL"),
            "pnl_text": raw["PnL"],
            "fee": number(raw["fee"], where, "fee") or 0.0,
            "fee_currency": raw["fee_currency"],
            "requested": number(raw["requested_price"], where, "requested_price"),
            "filled": number(raw["filled_price"], where, "filled_price"),
            "signal_ms": parse_utc(signal_text, where) if signal_text else None,
            "stop_flag": raw["stop_loss_triggered"] == "True",
            "target_flag": raw["take_profit_triggered"] == "True",
            "symbol": raw["symbol"],
            "strategy": raw["strategy"],
        }

    def _add(self, line: int, row: dict[str, Any] | None, check: str, verdict: str,
             reason: str, *, time: str = "", side: str = "") -> None:
        self.findings.append(Finding(
            line, row["time"] if row else time, (row["side"] if row else side).upper(), check,
            verdict, reason))

    def _signal_problems(self, row: dict[str, Any], want: int) -> list[str]:
        """Why a signal row does not follow from the candle it names ([] when it does)."""
        ms, step = row["signal_ms"], self.rules.timeframe_ms
        if ms is None:
            return ["the row names no signal candle"]
        i = self.index.get(ms)
        if i is None:
            return [f"its signal candle {format_utc(ms)} is not in the candle file"]
        problems = []
        got = int(self.signals[i])
        if got != want:
            name = {1: "BUY", -1: "SELL", 0: "no"}[got]
            problems.append(f"candle {format_utc(ms)} has {name} signal, not"
                            f" {'BUY' if want == 1 else 'SELL'}")
        if row["requested"] is not None and format_number(row["requested"]) != format_number(
                float(self.close[i])):
            problems.append(f"requested price {format_number(row['requested'])} is not the"
                            f" signal candle's close {format_number(float(self.close[i]))}")
        # The fill time is journaled to the second: the next candle spans [ms+step, ms+2step).
        if not (ms + step) // 1000 * 1000 <= row["time_ms"] < ms + 2 * step:
            problems.append(f"filled at {row['time']}, not in the candle after the signal"
                            " (the next cycle)")
        return problems

    def _buy(self, line: int, row: dict[str, Any], position: dict[str, Any] | None) -> None:
        problems = self._signal_problems(row, 1)
        if position is not None:
            problems.insert(0, f"bought while the journal already holds the position opened"
                               f" at {position['time']}")
        if row["entry"] is not None and row["filled"] is not None and format_number(
                row["entry"]) != format_number(row["filled"]):
            problems.append("entry_price differs from filled_price")
        self._verdict(line, row, "signal", problems,
                      f"BUY signal on candle {format_utc(row['signal_ms'] or 0)}, filled in"
                      " the next candle")

    def _sell(self, line: int, row: dict[str, Any], position: dict[str, Any] | None
              ) -> dict[str, Any] | None:
        reason = row["reason"]
        if reason == "testnet_wipe":
            self._add(line, row, "wipe", EXPLAINED, "the position vanished in a testnet reset;"
                      " closed in the journal without a fill")
            return None
        if position is None:
            self._add(line, row, reason or "sell", UNEXPLAINED,
                      "SELL without an open position in the journal")
            return None
        if reason == "signal":
            problems = self._signal_problems(row, -1)
            ok = (f"SELL signal on candle {format_utc(row['signal_ms'] or 0)}, filled in the"
                  " next candle")
        elif reason in ("stop_loss", "take_profit"):
            problems = self._protective_problems(row, position, reason)
            ok = f"{reason}: the polled price {format_number(row['requested'])} crossed the level"
        else:
            problems, ok = [f"exit reason {reason!r} is not signal, stop_loss or take_profit"], ""
        problems += self._price_columns(row, position)
        remaining, share, pnl_problem = self._pnl(row, position)
        if pnl_problem:
            problems.append(pnl_problem)
        self._verdict(line, row, reason, problems, ok + "; PnL equals fills and fees")
        if remaining is None:
            return None
        return {**position, "held": remaining, "fee": position["fee"] - share}

    @staticmethod
    def _price_columns(row: dict[str, Any], position: dict[str, Any]) -> list[str]:
        """A SELL's exit_price is its fill, its entry_price the position's buy fill."""
        problems = []
        entry = position["filled"] if position["filled"] is not None else position["entry"]
        if row["exit"] is not None and row["filled"] is not None and format_number(
                row["exit"]) != format_number(row["filled"]):
            problems.append("exit_price differs from filled_price")
        if row["entry"] is not None and entry is not None and format_number(
                row["entry"]) != format_number(entry):
            problems.append(f"entry_price {format_number(row['entry'])} is not the BUY's fill"
                            f" {format_number(entry)}")
        return problems

    def _protective_problems(self, row: dict[str, Any], position: dict[str, Any],
                             reason: str) -> list[str]:
        price, entry = row["requested"], position["filled"] or position["entry"]
        if price is None or entry is None:
            return ["the row lacks the polled price or the entry price"]
        problems = []
        if reason == "stop_loss":
            level = stop_loss_price(entry, self.rules.stop_loss)
            if not price <= level:
                problems.append(f"polled price {format_number(price)} is above the stop-loss"
                                f" level {format_number(level)}")
            if not row["stop_flag"] or row["target_flag"]:
                problems.append("stop_loss_triggered / take_profit_triggered do not say"
                                " stop-loss")
        else:
            level = take_profit_price(entry, self.rules.take_profit)
            if not price >= level:
                problems.append(f"polled price {format_number(price)} is below the"
                                f" take-profit level {format_number(level)}")
            if not row["target_flag"] or row["stop_flag"]:
                problems.append("stop_loss_triggered / take_profit_triggered do not say"
                                " take-profit")
        if not self._inside_candle(price, row["time_ms"]):
            problems.append(f"polled price {format_number(price)} lies outside the candle it"
                            " was polled in")
        return problems

    def _inside_candle(self, price: float, ms: int) -> bool:
        """True when a candle holding ``ms`` (or the one before: the fill time is to the
        second) has ``price`` in its range, or when that candle is not stored."""
        step = self.rules.timeframe_ms
        seen = False
        for start in (ms - ms % step, ms - ms % step - step):
            i = self.index.get(start)
            if i is None:
                continue
            seen = True
            if self.low[i] <= price <= self.high[i]:
                return True
        return not seen

    def _pnl(self, row: dict[str, Any], position: dict[str, Any]
             ) -> tuple[float | None, float, str | None]:
        """The base left after this sell (None: closed), the entry fee it used up, and a PnL
        problem, if any (as ``PositionManager._close`` computes them)."""
        base, quote = _asset_pair(row["symbol"])
        entry = position["filled"] or position["entry"] or 0.0
        held = position.get("held")
        if held is None:
            held = held_quantity(position["quantity"], position["fee"],
                                 position["fee_currency"], base)
        exit_price = row["filled"] or row["exit"] or 0.0
        remaining = clean_quantity(held - row["quantity"])
        closes = remaining <= held * DUST_FRACTION
        share = position["fee"] if closes else position["fee"] * row["quantity"] / held
        pnl = realized_pnl(entry, exit_price, row["quantity"],
                           fee_in_quote(share, position["fee_currency"], entry, base, quote),
                           fee_in_quote(row["fee"], row["fee_currency"], exit_price, base,
                                        quote))
        problem = None
        if row["pnl"] is None:
            problem = "the closing SELL has no PnL"
        elif abs(row["pnl"] - pnl) > PNL_TOLERANCE:
            problem = (f"PnL {row['pnl_text']} does not equal the fills and fees"
                       f" ({format_number(pnl)})")
        return (None if closes else remaining), share, problem

    def _verdict(self, line: int, row: dict[str, Any], check: str, problems: list[str],
                 ok: str) -> None:
        if problems:
            self._add(line, row, check, UNEXPLAINED, "; ".join(problems))
        else:
            self._add(line, row, check, MATCHED, ok)

    # -- signals without a row ------------------------------------------------------------

    def _signals(self, named: set[tuple[int, str]],
                 holding: list[tuple[int, int | None]]) -> None:
        """Every would-trade signal without a journal row: missed, or explained."""
        step, offset = self.rules.timeframe_ms, self.rules.offset_ms
        entries = np.array([h[0] for h in holding], dtype="int64")
        exits = np.array([h[1] if h[1] is not None else np.iinfo("int64").max
                          for h in holding], dtype="int64")
        first_acted = min(self.acted) if self.acted else None
        for i in np.flatnonzero(self.signals != 0):
            ms, signal = int(self.stamps[i]), int(self.signals[i])
            side = "buy" if signal == 1 else "sell"
            if (ms, side) in named:
                continue
            cycle = ms + step + offset
            # Long at the cycle: a position was filled before it and not closed before it.
            long = bool(((entries < cycle) & (exits >= cycle)).any())
            if (signal == 1) == long:
                continue  # BUY while long is ignored, SELL while flat does nothing
            when = format_utc(ms)
            name = "BUY" if signal == 1 else "SELL"
            if not self.has_record:
                self._add(0, None, "missed", EXPLAINED, f"{name} signal on candle {when}: no"
                          " run record in the state file, so missed signals are not checked",
                          time=when, side=side)
            elif ms in self.acted:
                self._add(0, None, "missed", UNEXPLAINED, f"{name} signal on candle {when}"
                          " while the bot was running, but no order in the journal",
                          time=when, side=side)
            elif first_acted is None or ms < first_acted:
                self._add(0, None, "missed", EXPLAINED, f"{name} signal on candle {when},"
                          " before the bot's first candle (history fetched at start)",
                          time=when, side=side)
            else:
                self._add(0, None, "missed", EXPLAINED, f"{name} signal on candle {when}"
                          " while the bot was not running (down or an outage)",
                          time=when, side=side)


def audit(candles: pd.DataFrame, rows: list[dict[str, str]], state: dict[str, Any],
          rules: AuditRules, strategy: Any) -> AuditResult:
    """Audit journal ``rows`` against ``candles`` under ``rules`` (state gives the runs)."""
    raw_extra = state.get("extra")
    extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
    record = extra.get(RUN_RECORD_KEY)
    acted, runs = acted_candles(record, rules.strategy)
    signals = strategy.compute(candles, rules.params)["signal"].to_numpy() if len(
        candles) else np.zeros(0, dtype="int8")
    auditor = Auditor(candles, signals, rules, acted, has_record=record is not None)
    result = AuditResult(rules=rules, candles=len(candles), rows=len(rows),
                         acted=len(acted), runs=runs)
    result.findings = auditor.run(rows)
    return result


def rules_from(state: dict[str, Any], settings: Any, strategy_name: str | None,
               registry_get: Any) -> tuple[AuditRules, Any]:
    """The rules to audit with: the run record's last rule set, else the settings;
    ``strategy_name`` (``--strategy``) picks another strategy. Returns (rules, strategy)."""
    raw_extra = state.get("extra")
    extra: dict[str, Any] = raw_extra if isinstance(raw_extra, dict) else {}
    record = extra.get(RUN_RECORD_KEY)
    recorded: dict[str, Any] = {}
    if isinstance(record, dict) and record.get("rules") and record.get("intervals"):
        try:
            recorded = dict(record["rules"][int(record["intervals"][-1][2])])
        except (KeyError, TypeError, ValueError, IndexError):
            raise AuditInputError("state.json: the run record is damaged") from None
    name = strategy_name or recorded.get("strategy") or settings.strategy
    try:
        strategy = registry_get(name)
    except ValueError as exc:
        raise AuditInputError(str(exc)) from None
    if recorded.get("strategy") == strategy.name and isinstance(recorded.get("params"), dict):
        params = recorded["params"]
    else:
        params = {k: v for k, v in settings.strategy_params.items() if k in strategy.defaults}
    try:
        params = strategy.params(params)
    except ValueError as exc:
        raise AuditInputError(str(exc)) from None
    timeframe_ms = int(record["timeframe_ms"]) if isinstance(record, dict) and record.get(
        "timeframe_ms") else settings.timeframe_seconds * 1000
    return AuditRules(
        strategy=strategy.name, params=dict(params),
        stop_loss=float(recorded.get("stop_loss", settings.stop_loss_percent)),
        take_profit=float(recorded.get("take_profit", settings.take_profit_percent)),
        timeframe_ms=timeframe_ms,
        offset_ms=int(recorded.get("offset_ms",
                                   settings.candle_close_offset_seconds * 1000)),
    ), strategy


def load_journal(path: Path) -> list[dict[str, str]]:
    """The journal's rows, read only; AuditInputError (one line) for a damaged/foreign file."""
    from storage.trades import TradeJournalError

    try:
        return load_rows(path)
    except TradeJournalError as exc:
        raise AuditInputError(str(exc)) from None


def write_csv(result: AuditResult, path: Path) -> None:
    """``reports/audit.csv``: one row per finding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([f.__dict__ for f in result.findings],
                         columns=["line", "time", "side", "check", "verdict", "reason"])
    frame["line"] = frame["line"].map(lambda v: "" if v == 0 else str(v))
    frame.to_csv(path, index=False, lineterminator="\n")


def format_table(result: AuditResult, *, limit: int | None = None) -> str:
    """The printed table: one line per finding (unexplained first when cut), then totals."""
    rules = result.rules
    assert rules is not None
    params = " ".join(f"{k}={v}" for k, v in rules.params.items())
    lines = [
        f"audit: {rules.strategy} ({params}), SL {rules.stop_loss:g} TP {rules.take_profit:g},"
        f" over {result.candles} candles and {result.rows} journal rows; the bot acted on"
        f" {result.acted} candles in {result.runs} run(s)",
        f"{'line':>5}  {'time':<20}  {'side':<4}  {'check':<11}  {'verdict':<11}  reason",
    ]
    shown = result.findings
    if limit is not None and len(shown) > limit:
        order = {UNEXPLAINED: 0, EXPLAINED: 1, MATCHED: 2}
        shown = sorted(shown, key=lambda f: order[f.verdict])[:limit]
    for f in shown:
        lines.append(f"{f.line or '':>5}  {f.time:<20}  {f.side:<4}  {f.check:<11}"
                     f"  {f.verdict:<11}  {f.reason}")
    if len(shown) < len(result.findings):
        lines.append(f"... {len(result.findings) - len(shown)} more in the CSV")
    lines.append(f"matched {result.count(MATCHED)}, explained {result.count(EXPLAINED)},"
                 f" unexplained {result.count(UNEXPLAINED)}")
    return "\n".join(lines)
