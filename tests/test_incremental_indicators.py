"""Pine's bar-at-a-time indicators (strategies.incremental) equal the whole-series ones."""

import json
import math

import numpy as np
import pytest

from strategies import indicators as ta
from strategies.incremental import (
    INCREMENTAL,
    Cross,
    Recursive,
    Rsi,
    Sma,
    ieee_div,
    incremental_for,
    np_max,
    np_max0,
    np_min,
    pack,
    pack_many,
    pine_greater,
    pine_less,
    signal_of,
    unpack,
    unpack_many,
)
from strategies.registry import STRATEGIES


def tie_prone_prices(n: int, seed: int, na_every: int = 0) -> np.ndarray:
    """A 2-decimal random walk with flat stretches (SMA ties, RSI flat starts), optional na."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.02, -0.01, 0.0, 0.0, 0.0, 0.01, 0.02], size=n)
    flat = rng.random(n) < 0.3
    steps[flat] = 0.0
    prices = np.round(100.0 + np.cumsum(steps) + rng.normal(0, 0.3, n).round(2), 2)
    if na_every:
        prices[::na_every] = np.nan
    return prices


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equal float arrays (nan where nan)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def run_node(node, xs: np.ndarray, split: int, roundtrip: bool = True) -> np.ndarray:
    """Warm on ``xs[:split]``, checkpoint through JSON, then update bar by bar."""
    head = node.warm(xs[:split])
    if roundtrip:
        node.load(json.loads(json.dumps(node.state())))
    tail = [node.update(float(x)) for x in xs[split:]]
    return np.concatenate([np.asarray(head, dtype=np.float64), np.asarray(tail, dtype=float)])


NODES = [
    ("sma 10", lambda: Sma(10), lambda x: ta.sma(x, 10)),
    ("sma 1", lambda: Sma(1), lambda x: ta.sma(x, 1)),
    ("ema 12", lambda: Recursive(12, "ema"), lambda x: ta.ema(x, 12)),
    ("ema 1", lambda: Recursive(1, "ema"), lambda x: ta.ema(x, 1)),
    ("rma 14", lambda: Recursive(14, "rma"), lambda x: ta.rma(x, 14)),
    ("rsi 14", lambda: Rsi(14), lambda x: ta.rsi(x, 14)),
]


@pytest.mark.parametrize("label,make,whole", NODES, ids=[n[0] for n in NODES])
@pytest.mark.parametrize("na_every", [0, 7])
def test_a_node_warmed_then_updated_equals_the_whole_series_function(label, make, whole,
                                                                     na_every):
    """
    Given a tie-prone 2-decimal price series (with or without na bars every 7th bar)
    When a node is warmed on a prefix (0, a few, or hundreds of bars), checkpointed through
     JSON and then updated bar by bar
    Then every value equals the whole-series function's value bit for bit
    """
    xs = tie_prone_prices(700, seed=3, na_every=na_every)
    expected = whole(xs)
    for split in (0, 1, 5, 13, 14, 15, 350, 699):
        assert same(run_node(make(), xs, split), expected), (label, split)


@pytest.mark.parametrize("kind", ["over", "under"])
def test_cross_warmed_then_updated_equals_crossover_and_crossunder(kind):
    """
    Given two SMAs of a tie-prone series with na gaps, and an RSI against a fixed level
    When a Cross node is warmed on a prefix and updated bar by bar
    Then it fires on exactly the bars ta.crossover / ta.crossunder fire on
    """
    xs = tie_prone_prices(600, seed=5, na_every=11)
    a, b = ta.sma(xs, 3), ta.sma(xs, 7)
    whole = ta.crossover if kind == "over" else ta.crossunder
    for split in (0, 2, 300):
        node = Cross(kind)
        head = node.warm(a[:split], b[:split])
        node.load(json.loads(json.dumps(node.state())))
        tail = [node.update(float(x), float(y)) for x, y in zip(a[split:], b[split:], strict=True)]
        assert (np.concatenate([head, np.array(tail, dtype=bool)]) == whole(a, b)).all()
    r = ta.rsi(xs, 5)
    node = Cross(kind)
    head = node.warm(r[:100], 50.0)
    tail = [node.update(float(x), 50.0) for x in r[100:]]
    assert (np.concatenate([head, np.array(tail, dtype=bool)]) == whole(r, 50.0)).all()


def test_numpy_scalar_semantics_are_reproduced():
    """
    Given the zero-divisor and signed-zero cases of Pine's RSI formula
    When np_max0 and ieee_div are applied
    Then they give numpy's answers: max(-0.0, 0) is +0.0, nan stays nan, x/0 is a signed
     inf and 0/0 nan; np_max / np_min answer as np.maximum / np.minimum, signed zeros too
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        for value in (-0.0, 0.0, -1.5, 2.5, math.nan, math.inf, -math.inf):
            got, want = np_max0(value), float(np.maximum(value, 0.0))
            assert (got == want and math.copysign(1, got) == math.copysign(1, want)) or (
                math.isnan(got) and math.isnan(want))
        for a, b in [(1.0, 0.0), (1.0, -0.0), (-2.0, 0.0), (0.0, 0.0), (math.nan, 0.0),
                     (3.0, 4.0)]:
            got, want = ieee_div(a, b), float(np.float64(a) / np.float64(b))
            assert got == want or (math.isnan(got) and math.isnan(want))
    pairs = [(0.0, -0.0), (-0.0, 0.0), (1.0, 2.0), (2.0, 1.0), (math.nan, 1.0), (1.0, math.nan)]
    for ours, theirs in ((np_max, np.maximum), (np_min, np.minimum)):
        for a, b in pairs:
            got, want = ours(a, b), float(theirs(a, b))
            assert (got == want and math.copysign(1, got) == math.copysign(1, want)) or (
                math.isnan(got) and math.isnan(want))


