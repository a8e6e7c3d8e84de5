"""What ``python main.py status`` reports about a bot's data folder, read-only.

Running or not comes from the data-folder lock (its holder's PID); what it trades and when
the loop last showed life from ``status.json``; the position from ``state.json``; trades
and PnL from the journal; the unrealised PnL from one ticker read of the exchange when it
answers within two seconds. Nothing is written, repaired or moved.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from ops.figures import trade_figures
from ops.status_file import STATUS_FILE, read_status_file
from storage.lock import lock_holder

RUNNING, NOT_RUNNING, STALE = 0, 1, 3
# Below this a loop is never called stale: status.json is rewritten only every few seconds.
MIN_STALE_S = 15.0
PRICE_TIMEOUT_S = 2.0
MARKERS = ("state.json", STATUS_FILE, ".paperbot.lock", "historical_trades.csv")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _journal_rows(path: Path) -> list[dict[str, str]]:
    from storage.trades import TradeJournalError, load_rows

    try:
        return load_rows(path)
    except (TradeJournalError, OSError):
        return []


def ticker_price(api_root: str, symbol: str, timeout_s: float = PRICE_TIMEOUT_S) -> float | None:
    """The last price from ``GET /api/v3/ticker/price`` of a loopback or testnet API root."""
    from exchange.endpoints import endpoint_problem

    if not api_root or endpoint_problem(api_root):
        return None
    url = f"{api_root.rstrip('/')}/api/v3/ticker/price?symbol={symbol.replace('/', '')}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - checked
            price = float(json.loads(reply.read().decode("utf-8"))["price"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return price if price > 0 else None


def instance_status(data_dir: Path, *, now: float | None = None, ask_price: bool = True
                    ) -> dict[str, Any]:
    """Everything ``status`` shows about ``data_dir``; ``code`` is its exit status."""
    from risk.rules import stop_loss_price, take_profit_price

    now = time.time() if now is None else now
    data_dir = Path(data_dir)
    pid = lock_holder(data_dir)
    facts = read_status_file(data_dir) or {}
    state = _read_json(data_dir / "state.json") or {}
    symbol = str(facts.get("symbol") or state.get("symbol") or "")
    result: dict[str, Any] = {
        "data_dir": str(data_dir), "running": pid is not None, "pid": pid,
        "exchange": facts.get("exchange"), "symbol": symbol or None,
        "timeframe": facts.get("timeframe"), "strategy": facts.get("strategy"),
    }
    last_cycle = facts.get("last_cycle")
    heartbeat = facts.get("heartbeat")
    result["last_cycle_age_s"] = _age(now, last_cycle)
    result["heartbeat_age_s"] = _age(now, heartbeat)
    candle_wall = float(facts.get("candle_wall_seconds") or 0.0)
    stale_after = max(2 * candle_wall, MIN_STALE_S)
    result["stale_after_s"] = stale_after
    age = result["last_cycle_age_s"]
    result["stale"] = bool(pid is not None and (age is None or age > stale_after))
    last_ms = state.get("last_candle_ms")
    result["last_candle_ms"] = last_ms if isinstance(last_ms, int) else None
    timeframe_s = facts.get("timeframe_seconds")
    if result["last_candle_ms"] is not None and facts.get("speed") == 1.0 and timeframe_s:
        closed_ms = result["last_candle_ms"] + int(timeframe_s) * 1000
        result["last_candle_age_s"] = round(now - closed_ms / 1000, 1)
    else:
        result["last_candle_age_s"] = None
    position = state.get("position") if isinstance(state.get("position"), dict) else None
    result["position"] = None
    if position is not None:
        entry = float(position.get("entry_price", 0.0))
        quantity = float(position.get("quantity", 0.0))
        sl = facts.get("stop_loss_percent")
        tp = facts.get("take_profit_percent")
        held: dict[str, Any] = {
            "entry_price": entry, "quantity": quantity,
            "stop_loss": stop_loss_price(entry, float(sl)) if sl else None,
            "take_profit": take_profit_price(entry, float(tp)) if tp else None,
            "price": None, "unrealised_pnl": None}
        price = ticker_price(str(facts.get("api_root") or ""), symbol) if (
            ask_price and pid is not None and symbol) else None
        if price is not None:
            held["price"] = price
            held["unrealised_pnl"] = (price - entry) * quantity
        result["position"] = held
    figures = trade_figures(_journal_rows(data_dir / "historical_trades.csv"), symbol,
                            int(now * 1000))
    result["trades_today"], result["pnl_today"] = figures.trades_today, figures.pnl_today
    result["trades_total"], result["pnl_total"] = figures.trades, figures.pnl
    result["code"] = NOT_RUNNING if pid is None else (STALE if result["stale"] else RUNNING)
    result["state"] = {RUNNING: "running", NOT_RUNNING: "not running", STALE: "stale"}[
        result["code"]]
    return result


def _age(now: float, stamp: Any) -> float | None:
    return round(now - float(stamp), 1) if isinstance(stamp, int | float) else None


def find_instances(root: Path, depth: int = 3) -> list[Path]:
    """Data folders under ``root`` (itself included), sorted: any holding a bot's files."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        if any((folder / marker).exists() for marker in MARKERS):
            found.append(folder)
        if level >= depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if not child.name.startswith("."):
                walk(child, level + 1)

    walk(Path(root), 0)
    return found


