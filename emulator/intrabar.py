"""The price path inside one candle, as TradingView's strategy engine assumes it.

If the high is nearer the open than the low, the price goes open -> high -> low -> close,
else open -> low -> high -> close; when the open sits exactly midway the low comes first (for
a long position that hits a stop before a target: the conservative choice, see decision 0022).
Each of the three legs takes a third of the candle and is a straight line. The emulator serves
its ticker and the still-open candle from this path, and the backtester can import the same
functions so that both see a stop-loss or take-profit on the same candle at the same price.
"""

from __future__ import annotations

LEG_FRACTIONS = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)


def intrabar_path(o: float, h: float, low: float, c: float) -> tuple[float, float, float, float]:
    """The four corner prices in the order the price visits them."""
    if h - o < o - low:
        return (o, h, low, c)
    return (o, low, h, c)


def path_price(o: float, h: float, low: float, c: float, fraction: float) -> float:
    """The price at ``fraction`` (0 = open time, 1 = close time) of the candle's path."""
    points = intrabar_path(o, h, low, c)
    fraction = min(max(fraction, 0.0), 1.0)
    leg = min(int(fraction * 3.0), 2)
    start, end = points[leg], points[leg + 1]
    t = (fraction - LEG_FRACTIONS[leg]) * 3.0
    return start + (end - start) * t


def partial_candle(
    o: float, h: float, low: float, c: float, v: float, fraction: float
) -> tuple[float, float, float, float, float]:
    """The candle as it looks at ``fraction`` of its time: (open, high, low, close, volume) so far.

    High and low so far are the extremes of the corners already passed and the current price;
    volume accrues linearly.
    """
    fraction = min(max(fraction, 0.0), 1.0)
    points = intrabar_path(o, h, low, c)
    now = path_price(o, h, low, c, fraction)
    seen = [p for p, at in zip(points, LEG_FRACTIONS, strict=True) if at <= fraction] + [now]
    return (o, max(seen), min(seen), now, v * fraction)
