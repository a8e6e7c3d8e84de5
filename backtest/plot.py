"""The backtest chart: candles with trades, the strategy's oscillators, equity and drawdown.

Readable at any length: at most MAX_BARS candlesticks (longer ranges aggregated), trade
markers merged per candle bucket past MAX_MARKERS, a log price axis for long ranges, one
colour per exit reason (entries blue / orange so a take-profit's green is not an entry's),
and buy-and-hold of the same trade size next to the equity.

Imported only for ``--plot``: matplotlib costs about half a second to import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backtest.engine import END, SIGNAL, STOP_LOSS, TAKE_PROFIT
from backtest.run import BacktestResult

MAX_POINTS = 4000  # line points per panel; longer series are thinned (extremes kept)
MAX_LINKS = 150  # entry-exit connecting lines are drawn up to this many trades
MAX_BARS = 400  # candlesticks drawn; longer ranges are aggregated into this many
MAX_MARKERS = 300  # trade markers drawn one by one; past this, merged per time bucket
MARKER_BUCKETS = 80  # time buckets of merged markers across the chart's width
LOG_SCALE_RATIO = 3.0  # highest / lowest close above which the price axis is logarithmic

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
    from backtest.html_report import indicator_panes

    return indicator_panes(indicators, close)[0]


def bucket_starts(n: int, max_bars: int = MAX_BARS) -> np.ndarray:
    """First index of each of at most ``max_bars`` equal runs of ``n`` candles."""
    step = max(1, -(-n // max_bars))
    return np.arange(0, n, step)


def ohlc_buckets(result: BacktestResult, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """(first index, open, high, low, close) of each bucket of candles."""
    ends = np.append(starts[1:], result.close.size) - 1
    return (starts, result.open[starts], np.maximum.reduceat(result.high, starts),
            np.minimum.reduceat(result.low, starts), result.close[ends])


def use_log_scale(close: np.ndarray) -> bool:
    """True when the closes span more than LOG_SCALE_RATIO (a long range, years of data)."""
    finite = close[np.isfinite(close) & (close > 0)]
    return bool(finite.size) and finite.max() / finite.min() > LOG_SCALE_RATIO


def marker_groups(bars: np.ndarray, prices: np.ndarray, starts: np.ndarray,
                  limit: int = MAX_MARKERS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bar, price, count) of trade markers: each one up to ``limit``, else one per bucket.

    Past the limit the markers of one candle bucket become one marker at their mean price,
    sized by how many it stands for, so a thousand trades cannot hide the price.
    """
    bars, prices = np.asarray(bars), np.asarray(prices, dtype="float64")
    if bars.size <= limit:
        return bars, prices, np.ones(bars.size, dtype=int)
    group = np.searchsorted(starts, bars, side="right") - 1
    keys, first, counts = np.unique(group, return_index=True, return_counts=True)
    sums = np.bincount(group, weights=prices)[keys]
    return bars[first], sums / counts, counts


def _candles(ax, times, result: BacktestResult, starts: np.ndarray) -> None:
    idx, o, h, low, c = ohlc_buckets(result, starts)
    x = times[idx]
    up = c >= o
    width = (x[1] - x[0]) * 0.7 if x.size > 1 else np.timedelta64(30, "s")
    for mask, color in ((up, "#26a69a"), (~up, "#ef5350")):
        ax.vlines(x[mask], low[mask], h[mask], color=color, lw=0.6, zorder=2)
        ax.bar(x[mask], np.abs(c - o)[mask] + (h - low)[mask] * 0.002, width=width,
               bottom=np.minimum(o, c)[mask], color=color, lw=0, zorder=3)


def _trade_markers(ax, times, result: BacktestResult, starts: np.ndarray) -> str:
    """Draw entries and exits (grouped past MAX_MARKERS); the legend note on grouping."""
    trades = result.trades
    grouped = len(trades) > MAX_MARKERS
    if grouped:
        starts = bucket_starts(result.close.size, MARKER_BUCKETS)
    alpha = 0.75 if grouped else 1.0
    for sign, marker, color, label in ((1, "^", "#1565c0", "long entry"),
                                       (-1, "v", "#ef6c00", "short entry")):
        mask = trades.direction == sign
        if not mask.any():
            continue
        bars, prices, counts = marker_groups(trades.entry_bar[mask], trades.entry_price[mask],
                                             starts)
        ax.scatter(times[bars], prices, marker=marker, s=30 * np.sqrt(counts), color=color,
                   edgecolor="black", linewidths=0.4, zorder=5, label=label, alpha=alpha)
    for code, (color, label) in EXIT_STYLE.items():
        mask = trades.reason == code
        if mask.any():
            bars, prices, counts = marker_groups(trades.exit_bar[mask], trades.exit_price[mask],
                                                 starts)
            ax.scatter(times[bars], prices, marker="o", s=26 * np.sqrt(counts), color=color,
                       edgecolor="black", linewidths=0.4, zorder=6, label=label, alpha=alpha)
    if 0 < len(trades) <= MAX_LINKS:
        won = result.ledger.net_pnl > 0
        for k in range(len(trades)):
            ax.plot(times[[trades.entry_bar[k], trades.exit_bar[k]]],
                    [trades.entry_price[k], trades.exit_price[k]],
                    color="#2ca02c" if won[k] else "#d62728", lw=0.9, ls="--", alpha=0.6)
    return (f"{len(trades):,} trades: markers merged per {MARKER_BUCKETS}th of the range at"
            " their mean price, area = count" if grouped else "")


