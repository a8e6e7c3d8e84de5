"""Pine's bar-at-a-time model: indicators that keep their recursive state and take one bar.

TradingView runs a script once per bar, each ``ta.*`` call carrying its own state from the bar
before. The whole-series functions of ``strategies.indicators`` compute the same numbers for a
whole file at once; the classes here hold the state those functions end with, so the bot can
add one closed candle at a time at a cost that does not grow with the file, and get exactly
(bit for bit) the value the whole-series function gives for that candle over the whole file.

Every node has:

* ``warm(values)``: run the whole-series function over a history (vectorised), keep its final
  state and return its output series, so a restart over a million stored candles takes the
  vector path's time, not a Python loop's;
* ``update(value)``: the next bar, with Pine's own expressions in the same order of operations
  (Python floats are IEEE doubles like numpy's, so the roundings are the same);
* ``state()`` / ``load(state)``: a JSON-ready checkpoint, floats as ``float.hex`` so nothing is
  rounded on the way to the state file and back.

Strategies with an incremental form are listed in ``INCREMENTAL`` by registry name; any other
registered strategy is recomputed over the whole stored file by the bot (exact, slower), see
``bot.signal_engine`` and docs/decisions/0110-live-signals-equal-stored-history.md.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from strategies import indicators as ta
from strategies.indicators import PINE_EPSILON
from strategies.params import Params, period

NAN = math.nan
State = dict[str, Any]


def pack(value: float) -> str:
    """A float as exact text (``float.hex``), nan and inf included."""
    return float(value).hex()


def unpack(text: Any) -> float:
    """The float ``pack`` wrote; ValueError for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a packed float")
    return float.fromhex(text)


def pack_many(values: Any) -> str:
    """Floats as one exact text (base64 of little-endian float64), compact in a JSON file."""
    return base64.b64encode(np.asarray(list(values), dtype="<f8").tobytes()).decode("ascii")


def unpack_many(text: Any) -> list[float]:
    """The floats ``pack_many`` wrote; ValueError for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a packed float list")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 8:
        raise ValueError("a packed float list has a length that is not a multiple of 8")
    return np.frombuffer(raw, dtype="<f8").tolist()


def is_na(value: float) -> bool:
    """Pine's ``na(x)`` for a float."""
    return value != value


def np_max0(value: float) -> float:
    """``np.maximum(value, 0.0)`` for one float: the second argument unless the first is
    greater, nan propagating (so ``-0.0`` gives ``0.0`` exactly as numpy does)."""
    if value > 0.0 or value != value:
        return value
    return 0.0


