"""The sweep's heat map drawn straight with Pillow (matplotlib's import and layout cost more
than the rest of a 100k-candle sweep; Pillow comes with matplotlib and draws this in ms)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Red-yellow-green (ColorBrewer RdYlGn anchors): worst red, best green.
ANCHORS = np.array([(165, 0, 38), (244, 109, 67), (255, 255, 191), (102, 189, 99),
                    (0, 104, 55)], dtype=float)
CELL_W, CELL_H = 64, 34
LEFT, TOP, RIGHT, BOTTOM = 96, 62, 120, 56


def colour(fraction: float) -> tuple[int, int, int]:
    """The colour of a value at ``fraction`` (0 worst .. 1 best) of the range."""
    x = min(max(fraction, 0.0), 1.0) * (len(ANCHORS) - 1)
    k = min(int(x), len(ANCHORS) - 2)
    mixed = ANCHORS[k] + (ANCHORS[k + 1] - ANCHORS[k]) * (x - k)
    red, green, blue = (int(round(c)) for c in mixed)
    return red, green, blue


def label(value: float, scale: float) -> str:
    """A cell's number, with fewer decimals for larger magnitudes."""
    if scale >= 1000:
        return f"{value:,.0f}"
    if scale >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def draw_heat_map(xs: Sequence[float], ys: Sequence[float], matrix: np.ndarray, x_key: str,
                  y_key: str, metric: str, path: Path, maximise: bool = True,
                  title: str = "") -> Path:
    """``matrix[y, x]`` as a PNG heat map (NaN cells blank), values written in the cells."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=12)
    small = ImageFont.load_default(size=10 if len(xs) * len(ys) > 150 else 11)
    big = ImageFont.load_default(size=15)
    width = LEFT + CELL_W * len(xs) + RIGHT
    height = TOP + CELL_H * len(ys) + BOTTOM
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    finite = matrix[np.isfinite(matrix)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = high - low or 1.0
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    for i in range(len(ys)):
        row_top = TOP + CELL_H * (len(ys) - 1 - i)  # the first y value at the bottom
        for j in range(len(xs)):
            value = matrix[i, j]
            if not math.isfinite(value):
                continue
            share = (value - low) / span
            fill = colour(share if maximise else 1.0 - share)
            box = (LEFT + CELL_W * j, row_top, LEFT + CELL_W * (j + 1) - 1, row_top + CELL_H - 1)
            pen.rectangle(box, fill=fill)
            ink = "white" if sum(fill) < 300 else "black"
            pen.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), label(value, scale),
                     fill=ink, font=small, anchor="mm")
    grid_right, grid_bottom = LEFT + CELL_W * len(xs), TOP + CELL_H * len(ys)
    pen.rectangle((LEFT - 1, TOP - 1, grid_right, grid_bottom), outline="black")
    for j, x in enumerate(xs):
        pen.text((LEFT + CELL_W * j + CELL_W / 2, grid_bottom + 6), f"{x:g}", fill="black",
                 font=font, anchor="mt")
    for i, y in enumerate(ys):
        pen.text((LEFT - 8, TOP + CELL_H * (len(ys) - 1 - i) + CELL_H / 2), f"{y:g}",
                 fill="black", font=font, anchor="rm")
    pen.text(((LEFT + grid_right) / 2, height - 14), x_key, fill="black", font=big,
             anchor="mm")
    pen.text((LEFT - 8, TOP - 8), y_key, fill="black", font=big, anchor="rb")
    pen.text((width / 2, 20), title or f"{metric} by {x_key} and {y_key} (blank: rejected)",
             fill="black", font=big, anchor="mm")
    # Colour bar: best at the top.
    bar_left = grid_right + 28
    steps = grid_bottom - TOP
    for k in range(steps):
        share = 1.0 - k / max(steps - 1, 1)
        pen.line((bar_left, TOP + k, bar_left + 16, TOP + k),
                 fill=colour(share))
    pen.rectangle((bar_left, TOP, bar_left + 16, grid_bottom), outline="black")
    top_value, bottom_value = (high, low) if maximise else (low, high)
    pen.text((bar_left + 22, TOP), label(top_value, scale), fill="black", font=font,
             anchor="lt")
    pen.text((bar_left + 22, TOP + 16), "(best)", fill="black", font=font, anchor="lt")
    pen.text((bar_left + 22, grid_bottom), label(bottom_value, scale), fill="black",
             font=font, anchor="lb")
    image.save(path, optimize=False)
    return path