def test_floats_are_packed_without_rounding():
    """
    Given floats with all 53 bits used, nan and infinities
    When packed to text and unpacked (one at a time or as a list)
    Then the same bits come back, and junk is refused with ValueError
    """
    values = [0.1 + 0.2, -0.0, 1e-310, math.inf, -math.inf, 29679.020000000004]
    assert [unpack(pack(v)) for v in values] == values
    assert math.isnan(unpack(pack(math.nan)))
    assert unpack_many(pack_many(values)) == values and unpack_many(pack_many([])) == []
    with pytest.raises(ValueError):
        unpack(1.5)
    with pytest.raises(ValueError):
        unpack_many("AAAA")


def test_script_comparisons_and_signal_match_the_vector_rules():
    """
    Given values at, just inside and just outside Pine's 1e-10 tolerance of a level, and na
    When pine_less / pine_greater and signal_of are applied
    Then they agree with the vector functions, and buy/sell map to 1/-1/0
    """
    values = np.array([70.0, 70.0 - 1e-11, 70.0 - 1e-9, 70.0 + 1e-9, math.nan])
    assert [pine_less(float(v), 70) for v in values] == ta.pine_less(values, 70).tolist()
    assert [pine_greater(float(v), 70) for v in values] == ta.pine_greater(values, 70).tolist()
    assert (signal_of(True, False), signal_of(False, True), signal_of(False, False)) == (1, -1, 0)


def test_unknown_kinds_and_foreign_checkpoints_are_refused():
    """
    Given a recursion or cross kind that does not exist, and checkpoints of the wrong shape
    When a node is built or loaded
    Then ValueError says what is wrong
    """
    with pytest.raises(ValueError, match="unknown recursion"):
        Recursive(3, "wma")
    with pytest.raises(ValueError, match="unknown cross"):
        Cross("sideways")
    with pytest.raises(ValueError):
        Cross("over").load({"before": "yes"})
    strategy = incremental_for("macd", STRATEGIES["macd"].params())
    with pytest.raises(ValueError, match="checkpoint nodes"):
        strategy.load({"fast": {}})
    assert incremental_for("no_such_strategy", {}) is None


INCREMENTAL_NAMES = sorted(INCREMENTAL)