def ieee_div(a: float, b: float) -> float:
    """``a / b`` with numpy's (IEEE) answer for a zero divisor instead of an exception."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


class Sma:
    """``ta.sma(x, n)``: the exactly summed mean of the last ``n`` non-na values; held on na."""

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.window: deque[float] = deque(maxlen=self.n)
        self.count = 0
        self.value = NAN

    def update(self, x: float) -> float:
        if is_na(x):
            return self.value  # na until n values, then the last average is held
        self.window.append(x)
        self.count += 1
        if self.count >= self.n:
            self.value = math.fsum(self.window) / self.n
        return self.value

    def warm(self, xs: np.ndarray) -> np.ndarray:
        out = ta.sma(xs, self.n)
        defined = xs[~np.isnan(xs)]
        self.count = int(defined.size)
        self.window = deque(defined[-self.n:].tolist(), maxlen=self.n)
        self.value = float(out[-1]) if out.size else NAN
        return out

    def state(self) -> State:
        return {"count": self.count, "window": pack_many(self.window),
                "value": pack(self.value)}

    def load(self, state: State) -> None:
        self.count = int(state["count"])
        self.window = deque(unpack_many(state["window"]), maxlen=self.n)
        self.value = unpack(state["value"])


class Recursive:
    """``ta.ema`` (kind "ema") or ``ta.rma`` (kind "rma"): seeded with the SMA of the first
    ``n`` non-na values, then Pine's update; na inputs give na and are skipped."""

    def __init__(self, n: int, kind: str) -> None:
        self.n = int(n)
        self.kind = kind
        if kind == "ema":
            alpha = 2 / (self.n + 1)
            self.step: Callable[[float, float], float] = lambda p, x: p + alpha * (x - p)
        elif kind == "rma":
            n_, keep = self.n, self.n - 1
            self.step = lambda p, x: (p * keep + x) / n_
        else:
            raise ValueError(f"unknown recursion {kind!r}; use 'ema' or 'rma'")
        self.count = 0
        self.seed: list[float] = []
        self.value = NAN

    def update(self, x: float) -> float:
        if is_na(x):
            return NAN
        self.count += 1
        if self.n == 1:
            self.value = x
        elif self.count < self.n:
            self.seed.append(x)
            return NAN
        elif self.count == self.n:
            self.seed.append(x)
            self.value = math.fsum(self.seed) / self.n
            self.seed = []
        else:
            self.value = self.step(self.value, x)
        return self.value

    def warm(self, xs: np.ndarray) -> np.ndarray:
        out = ta.ema(xs, self.n) if self.kind == "ema" else ta.rma(xs, self.n)
        defined = ~np.isnan(xs)
        self.count = int(defined.sum())
        if self.count >= self.n:
            self.seed = []
            self.value = float(out[np.flatnonzero(defined)[-1]])
        else:
            self.seed = xs[defined].tolist()
            self.value = NAN
        return out

    def state(self) -> State:
        return {"count": self.count, "seed": pack_many(self.seed),
                "value": pack(self.value)}

    def load(self, state: State) -> None:
        self.count = int(state["count"])
        self.seed = unpack_many(state["seed"])
        self.value = unpack(state["value"])


class Rsi:
    """``ta.rsi(x, n)``: ``100 - 100 / (1 + rma(up, n) / rma(down, n))`` over the non-na values."""

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.up = Recursive(self.n, "rma")
        self.down = Recursive(self.n, "rma")
        self.last = NAN  # the previous non-na input

    def update(self, x: float) -> float:
        if is_na(x):
            return NAN
        previous, self.last = self.last, x
        if is_na(previous):
            return NAN
        change = x - previous
        up = self.up.update(np_max0(change))
        down = self.down.update(np_max0(-change))
        return 100.0 - 100.0 / (1.0 + ieee_div(up, down))

    def warm(self, xs: np.ndarray) -> np.ndarray:
        out = ta.rsi(xs, self.n)
        values = xs[~np.isnan(xs)]
        change = np.diff(values)
        self.up.warm(np.maximum(change, 0.0))
        self.down.warm(np.maximum(-change, 0.0))
        self.last = float(values[-1]) if values.size else NAN
        return out

    def state(self) -> State:
        return {"up": self.up.state(), "down": self.down.state(), "last": pack(self.last)}

    def load(self, state: State) -> None:
        self.up.load(state["up"])
        self.down.load(state["down"])
        self.last = unpack(state["last"])


class Cross:
    """``ta.crossover`` ("over") / ``ta.crossunder`` ("under"): against the last bar on which
    both sides were defined, exact comparisons."""

    def __init__(self, kind: str) -> None:
        if kind not in ("over", "under"):
            raise ValueError(f"unknown cross {kind!r}; use 'over' or 'under'")
        self.kind = kind
        self.before: bool | None = None  # a <= b (over) / a >= b (under) on that bar

    def update(self, a: float, b: float) -> bool:
        if is_na(a) or is_na(b):
            return False
        now = a > b if self.kind == "over" else a < b
        fired = now and self.before is True
        self.before = a <= b if self.kind == "over" else a >= b
        return fired

    def warm(self, a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64),
                                   np.asarray(b, dtype=np.float64))
        out = ta.crossover(a, b) if self.kind == "over" else ta.crossunder(a, b)
        both = np.flatnonzero(~(np.isnan(a) | np.isnan(b)))
        if both.size == 0:
            self.before = None
        else:
            last = both[-1]
            self.before = bool(a[last] <= b[last] if self.kind == "over" else a[last] >= b[last])
        return out

    def state(self) -> State:
        return {"before": self.before}

    def load(self, state: State) -> None:
        before = state["before"]
        if before is not None and not isinstance(before, bool):
            raise ValueError("cross state 'before' is not true, false or null")
        self.before = before


