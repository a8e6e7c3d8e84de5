"""Steps of features/audit.feature (run by tests/test_live_history.py): ``audit`` over the
bot's own long runs, clean and tampered.

Each step hands what it made to the next through pytest-bdd's ``target_fixture`` (the run, the
data folder, the tampered copy, the audit's result) instead of a shared dict.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pytest_bdd import given, parsers, then, when

from tests.live_runs import RestartRun, copy_data_dir, replay_run, restart_run
from tests.parity_support import ParityRun

TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class JournalCopy:
    """A copy of a run's data folder with its journal changed, and which row the change hit."""

    folder: Path
    removed: str | None = None  # the signal candle time of a removed BUY
    line: int | None = None  # the journal line of a changed row


@dataclass(frozen=True)
class AuditResult:
    """What one ``python main.py audit`` printed, returned and wrote."""

    status: int
    stdout: str
    stderr: str
    out: Path
    findings: pd.DataFrame | None


@pytest.fixture()
def data_dir(run: ParityRun | RestartRun) -> Path:
    """The data folder audit runs over: the run's own, unless a step made another."""
    return run.settings.data_dir


def read_journal(data_dir: Path) -> list[list[str]]:
    text = (data_dir / "historical_trades.csv").read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


def write_journal(data_dir: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (data_dir / "historical_trades.csv").write_text(buffer.getvalue(), encoding="utf-8")


def shift(text: str, seconds: int) -> str:
    return (datetime.strptime(text, TIME).replace(tzinfo=UTC)
            + timedelta(seconds=seconds)).strftime(TIME)


def run_audit(data_dir: Path, reports: Path, capsys) -> AuditResult:
    """``python main.py audit`` in-process over ``data_dir``, its table written in ``reports``."""
    import main

    out = reports / f"audit-{data_dir.name}.csv"
    status = main.main(["audit", "--data-dir", str(data_dir), "--out", str(out)])
    captured = capsys.readouterr()
    return AuditResult(status=status, stdout=captured.out, stderr=captured.err, out=out,
                       findings=pd.read_csv(out, dtype=str, keep_default_na=False)
                       if out.is_file() and status != 2 else None)


def first_row(rows: list[list[str]], **where: str) -> int:
    header = rows[0]
    for i, row in enumerate(rows[1:], start=1):
        if all(row[header.index(k)] == v for k, v in where.items()):
            return i
    raise AssertionError(f"no journal row with {where}")


# --- given ---------------------------------------------------------------------------------

@given("the bot traded sma_rsi on the emulator for 2,000 replayed candles", target_fixture="run")
def sma_rsi_run() -> ParityRun:
    return replay_run("sma_rsi")


@given("the bot traded rsi for 2,000 candles with a 150-minute outage", target_fixture="run")
def rsi_run() -> RestartRun:
    return restart_run()


@given(parsers.parse("a copy of its data folder where {change}"), target_fixture="journal_copy")
def tampered_copy(data_dir, tmp_path, change) -> JournalCopy:
    data = copy_data_dir(data_dir, tmp_path / "copy")
    rows = read_journal(data)
    col = {name: i for i, name in enumerate(rows[0])}
    buy = first_row(rows, side="buy")
    removed = None
    if change == "the PnL of the first closing SELL is raised by 1 USDT":
        i = first_row(rows, side="sell")
        rows[i][col["PnL"]] = repr(float(rows[i][col["PnL"]]) + 1.0)
    elif change == "the first BUY names the candle before its signal candle":
        rows[buy][col["signal_candle_time"]] = shift(rows[buy][col["signal_candle_time"]], -60)
    elif change == "the first BUY is filled one candle later":
        rows[buy][col["timestamp"]] = shift(rows[buy][col["timestamp"]], 60)
    elif change == "the first BUY and its SELL are removed":
        removed = rows[buy][col["signal_candle_time"]]
        del rows[buy:buy + 2]
    else:
        raise AssertionError(f"unknown change {change!r}")
    write_journal(data, rows)
    return JournalCopy(data, removed=removed)


@given("a data folder whose journal has another program's header", target_fixture="data_dir")
def foreign_journal(tmp_path) -> Path:
    data = tmp_path / "foreign"
    data.mkdir()
    (data / "historical_trades.csv").write_text("Date,Pair,Side,Price\n2024-01-01,BTC,buy,1\n")
    (data / "historical_data.csv").write_text("timestamp,open,high,low,close,volume\n")
    return data


# --- when ----------------------------------------------------------------------------------

@when("audit runs over its data folder", target_fixture="audit")
@when("audit runs over it", target_fixture="audit")
def audit_it(data_dir, tmp_path, capsys) -> AuditResult:
    return run_audit(data_dir, tmp_path, capsys)


@when("a copy of its data folder has the first take-profit row's polled price below its level",
      target_fixture="journal_copy")
def tp_tampered(data_dir, tmp_path) -> JournalCopy:
    data = copy_data_dir(data_dir, tmp_path / "tp-copy")
    rows = read_journal(data)
    col = {name: i for i, name in enumerate(rows[0])}
    i = first_row(rows, exit_reason="take_profit")
    entry = float(rows[i][col["entry_price"]])
    rows[i][col["requested_price"]] = f"{entry * 1.001:.2f}"
    write_journal(data, rows)
    return JournalCopy(data, line=i + 1)


@when("audit runs over the copy", target_fixture="audit")
def audit_copy(journal_copy, tmp_path, capsys) -> AuditResult:
    return run_audit(journal_copy.folder, tmp_path, capsys)


# --- then ----------------------------------------------------------------------------------

@then(parsers.parse('it exits 0 and the table ends with "{text}"'))
def exits_clean(audit, text):
    assert audit.status == 0, audit.stdout
    lines = audit.stdout.strip().splitlines()
    assert text in lines[-2] and lines[-1] == f"-> {audit.out}"


@then(parsers.parse("it exits {status:d}"))
def exits(audit, status):
    assert audit.status == status, audit.stdout + audit.stderr


@then("every journal row is matched")
def all_matched(audit, data_dir):
    findings = audit.findings
    rows = findings[findings["line"] != ""]
    journal = read_journal(data_dir)
    assert len(rows) == len(journal) - 1 >= 10
    assert set(rows["verdict"]) == {"matched"}


@then("reports/audit.csv holds every finding")
def csv_holds(audit):
    findings = audit.findings
    assert list(findings.columns) == ["line", "time", "side", "check", "verdict", "reason"]
    summary = audit.stdout.strip().splitlines()[-2]
    counts = findings["verdict"].value_counts()
    assert summary == (f"matched {counts.get('matched', 0)}, explained"
                       f" {counts.get('explained', 0)}, unexplained 0")


@then(parsers.parse('the unexplained finding names journal line {line:d} with "{words}"'))
def names_line(audit, line, words):
    findings = audit.findings
    # the row itself; moving a row off its signal also leaves that signal without an order
    bad = findings[(findings["verdict"] == "unexplained") & (findings["line"] != "")]
    assert list(bad["line"]) == [str(line)], bad.to_string()
    assert words in bad["reason"].iat[0]
    assert f"{line:>5}" in audit.stdout and "unexplained" in audit.stdout


@then("the first BUY's signal candle is reported as a missed BUY signal while the bot was"
      " running")
def missed(audit, journal_copy):
    bad = audit.findings[audit.findings["verdict"] == "unexplained"]
    assert list(bad["check"]) == ["missed"], bad.to_string()
    assert bad["time"].iat[0] == journal_copy.removed and bad["side"].iat[0] == "BUY"
    assert "while the bot was running, but no order" in bad["reason"].iat[0]


@then(parsers.parse('a signal on a candle inside the outage is explained as "{words}"'))
def outage_explained(audit, run, words):
    down, up = run.outage
    findings = audit.findings
    explained = findings[(findings["verdict"] == "explained") & findings["reason"].str.contains(
        words)]
    times = [datetime.strptime(t, TIME).replace(tzinfo=UTC).timestamp() * 1000
             for t in explained["time"]]
    assert any(down - 60_000 <= t < up for t in times), explained.to_string()


@then("every stop-loss and take-profit row is matched because its polled price crossed its"
      " level")
def protective_matched(audit):
    findings = audit.findings
    protective = findings[findings["check"].isin(["stop_loss", "take_profit"])]
    assert len(protective) >= 3 and set(protective["check"]) == {"stop_loss", "take_profit"}
    assert set(protective["verdict"]) == {"matched"}
    assert protective["reason"].str.contains("crossed the level").all()


@then(parsers.parse('the unexplained finding names that row with "{words}"'))
def names_that_row(audit, journal_copy, words):
    names_line(audit, journal_copy.line, words)


@then("it exits 2 with one line on stderr naming the journal and what to do")
def one_line(audit):
    assert audit.status == 2
    lines = audit.stderr.strip().splitlines()
    assert len(lines) == 1 and "historical_trades.csv" in lines[0]
    assert "unexpected header" in lines[0] and "move the file away" in lines[0]