@pytest.mark.parametrize("name", INCREMENTAL_NAMES)
@pytest.mark.parametrize("seed", [1, 2])
def test_an_incremental_strategy_gives_the_signals_of_compute(name, seed):
    """
    Given a registered strategy with an incremental form, short parameters that make many
     signals, and a tie-prone series
    When it is warmed on a prefix, checkpointed through JSON, and fed the rest bar by bar
    Then each bar's signal equals the strategy's whole-series compute, and signals did fire
    """
    strategy = STRATEGIES[name]
    short = {"SMA_SHORT": 3, "SMA_LONG": 8, "RSI_PERIOD": 5, "MA_FAST": 3, "MA_SLOW": 8,
             "MACD_FAST": 3, "MACD_SLOW": 8, "MACD_SIGNAL": 4, "SUPERTREND_ATR": 5,
             "SUPERTREND_FACTOR": 1.0}
    params = strategy.params({k: v for k, v in short.items() if k in strategy.defaults})
    frame = tie_prone_candles(1500, seed=seed)
    expected = strategy.compute(frame, params)["signal"].to_numpy()
    rows = frame[["open", "high", "low", "close"]].to_numpy().tolist()
    for split in (0, 1, 5, 6, 10, 700):
        inc = incremental_for(name, params)
        inc.warm_bars(frame.iloc[:split])
        inc.load(json.loads(json.dumps(inc.state())))
        got = [inc.update_bar(*row) for row in rows[split:]]
        assert got == expected[split:].tolist(), (name, split)
    assert (expected != 0).sum() >= 10


def tie_prone_candles(n: int, seed: int):
    """Candles around ``tie_prone_prices``: opens at, above or below the previous close."""
    import pandas as pd

    close = tie_prone_prices(n, seed)
    rng = np.random.default_rng(seed + 100)
    previous = np.concatenate([[close[0]], close[:-1]])
    open_ = np.round(previous + rng.choice([-0.02, 0.0, 0.0, 0.02], size=n), 2)
    return pd.DataFrame({
        "timestamp": np.arange(n, dtype="int64") * 60_000, "open": open_,
        "high": np.maximum(open_, close) + 0.01, "low": np.minimum(open_, close) - 0.01,
        "close": close, "volume": 1.0})


def test_barupdn_needs_the_bar_and_close_strategies_take_it_too():
    """
    Given the incremental BarUpDn and MACD
    When BarUpDn is given a close alone, and MACD a whole bar
    Then BarUpDn refuses (it needs the open), MACD uses the bar's close
    """
    with pytest.raises(ValueError, match="needs the bar's open"):
        incremental_for("barupdn", STRATEGIES["barupdn"].params()).update(1.0)
    macd = incremental_for("macd", STRATEGIES["macd"].params())
    assert macd.update_bar(1.0, 2.0, 0.5, 1.5) == 0


@pytest.mark.parametrize("atr,factor", [(1, 0.5), (10, 3.0)])
def test_incremental_supertrend_follows_its_atr_bands_and_turns(atr, factor):
    """
    Given real-like synthetic candles and Supertrend with ATR 1 / factor 0.5 (bands reset
     often, the one-bar ATR path) or ATR 10 / factor 3
    When it is warmed on a prefix (before, at and after the ATR's first bar) and fed the rest
    Then every signal equals the whole-series Supertrend Strategy, and it turned both ways
    """
    from backtest.synthetic import synthetic_candles

    strategy = STRATEGIES["supertrend"]
    params = strategy.params({"SUPERTREND_ATR": atr, "SUPERTREND_FACTOR": factor})
    frame = synthetic_candles(2500, seed=3)
    expected = strategy.compute(frame, params)["signal"].to_numpy()
    rows = frame[["open", "high", "low", "close"]].to_numpy().tolist()
    for split in (0, atr, atr + 1, 1200):
        inc = incremental_for("supertrend", params)
        inc.warm_bars(frame.iloc[:split])
        inc.load(json.loads(json.dumps(inc.state())))
        assert [inc.update_bar(*row) for row in rows[split:]] == expected[split:].tolist()
    assert {1, -1} <= set(expected.tolist())
    with pytest.raises(ValueError, match="needs the bar"):
        incremental_for("supertrend", params).update(1.0)
    with pytest.raises(ValueError, match="needs the bars"):
        incremental_for("supertrend", params).warm(np.ones(3))