def overall_code(codes: list[int]) -> int:
    """``status --all``: 1 when any instance is down (or none found), else 3 if any is stale."""
    if not codes or NOT_RUNNING in codes:
        return NOT_RUNNING
    return STALE if STALE in codes else RUNNING


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value < 120:
        return f"{value:.0f} s ago"
    if value < 7200:
        return f"{value / 60:.0f} min ago"
    return f"{value / 3600:.1f} h ago"


def format_instance(s: dict[str, Any]) -> str:
    """The human report of one instance."""
    from core.formatting import format_number, format_utc

    head = f"paperbot in {s['data_dir']}: {s['state']}"
    if s["pid"] is not None:
        head += f" (PID {s['pid']})"
    if s["stale"]:
        head += f"; no cycle for {_seconds(s['last_cycle_age_s'])[:-4]}"
    quote = (s["symbol"] or "/").split("/")[1]
    lines = [head, f"  exchange:    {s['exchange'] or 'unknown'}",
             f"  market:      {s['symbol'] or '?'} {s['timeframe'] or ''}, strategy"
             f" {s['strategy'] or '?'}"]
    pos = s["position"]
    if pos is None:
        lines.append("  position:    flat")
    else:
        text = (f"  position:    long {format_number(pos['quantity'])} at"
                f" {format_number(pos['entry_price'])}")
        if pos["stop_loss"] is not None:
            text += (f" (stop-loss {pos['stop_loss']:.2f}, take-profit"
                     f" {pos['take_profit']:.2f})")
        if pos["price"] is not None:
            text += (f"; last price {format_number(pos['price'])}, unrealised PnL"
                     f" {pos['unrealised_pnl']:+.2f} {quote}")
        elif s["running"]:
            text += "; the exchange did not answer for the price"
        lines.append(text)
    if s["last_candle_ms"] is not None:
        age = s["last_candle_age_s"]
        when = format_utc(s["last_candle_ms"])
        lines.append(f"  last candle: {when}" + (f" (closed {_seconds(age)})"
                                                if age is not None else ""))
    else:
        lines.append("  last candle: none processed yet")
    lines.append(f"  heartbeat:   {_seconds(s['heartbeat_age_s'])}; last cycle"
                 f" {_seconds(s['last_cycle_age_s'])}")
    lines.append(f"  trades:      today {s['trades_today']} (PnL {s['pnl_today']:+.2f} {quote}),"
                 f" total {s['trades_total']} (PnL {s['pnl_total']:+.2f} {quote})")
    return "\n".join(lines)


def format_row(root: Path, s: dict[str, Any]) -> str:
    """One line of ``status --all``."""
    try:
        name = str(Path(s["data_dir"]).relative_to(root)) or "."
    except ValueError:
        name = s["data_dir"]
    held = "flat" if s["position"] is None else "long"
    pid = str(s["pid"]) if s["pid"] is not None else "-"
    return (f"{name:<24} {s['state']:<12} {pid:>7}  {s['symbol'] or '?':<10}"
            f" {s['timeframe'] or '?':<4} {s['strategy'] or '?':<10} {held:<5}"
            f" trades {s['trades_total']:>4}  PnL {s['pnl_total']:+.2f}")