def pine_less(a: float, level: float) -> bool:
    """A script's ``a < level`` (1e-10 tolerance, na false), as ``indicators.pine_less``."""
    return (a - level) < -PINE_EPSILON


def pine_greater(a: float, level: float) -> bool:
    """A script's ``a > level`` (1e-10 tolerance, na false), as ``indicators.pine_greater``."""
    return (a - level) > PINE_EPSILON


def signal_of(buy: bool, sell: bool) -> int:
    """1 BUY, -1 SELL, 0 HOLD, as ``rules.to_signal``."""
    return int(buy) - int(sell)


class IncrementalStrategy:
    """A strategy's nodes: ``warm`` over a history of closes, then ``update`` per closed bar.

    Subclasses create their nodes in ``__init__`` (named attributes listed in ``NODES``) and
    define ``update(close) -> signal``; ``warm`` returns nothing, the bot takes the history's
    signals from the strategy's own whole-series ``compute``.
    """

    NODES: tuple[str, ...] = ()

    def warm(self, close: np.ndarray) -> None:
        raise NotImplementedError

    def update(self, close: float) -> int:
        raise NotImplementedError

    def warm_bars(self, frame: Any) -> None:
        """Warm on a candle frame (OHLC strategies override; close strategies use close)."""
        self.warm(frame["close"].to_numpy(dtype=np.float64, na_value=np.nan))

    def update_bar(self, open_: float, high: float, low: float, close: float) -> int:
        """The next bar's signal from its prices (close strategies use the close only)."""
        return self.update(close)

    def state(self) -> State:
        """Every node's state by name."""
        return {name: getattr(self, name).state() for name in self.NODES}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore ``state()``; ValueError (or KeyError/TypeError) when it does not fit."""
        if set(state) != set(self.NODES):
            raise ValueError(f"checkpoint nodes {sorted(state)} are not {sorted(self.NODES)}")
        for name in self.NODES:
            getattr(self, name).load(state[name])


class SmaRsi(IncrementalStrategy):
    """``rules.sma_rsi`` one bar at a time."""

    NODES = ("short", "long", "rsi", "over", "under")

    def __init__(self, p: Params) -> None:
        self.short, self.long = Sma(period(p, "SMA_SHORT")), Sma(period(p, "SMA_LONG"))
        self.rsi = Rsi(period(p, "RSI_PERIOD"))
        self.over, self.under = Cross("over"), Cross("under")
        self.overbought, self.oversold = p["RSI_OVERBOUGHT"], p["RSI_OVERSOLD"]

    def warm(self, close: np.ndarray) -> None:
        short, long = self.short.warm(close), self.long.warm(close)
        self.rsi.warm(close)
        self.over.warm(short, long)
        self.under.warm(short, long)

    def update(self, close: float) -> int:
        short, long = self.short.update(close), self.long.update(close)
        value = self.rsi.update(close)
        buy = self.over.update(short, long) and pine_less(value, self.overbought)
        sell = self.under.update(short, long) and pine_greater(value, self.oversold)
        return signal_of(buy, sell)


class Ma2Line(IncrementalStrategy):
    """``rules.ma2line`` one bar at a time."""

    NODES = ("fast", "slow", "over", "under")

    def __init__(self, p: Params) -> None:
        self.fast, self.slow = Sma(period(p, "MA_FAST")), Sma(period(p, "MA_SLOW"))
        self.over, self.under = Cross("over"), Cross("under")

    def warm(self, close: np.ndarray) -> None:
        fast, slow = self.fast.warm(close), self.slow.warm(close)
        self.over.warm(fast, slow)
        self.under.warm(fast, slow)

    def update(self, close: float) -> int:
        fast, slow = self.fast.update(close), self.slow.update(close)
        return signal_of(self.over.update(fast, slow), self.under.update(fast, slow))


class RsiStrategy(IncrementalStrategy):
    """``rules.rsi_strategy`` one bar at a time."""

    NODES = ("rsi", "over", "under")

    def __init__(self, p: Params) -> None:
        self.rsi = Rsi(period(p, "RSI_PERIOD"))
        self.over, self.under = Cross("over"), Cross("under")
        self.oversold, self.overbought = float(p["RSI_OVERSOLD"]), float(p["RSI_OVERBOUGHT"])

    def warm(self, close: np.ndarray) -> None:
        value = self.rsi.warm(close)
        self.over.warm(value, self.oversold)
        self.under.warm(value, self.overbought)

    def update(self, close: float) -> int:
        value = self.rsi.update(close)
        return signal_of(self.over.update(value, self.oversold),
                         self.under.update(value, self.overbought))


class MacdStrategy(IncrementalStrategy):
    """``rules.macd_strategy`` one bar at a time: ``delta = macd - ema(macd, signal)``."""

    NODES = ("fast", "slow", "signal", "over", "under")

    def __init__(self, p: Params) -> None:
        self.fast = Recursive(period(p, "MACD_FAST"), "ema")
        self.slow = Recursive(period(p, "MACD_SLOW"), "ema")
        self.signal = Recursive(period(p, "MACD_SIGNAL"), "ema")
        self.over, self.under = Cross("over"), Cross("under")

    def warm(self, close: np.ndarray) -> None:
        line = self.fast.warm(close) - self.slow.warm(close)
        delta = line - self.signal.warm(line)
        self.over.warm(delta, 0.0)
        self.under.warm(delta, 0.0)

    def update(self, close: float) -> int:
        line = self.fast.update(close) - self.slow.update(close)
        delta = line - self.signal.update(line)
        return signal_of(self.over.update(delta, 0.0), self.under.update(delta, 0.0))


class PreviousClose:
    """The previous bar's close (``close[1]``), na on the first bar."""

    def __init__(self) -> None:
        self.value = NAN

    def update(self, close: float) -> float:
        previous, self.value = self.value, close
        return previous

    def warm(self, close: np.ndarray) -> None:
        self.value = float(close[-1]) if close.size else NAN

    def state(self) -> State:
        return {"value": pack(self.value)}

    def load(self, state: State) -> None:
        self.value = unpack(state["value"])