def plot_backtest(result: BacktestResult, path: str | Path, title: str | None = None,
                  currency: str = "USDT") -> Path:
    """Draw candles with trades, the strategy's oscillators, equity and drawdown to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from backtest.html_report import buy_and_hold, drawdown, indicator_panes

    path = Path(path)
    times = result.timestamps.astype("datetime64[ms]")
    close = result.close
    overlays, oscillators = indicator_panes(result.indicators, close)
    ratios = [3.2, 1.1, 1.6, 1.0] if oscillators else [3.2, 1.6, 1.0]
    fig, axes = plt.subplots(len(ratios), 1, sharex=True, figsize=(12, 9 if oscillators else 8),
                             dpi=100, gridspec_kw={"height_ratios": ratios})
    ax_p, ax_e, ax_d = axes[0], axes[-2], axes[-1]
    starts = bucket_starts(close.size)
    _candles(ax_p, times, result, starts)
    for name, color in zip(overlays, ("#ff7f0e", "#8c564b", "#17becf", "#bcbd22"),
                           strict=False):
        pos, values = thin(result.indicators[name].to_numpy())
        ax_p.plot(times[pos], values, color=color, lw=0.9, alpha=0.9, label=name)
    note = _trade_markers(ax_p, times, result, starts)
    if use_log_scale(close):
        import matplotlib.ticker as mticker

        ax_p.set_yscale("log")
        ax_p.yaxis.set_major_locator(mticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax_p.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax_p.yaxis.set_minor_formatter(mticker.NullFormatter())
    scale = "log scale" if use_log_scale(close) else "linear"
    bucket = starts[1] - starts[0] if starts.size > 1 else 1
    per_bar = "" if bucket == 1 else f"; 1 candle drawn = {bucket:,} candles"
    ax_p.set_ylabel(f"price ({currency}, {scale})")
    ax_p.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=10,
                frameon=False, handletextpad=0.3, columnspacing=1.0, borderaxespad=0.2)
    ax_p.grid(alpha=0.3)
    if note or per_bar:
        ax_p.text(0.995, 0.015, (note + per_bar).lstrip("; "), transform=ax_p.transAxes,
                  ha="right", va="bottom", fontsize=8, color="#444444")
    if oscillators:
        ax_o = axes[1]
        for name, color in zip(oscillators, ("#ff7f0e", "#1f77b4", "#8c564b", "#17becf"),
                               strict=False):
            pos, values = thin(result.indicators[name].to_numpy())
            if "hist" in name:
                ax_o.fill_between(times[pos], values, 0.0, color="#90a4ae", alpha=0.6,
                                  lw=0, label=name)
            else:
                ax_o.plot(times[pos], values, color=color, lw=0.8, label=name)
        if any("rsi" in name for name in oscillators):
            for level in (30, 70):
                ax_o.axhline(level, color="#999999", lw=0.6, ls=":")
        ax_o.legend(loc="upper left", fontsize=8, ncol=4, frameon=False)
        ax_o.grid(alpha=0.3)

    summary = result.summary
    heading = title or f"{result.strategy or 'signals'} backtest"
    fig.suptitle(
        f"{heading}: net profit {summary['Net Profit']:,.2f}, {summary['Total Closed Trades']}"
        f" closed trades, {summary['Percent Profitable'] or 0:.1f} % profitable,"
        f" max drawdown {summary['Max Drawdown']:,.2f}", fontsize=11, y=0.99)

    pos, values = thin(result.equity)
    ax_e.plot(times[pos], values, color="#1f77b4", lw=1.0, label="equity")
    hold = buy_and_hold(result.open, close, result.rules.qty, result.capital)
    pos, values = thin(hold)
    ax_e.plot(times[pos], values, color="#888888", lw=0.9, ls="--",
              label=f"buy & hold {result.rules.qty:g}")
    ax_e.axhline(result.capital, color="#bbbbbb", lw=0.8, ls=":")
    ax_e.set_ylabel(f"equity ({currency})")
    ax_e.legend(loc="upper left", fontsize=8, ncol=2, frameon=False)
    ax_e.grid(alpha=0.3)
    ax_e.ticklabel_format(axis="y", useOffset=False, style="plain")

    pos, values = thin(drawdown(result.equity, result.capital), keep="min")
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
