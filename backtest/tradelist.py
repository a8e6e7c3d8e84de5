"""The list of trades as CSV in TradingView's current "List of trades" export layout.

Two rows per trade (``Entry long|short`` then ``Exit long|short``), oldest first, times are the
fill bar's open time in UTC written as ``2024-01-01T10:00:00+0000``. A trade still open at the
end has an exit row with Signal ``Open`` at the last bar and its close, as TradingView writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backtest.engine import END, SIGNAL, STOP_LOSS, TAKE_PROFIT, Trades
from backtest.ledger import Ledger
from core.formatting import significant
from strategies.registry import STRATEGIES

DEFAULT_IDS = ("Long", "Short")
# 4 is backtest.orders.INTRADAY_LOSS (strategy.risk.max_intraday_loss closed the position).
EXIT_IDS = {STOP_LOSS: "Stop-loss", TAKE_PROFIT: "Take-profit", END: "Open",
            4: "Max intraday loss"}


def signal_ids(strategy: str) -> tuple[str, str]:
    """TradingView's long and short order ids of the strategy (generic ones if unknown)."""
    record = STRATEGIES.get(str(strategy).strip().lower())
    return record.entry_ids if record else DEFAULT_IDS


def header(currency: str) -> list[str]:
    """The current export header with the account currency suffix."""
    return [
        "Trade #", "Type", "Date/Time", "Signal", f"Price {currency}", "Position size (qty)",
        "Position size (value)", f"Net P&L {currency}", "Net P&L %", f"Run-up {currency}",
        "Run-up %", f"Drawdown {currency}", "Drawdown %", f"Cumulative P&L {currency}",
        "Cumulative P&L %",
    ]


def format_times(timestamps_ms: np.ndarray) -> list[str]:
    """Epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS+0000`` (UTC)."""
    text = np.datetime_as_string(timestamps_ms.astype("datetime64[ms]"), unit="s")
    return [t + "+0000" for t in text.tolist()]


def _texts(values: np.ndarray) -> list[str]:
    return significant(values.tolist())


def trade_rows(
    trades: Trades,
    ledger: Ledger,
    timestamps_ms: np.ndarray,
    strategy: str,
    qty: float,
    capital: float,
) -> list[list[str]]:
    """The data rows of the trade list (without the header)."""
    long_id, short_id = signal_ids(strategy)
    n = len(trades)
    value = ledger.entry_value
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl_pct = 100.0 * ledger.net_pnl / value
        run_pct = 100.0 * ledger.run_up / value
        dd_pct = 100.0 * ledger.drawdown / value
    cum_pct = 100.0 * ledger.cumulative_pnl / capital if capital else ledger.cumulative_pnl * 0
    sizes = [f"{qty:.10g}"] * n if trades.qty is None else _texts(trades.qty)
    shared = list(zip(
        sizes, _texts(value), _texts(ledger.net_pnl), _texts(pnl_pct),
        _texts(ledger.run_up), _texts(run_pct), _texts(ledger.drawdown), _texts(dd_pct),
        _texts(ledger.cumulative_pnl), _texts(cum_pct), strict=True,
    ))
    longs = (trades.direction > 0).tolist()
    reasons = trades.reason.tolist()
    entry_ids = [long_id if up else short_id for up in longs]
    exit_ids = [(short_id if up else long_id) if r == SIGNAL else EXIT_IDS[r]
                for up, r in zip(longs, reasons, strict=True)]
    sides = ["long" if up else "short" for up in longs]
    entry = zip(format_times(timestamps_ms[trades.entry_bar]), entry_ids,
                _texts(trades.entry_price), strict=True)
    exit_ = zip(format_times(timestamps_ms[trades.exit_bar]), exit_ids,
                _texts(trades.exit_price), strict=True)
    rows: list[list[str]] = []
    for k, ((e_time, e_id, e_price), (x_time, x_id, x_price)) in enumerate(
            zip(entry, exit_, strict=True)):
        number, side = str(k + 1), sides[k]
        rows.append([number, f"Entry {side}", e_time, e_id, e_price, *shared[k]])
        rows.append([number, f"Exit {side}", x_time, x_id, x_price, *shared[k]])
    return rows


def write_trade_list(
    path: str | Path,
    trades: Trades,
    ledger: Ledger,
    timestamps_ms: np.ndarray,
    strategy: str,
    qty: float,
    capital: float,
    currency: str = "USDT",
) -> Path:
    """Write the trade list CSV to ``path`` and return the path."""
    path = Path(path)
    # Every field is a number, a date or a fixed id without commas or quotes: plain joins are
    # CSV-exact and several times faster than csv.writer on 10k+ trades.
    lines = [",".join(header(currency))]
    lines += [",".join(row) for row in trade_rows(trades, ledger, timestamps_ms, strategy, qty,
                                                    capital)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