class BarUpDn(IncrementalStrategy):
    """``bar_rules.barupdn_strategy`` one bar at a time: long after an up bar that opened
    above the previous close, short after a down bar that opened below it."""

    NODES = ("previous",)

    def __init__(self, p: Params) -> None:
        self.previous = PreviousClose()

    def warm(self, close: np.ndarray) -> None:
        self.previous.warm(close)

    def update(self, close: float) -> int:
        raise ValueError("barupdn needs the bar's open: use update_bar")

    def update_bar(self, open_: float, high: float, low: float, close: float) -> int:
        before = self.previous.update(close)
        up = (close - open_) > PINE_EPSILON and (open_ - before) > PINE_EPSILON
        down = (close - open_) < -PINE_EPSILON and (open_ - before) < -PINE_EPSILON
        return signal_of(up, down)


def np_max(a: float, b: float) -> float:
    """``np.maximum(a, b)`` for two floats: nan propagates, equal values give ``b``."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


def np_min(a: float, b: float) -> float:
    """``np.minimum(a, b)`` for two floats: nan propagates, equal values give ``b``."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


class Supertrend(IncrementalStrategy):
    """``bar_rules.supertrend_strategy`` one bar at a time, following
    ``channels.supertrend``: ATR = RMA of ``tr(true)``; from the ATR's first bar (after bar 0)
    the lower band ratchets up (reset to the raw band after a close below it), the upper band
    down (reset after a close above it); the direction turns from 1 to -1 on a close above the
    upper band and back on a close below the lower one (against the upper band when the two
    bands were equal on the bar before); BUY on a turn to -1, SELL on a turn to 1."""

    NODES = ("atr", "previous")

    def __init__(self, p: Params) -> None:
        self.factor = float(p["SUPERTREND_FACTOR"])
        self.atr = Recursive(int(p["SUPERTREND_ATR"]), "rma")
        self.previous = PreviousClose()
        self.bar = 0  # bars seen
        self.started = False  # the bands exist (the ATR's first bar after bar 0 was seen)
        self.upper = NAN
        self.lower = NAN
        self.direction = 1.0

    def update(self, close: float) -> int:
        raise ValueError("supertrend needs the bar's high and low: use update_bar")

    def update_bar(self, open_: float, high: float, low: float, close: float) -> int:
        before = self.previous.update(close)
        span = high - low
        true_range = span if is_na(before) else np_max(
            np_max(span, abs(high - before)), abs(low - before))
        volatility = self.atr.update(true_range)
        bar, self.bar = self.bar, self.bar + 1
        if bar == 0 or is_na(volatility):
            return 0  # direction stays 1: no turn
        src = (high + low) / 2
        upper_raw = src + self.factor * volatility
        lower_raw = src - self.factor * volatility
        if not self.started:
            self.started = True
            self.upper, self.lower = upper_raw, lower_raw
            return 0  # the ATR's first bar: direction 1
        last_upper, last_lower = self.upper, self.lower
        self.lower = lower_raw if before < last_lower else np_max(last_lower, lower_raw)
        self.upper = upper_raw if before > last_upper else np_min(last_upper, upper_raw)
        was = self.direction
        if was == 1:
            now = -1.0 if close > self.upper else 1.0
        elif last_lower == last_upper:
            now = -1.0 if close > self.upper else 1.0
        else:
            now = 1.0 if close < self.lower else -1.0
        self.direction = now
        turn = now - was
        return signal_of(turn < -PINE_EPSILON, turn > PINE_EPSILON)

    def warm(self, close: np.ndarray) -> None:
        raise ValueError("supertrend needs the bars: use warm_bars")

    def warm_bars(self, frame: Any) -> None:
        from strategies.channels import _ratchet, supertrend, tr

        h, lo, c = (frame[k].to_numpy(dtype=np.float64, na_value=np.nan)
                    for k in ("high", "low", "close"))
        self.bar = int(c.size)
        self.previous.warm(c)
        volatility = self.atr.warm(tr(h, lo, c, handle_na=True))
        defined = np.flatnonzero(~np.isnan(volatility[1:])) + 1
        self.started = bool(defined.size)
        self.upper = self.lower = NAN
        self.direction = 1.0
        if not self.started:
            return
        first = int(defined[0])
        src = (h + lo) / 2
        self.upper = float(_ratchet(src + self.factor * volatility, c, first, lower=False)[-1])
        self.lower = float(_ratchet(src - self.factor * volatility, c, first, lower=True)[-1])
        _, direction = supertrend(h, lo, c, self.factor, self.atr.n)
        self.direction = float(direction[-1])

    def state(self) -> State:
        return {**super().state(), "bar": self.bar, "started": self.started,
                "upper": pack(self.upper), "lower": pack(self.lower),
                "direction": pack(self.direction)}

    def load(self, state: Mapping[str, Any]) -> None:
        nodes = {k: state[k] for k in self.NODES if k in state}
        super().load(nodes)
        self.bar, self.started = int(state["bar"]), bool(state["started"])
        self.upper, self.lower = unpack(state["upper"]), unpack(state["lower"])
        self.direction = unpack(state["direction"])


# Registry name -> incremental form. A strategy missing here is recomputed over the whole
# stored file each candle (exact, cost growing with the file): add it here to make it fast.
INCREMENTAL: dict[str, Callable[[Params], IncrementalStrategy]] = {
    "sma_rsi": SmaRsi,
    "ma2line": Ma2Line,
    "rsi": RsiStrategy,
    "macd": MacdStrategy,
    "barupdn": BarUpDn,
    "supertrend": Supertrend,
}


def incremental_for(name: str, params: Params) -> IncrementalStrategy | None:
    """The incremental form of strategy ``name`` with ``params``, or None when it has none."""
    factory = INCREMENTAL.get(name)
    return None if factory is None else factory(params)
