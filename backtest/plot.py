"""The backtest chart: price with entries and exits, the equity curve and the drawdown.

Imported only for ``--plot``: matplotlib costs about half a second to import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backtest.engine import END, SIGNAL, STOP_LOSS, TAKE_PROFIT
from backtest.run import BacktestResult

MAX_POINTS = 4000  # line points per panel; longer series are thinned (extremes kept)
MAX_LINKS = 400  # entry-exit connecting lines are drawn up to this many trades

EXIT_STYLE = {
    SIGNAL: ("#555555", "signal exit"),
    STOP_LOSS: ("#d62728", "stop-loss"),
    TAKE_PROFIT: ("#2ca02c", "take-profit"),
    END: ("#9467bd", "open at end"),
}


def thin(values: np.ndarray, keep: str = "last") -> tuple[np.ndarray, np.ndarray]:
    """(positions, values) of at most about MAX_POINTS points.

    ``keep`` picks per chunk the last value, or the "min" (so a drawdown's bottom survives).
    """
    n = values.size
    if n <= MAX_POINTS:
        return np.arange(n), values
    step = -(-n // MAX_POINTS)
    starts = np.arange(0, n, step)
    if keep == "min":
        return starts, np.minimum.reduceat(values, starts)
    ends = np.minimum(starts + step, n) - 1
    return ends, values[ends]


def _overlay_columns(indicators, close: np.ndarray) -> list[str]:
    """Indicator columns on the price scale (moving averages), not oscillators like RSI."""
    if indicators is None:
        return []
    lo, hi = np.nanmin(close), np.nanmax(close)
    span = hi - lo
    names = []
    for col in indicators.columns:
        if col == "signal" or indicators[col].dtype.kind != "f":
            continue
        values = indicators[col].to_numpy()
        if np.isfinite(values).any():
            median = np.nanmedian(values)
            if lo - span <= median <= hi + span and median > 0.2 * hi:
                names.append(col)
    return names[:4]


def plot_backtest(result: BacktestResult, path: str | Path, title: str | None = None,
                  currency: str = "USDT") -> Path:
    """Draw the three-panel chart to a PNG at ``path`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    path = Path(path)
    times = result.timestamps.astype("datetime64[ms]")
    trades, close = result.trades, result.close
    fig, (ax_p, ax_e, ax_d) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 8), dpi=100,
        gridspec_kw={"height_ratios": [3.2, 1.6, 1.0]},
    )
    pos, values = thin(close)
    ax_p.plot(times[pos], values, color="#1f77b4", lw=0.9, label="close")
    for name, color in zip(_overlay_columns(result.indicators, close),
                           ("#ff7f0e", "#8c564b", "#17becf", "#bcbd22"), strict=False):
        pos, values = thin(result.indicators[name].to_numpy())
        ax_p.plot(times[pos], values, color=color, lw=0.8, alpha=0.9, label=name)
    longs = trades.direction > 0
    ax_p.scatter(times[trades.entry_bar[longs]], trades.entry_price[longs], marker="^", s=42,
                 color="#2ca02c", edgecolor="black", linewidths=0.4, zorder=5,
                 label="long entry")
    if (~longs).any():
        ax_p.scatter(times[trades.entry_bar[~longs]], trades.entry_price[~longs], marker="v",
                     s=42, color="#d62728", edgecolor="black", linewidths=0.4, zorder=5,
                     label="short entry")
    for code, (color, label) in EXIT_STYLE.items():
        mask = trades.reason == code
        if mask.any():
            ax_p.scatter(times[trades.exit_bar[mask]], trades.exit_price[mask], marker="X",
                         s=38, color=color, edgecolor="black", linewidths=0.4, zorder=6,
                         label=label)
    if 0 < len(trades) <= MAX_LINKS:
        won = result.ledger.net_pnl > 0
        for k in range(len(trades)):
            ax_p.plot(times[[trades.entry_bar[k], trades.exit_bar[k]]],
                      [trades.entry_price[k], trades.exit_price[k]],
                      color="#2ca02c" if won[k] else "#d62728", lw=1.0, ls="--", alpha=0.7)
    ax_p.set_ylabel(f"price ({currency})")
    ax_p.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=9,
                frameon=False, handletextpad=0.3, columnspacing=1.0, borderaxespad=0.2)
    ax_p.grid(alpha=0.3)
    summary = result.summary
    heading = title or f"{result.strategy or 'signals'} backtest"
    fig.suptitle(
        f"{heading}: net profit {summary['Net Profit']:,.2f}, {summary['Total Closed Trades']}"
        f" closed trades, {summary['Percent Profitable'] or 0:.1f} % profitable,"
        f" max drawdown {summary['Max Drawdown']:,.2f}", fontsize=11, y=0.99)

    pos, values = thin(result.equity)
    ax_e.plot(times[pos], values, color="#1f77b4", lw=1.0)
    ax_e.axhline(result.capital, color="#888888", lw=0.8, ls="--")
    ax_e.set_ylabel(f"equity ({currency})")
    ax_e.grid(alpha=0.3)
    ax_e.ticklabel_format(axis="y", useOffset=False, style="plain")

    curve = np.concatenate(([result.capital], result.equity))
    drawdown = (curve - np.maximum.accumulate(curve))[1:]
    pos, values = thin(drawdown, keep="min")
    ax_d.fill_between(times[pos], values, 0.0, color="#d62728", alpha=0.45, lw=0)
    ax_d.set_ylabel(f"drawdown ({currency})")
    ax_d.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    ax_d.xaxis.set_major_locator(locator)
    ax_d.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
