"""Charts of a sweep: a heat map of two parameters (``research.heatmap``, Pillow), one scatter
per parameter otherwise, the walk-forward equity and the PBO logit histogram (matplotlib,
imported only when one of those is drawn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def varying_keys(grid: Mapping[str, Sequence[Any]]) -> list[str]:
    """The grid keys that take more than one value."""
    return [k for k, v in grid.items() if len(v) > 1]


def heat_matrix(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str,
                metric: str, maximise: bool = True) -> tuple[list, list, np.ndarray]:
    """(x values, y values, matrix[y, x]) of ``metric``; NaN where no row (rejected combos).

    With other keys varying too, a cell shows the best value over them.
    """
    sign = 1.0 if maximise else -1.0
    xs = sorted({r[x_key] for r in rows})
    ys = sorted({r[y_key] for r in rows})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        value = r.get(metric)
        if value is None:
            continue
        j, i = xs.index(r[x_key]), ys.index(r[y_key])
        if np.isnan(grid[i, j]) or sign * value > sign * grid[i, j]:
            grid[i, j] = value
    return xs, ys, grid


def plot_sweep(rows: Sequence[Mapping[str, Any]], grid: Mapping[str, Sequence[Any]],
               metric: str, path: Path, title: str = "", maximise: bool = True) -> Path:
    """A heat map when exactly two keys vary, else one scatter per varying key."""
    keys = varying_keys(grid) or list(grid)
    if len(keys) == 2:
        from research.heatmap import draw_heat_map

        xs, ys, matrix = heat_matrix(rows, keys[0], keys[1], metric, maximise)
        return draw_heat_map(xs, ys, matrix, keys[0], keys[1], metric, path, maximise, title)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    values = np.array([np.nan if r.get(metric) is None else r[metric] for r in rows],
                      dtype=float)
    for ax, key in zip(axes[0], keys, strict=True):
        ax.scatter([r[key] for r in rows], values, s=12, alpha=0.6)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"{metric} of every combination, by parameter")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.3)
    # Fixed margins: tight_layout would draw the figure a second time.
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_walk_forward(times_ms: np.ndarray, oos_equity: np.ndarray, is_line: np.ndarray,
                      bounds_ms: Sequence[int], path: Path, currency: str = "USDT") -> Path:
    """Stitched out-of-sample equity against what the in-sample results promised."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    dates = (np.asarray(times_ms, dtype="int64")).astype("datetime64[ms]")
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(dates, is_line, color="#1f77b4", label="in-sample pace of the chosen parameters")
    ax.plot(dates, oos_equity, color="#d62728", label="out-of-sample (stitched test parts)")
    for bound in bounds_ms:
        ax.axvline(np.datetime64(int(bound), "ms"), color="#999999", lw=0.6, ls=":")
    ax.set_ylabel(f"equity ({currency})")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Walk-forward: in-sample vs out-of-sample equity (dotted: window starts)")
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.12, top=0.9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_logits(logits: np.ndarray, pbo: float, path: Path) -> Path:
    """Histogram of the CSCV logits with the PBO area (logit <= 0) marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    finite = logits[np.isfinite(logits)]
    ax.hist(finite, bins=40, color="#1f77b4", alpha=0.8)
    ax.axvline(0.0, color="#d62728", lw=1.2)
    ax.set_xlabel("logit of the in-sample winner's out-of-sample rank")
    ax.set_ylabel("splits")
    ax.set_title(f"CSCV logits: PBO = {pbo:.3f} (share at or left of the red line)")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
