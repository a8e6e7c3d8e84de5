"""The backtest report: a JSON document and a console table with TradingView's metric names."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backtest.engine import REASONS
from backtest.run import BacktestResult

# How each metric prints: "money", "pct", "ratio", "count", "bars", "qty".
_KIND = {
    "Sharpe Ratio": "ratio", "Sortino Ratio": "ratio", "Profit Factor": "ratio",
    "Ratio Avg Win / Avg Loss": "ratio", "Max Contracts Held": "qty",
    "Total Closed Trades": "count", "Total Open Trades": "count",
    "Number Winning Trades": "count", "Number Losing Trades": "count",
    "Max Consecutive Wins": "count", "Max Consecutive Losses": "count",
    "Avg # Bars in Trades": "bars", "Avg # Bars in Winning Trades": "bars",
    "Avg # Bars in Losing Trades": "bars", "Percent Profitable": "pct",
}


def iso(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# % figures whose TradingView base is the initial capital; with a fixed trade size they are
# also given on the capital actually at risk.
CAPITAL_PERCENTS = ("Net Profit", "Gross Profit", "Gross Loss", "Max Run-up", "Max Drawdown",
                    "Open PL")


def percent_base(result: BacktestResult, sized_by_percent: bool = False) -> dict[str, Any]:
    """The amount the report's % figures are taken on, its name and why.

    With a fixed trade size (``--qty``) a 0.001 BTC trade on 10,000 of capital makes every
    percent of capital look like zero: the base is then the capital at risk, the largest
    entry value of a trade (qty x entry price; qty x first open without trades). With sizing
    as a percent of equity the capital itself is at risk, so the base is the initial capital.
    """
    if sized_by_percent:
        return {"name": "initial capital", "amount": float(result.capital),
                "why": "orders are sized as a percent of equity"}
    entry = result.ledger.entry_value
    amount = float(entry.max()) if entry.size else float(result.rules.qty * result.open[0])
    return {"name": "capital at risk", "amount": amount,
            "why": f"the largest entry value of a fixed {result.rules.qty:g} trade"}


def at_risk(summary: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The capital-based % figures recomputed on ``base``."""
    amount = base["amount"]
    return {f"{name} %": (None if summary.get(name) is None or not amount
                          else 100.0 * float(summary[name]) / amount)
            for name in CAPITAL_PERCENTS}


def build_report(result: BacktestResult, data_file: str = "", *,
                 sized_by_percent: bool = False) -> dict[str, Any]:
    """The report as a JSON-ready dict.

    ``performance`` keeps TradingView's percent figures (on the initial capital);
    ``percent_base`` names the base the console uses and ``performance_at_risk`` holds the
    capital-based figures on it.
    """
    trades, ledger, rules = result.trades, result.ledger, result.rules
    open_trade = None
    if len(trades) and bool(trades.is_open[-1]):
        open_trade = {
            "side": "long" if trades.direction[-1] > 0 else "short",
            "entry_time": iso(int(result.timestamps[trades.entry_bar[-1]])),
            "entry_price": float(trades.entry_price[-1]),
            "last_close": float(trades.exit_price[-1]),
            "open_pnl": float(ledger.net_pnl[-1]),
        }
    report = {
        "data": {
            "file": data_file,
            "candles": int(result.timestamps.size),
            "first": iso(int(result.timestamps[0])),
            "last": iso(int(result.timestamps[-1])),
        },
        "strategy": {"name": result.strategy, "params": result.params},
        "settings": {
            "mode": rules.mode,
            "qty": rules.qty,
            "commission": rules.commission,
            "slippage": rules.slippage,
            "stop_loss": rules.stop_loss,
            "take_profit": rules.take_profit,
            "initial_capital": result.capital,
        },
        "performance": result.summary,
        "percent_base": percent_base(result, sized_by_percent),
        "performance_at_risk": at_risk(result.summary, percent_base(result, sized_by_percent)),
        "exit_reasons": result.reasons,
        "open_trade": open_trade,
    }
    return _clean(report)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as indented JSON."""
    path = Path(path)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def format_value(name: str, value: Any) -> str:
    """One metric for the console: amounts with 4 decimals, % with 2, ratios with 3."""
    if value is None:
        return "n/a"
    kind = "pct" if name.endswith("%") else _KIND.get(name, "money")
    if kind == "count":
        return f"{int(value):,}"
    if kind == "pct":
        return _no_negative_zero(f"{value:,.2f}") + " %"
    if kind == "ratio":
        return f"{value:,.3f}"
    if kind == "bars":
        return f"{value:,.1f}"
    if kind == "qty":
        return f"{value:g}"
    return _no_negative_zero(f"{value:,.4f}")


def _no_negative_zero(text: str) -> str:
    """'-0.00' -> '0.00': a loss too small to show is not shown as negative."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def format_console(report: dict[str, Any]) -> str:
    """The report as text tables for the terminal."""
    perf = dict(report["performance"])
    base = report.get("percent_base")
    if base:
        perf.update({k: v for k, v in report.get("performance_at_risk", {}).items()
                     if k in perf})
    data, st, strat = report["data"], report["settings"], report["strategy"]
    params = ", ".join(f"{k}={v}" for k, v in strat["params"].items())
    sl = "off" if st["stop_loss"] is None else f"{st['stop_loss'] * 100:g} %"
    tp = "off" if st["take_profit"] is None else f"{st['take_profit'] * 100:g} %"
    lines = [
        f"Backtest {strat['name']} ({params})",
        f"  {data['candles']:,} candles {data['first']} .. {data['last']}  {data['file']}",
        f"  {st['mode']}, qty {st['qty']:g}, commission {st['commission'] * 100:g} %, slippage"
        f" {st['slippage'] * 100:g} %, SL {sl}, TP {tp}, capital {st['initial_capital']:,.2f}",
        "",
    ]
    if base:
        lines.append(
            f"  % of {base['name']} {base['amount']:,.2f} ({base['why']}); report.json"
            " 'performance' keeps TradingView's % of the initial capital")
    lines += [
        f"{'Performance Summary':<32}{'value':>20}{'%':>14}",
    ]
    for name, value in perf.items():
        if name.endswith(" %"):
            continue
        pct = perf.get(f"{name} %", "")
        pct_text = format_value(f"{name} %", pct) if pct != "" else ""
        lines.append(f"{name:<32}{format_value(name, value):>20}{pct_text:>14}")
    lines += ["", f"{'Exit reason':<16}{'trades':>8}{'winning':>9}{'net P&L':>18}"]
    for reason in (r for r in REASONS if r in report["exit_reasons"]):
        row = report["exit_reasons"][reason]
        lines.append(f"{reason:<16}{row['trades']:>8,}{row['winning']:>9,}"
                     f"{format_value('net', row['net_pnl']):>18}")
    if report["open_trade"]:
        ot = report["open_trade"]
        lines += ["", f"Open {ot['side']} since {ot['entry_time']} at {ot['entry_price']:g},"
                      f" marked to {ot['last_close']:g}: {ot['open_pnl']:,.4f}"]
    return "\n".join(lines)
