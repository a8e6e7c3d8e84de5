"""The vectorised fills give the trade-by-trade reference's trades bit for bit."""

import zlib

import numpy as np
import pytest

from backtest.engine import (
    FillRules,
    Trades,
    _first_hits,
    _first_level_bar,
    _resolve_bars,
    resolve_bar,
    simulate,
    simulate_loop,
)
from backtest.synthetic import synthetic_candles

FIELDS = [f for f in Trades.__dataclass_fields__]


def assert_same_trades(a: Trades, b: Trades) -> None:
    """Every array of two trade sets equal, NaN equal to NaN, and of the same dtype."""
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is y, name
            continue
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


@pytest.mark.parametrize("mode", ["long-only", "long-short"])
@pytest.mark.parametrize("sl,tp,slip", [(0.02, 0.04, 0.0), (0.005, 0.003, 0.0005),
                                        (None, 0.01, 0.0), (0.01, None, 0.001),
                                        (None, None, 0.0)])
def test_fast_fills_equal_the_reference_on_random_signals(mode, sl, tp, slip):
    """
    Given synthetic candles with gaps and random sparse BUY/SELL signals (repeats included)
    When both fill engines run under the same mode, SL/TP and slippage
    Then every trade field is identical
    """
    candles = synthetic_candles(4000, seed=11)
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    rng = np.random.default_rng(zlib.crc32(repr((mode, sl, tp, slip)).encode()))
    for density in (0.01, 0.1):
        signal = rng.choice([-1, 0, 1], size=4000,
                            p=[density / 2, 1 - density, density / 2]).astype(np.int8)
        rules = FillRules(mode=mode, stop_loss=sl, take_profit=tp, slippage=slip)
        assert_same_trades(simulate(*arrays, signal, rules), simulate_loop(*arrays, signal, rules))


def test_fast_fills_handle_edges_like_the_reference():
    """
    Given signals only on the last bar, no signal at all, and a signal on every bar
    When both engines run
    Then they agree (no trade, no trade, and the same many trades)
    """
    candles = synthetic_candles(300, seed=3)
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    rules = FillRules(mode="long-short", stop_loss=0.001, take_profit=0.001)
    for signal in (np.r_[np.zeros(299), 1], np.zeros(300), np.where(np.arange(300) % 2, 1, -1)):
        signal = signal.astype(np.int8)
        assert_same_trades(simulate(*arrays, signal, rules), simulate_loop(*arrays, signal, rules))
    assert len(simulate(*arrays, np.r_[np.zeros(299), 1].astype(np.int8), rules)) == 0


def test_first_hits_finds_the_first_reaching_bar_or_the_limit():
    """
    Given a long whose stop is reached on bar 7 and a short whose levels are never reached
    When the vectorised scan runs from bar 2 with limits 50 and 30
    Then it returns 7 and 30
    """
    high = np.full(60, 101.0)
    low = np.full(60, 99.0)
    low[7] = 90.0
    got = _first_hits(np.array([True, False]), np.array([2, 2]), np.array([50, 30]),
                      np.array([95.0, 120.0]), np.array([110.0, 80.0]), high, low)
    assert got.tolist() == [7, 30]


def test_resolve_bars_matches_resolve_bar_bar_by_bar():
    """
    Given random bars and random stop/target levels around their open, long and short
    When the vectorised resolver runs
    Then each bar's reason, price and extremes equal resolve_bar's
    """
    rng = np.random.default_rng(5)
    o = 100 + rng.normal(0, 1, 500).round(1)
    h = o + np.abs(rng.normal(0, 2, 500)).round(1)
    low = o - np.abs(rng.normal(0, 2, 500)).round(1)
    long = rng.random(500) < 0.5
    near, far = 100 - rng.uniform(0, 3, 500).round(1), 100 + rng.uniform(0, 3, 500).round(1)
    stop, target = np.where(long, near, far), np.where(long, far, near)
    got = _resolve_bars(long, o, h, low, stop, target)
    for k in range(500):
        want = resolve_bar(1 if long[k] else -1, o[k], h[k], low[k], stop[k], target[k])
        assert (int(got[0][k]), got[1][k], got[2][k], got[3][k]) == want


@pytest.mark.parametrize("count", [5, 400])
def test_first_hits_agree_with_the_per_trade_scan_on_overlapping_ranges(count):
    """
    Given many long and short positions over the same bars (few: one pass; many: ranges far
    longer than the bars, the growing-window scan)
    When the vectorised scan runs
    Then each position's first bar equals the per-trade scan's
    """
    candles = synthetic_candles(2000, seed=8)
    high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
    rng = np.random.default_rng(count)
    start = rng.integers(0, 1900, count)
    limit = np.minimum(start + rng.integers(1, 2000, count), 2000)
    long = rng.random(count) < 0.5
    entry = candles["open"].to_numpy()[start]
    width = rng.uniform(0.001, 0.05, count)
    stop = np.where(long, entry * (1 - width), entry * (1 + width))
    target = np.where(long, entry * (1 + 2 * width), entry * (1 - 2 * width))
    got = _first_hits(long, start, limit, stop, target, high, low)
    want = [_first_level_bar(1 if long[k] else -1, high, low, int(start[k]), int(limit[k]),
                             float(stop[k]), float(target[k])) for k in range(count)]
    assert got.tolist() == want


def _mintick_reference(*series):
    """infer_mintick as first written: every step checked on every price."""
    values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in series])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1e-10
    for decimals in range(0, 11):
        scaled = values * 10.0 ** decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 + 1e-12 * np.abs(scaled)):
            return 10.0 ** -decimals
    return 1e-10


@pytest.mark.parametrize("decimals", [0, 2, 5, 12])
def test_sampled_mintick_equals_checking_every_price(decimals):
    """
    Given 300,000 prices with a given number of decimals, one odd price far in, NaNs and
      an empty series
    When the price step is inferred
    Then it equals the step found by checking every price one step after another
    """
    from strategies.bars import infer_mintick

    rng = np.random.default_rng(decimals)
    prices = np.round(rng.uniform(10, 1000, 300_000), decimals)
    odd = prices.copy()
    odd[250_001] += 10.0 ** -(decimals + 1)
    odd[7] = np.nan
    for series in ((prices,), (odd, prices), (np.array([]),), (np.array([np.nan]),)):
        assert infer_mintick(*series) == _mintick_reference(*series)


def _equity_reference(trades, ledger, close, rules, capital):
    """equity_curve as first written: per-bar index arrays for every held bar."""
    n = close.size
    closed = ~trades.is_open
    realised = np.bincount(trades.exit_bar[closed], weights=ledger.net_pnl[closed], minlength=n)
    equity = np.cumsum(realised, dtype=np.float64)
    equity += capital
    held_end = np.where(closed, trades.exit_bar, trades.exit_bar + 1)
    lengths = held_end - trades.entry_bar
    if lengths.sum() > 0:
        which = np.repeat(np.arange(len(trades)), lengths)
        offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
        bars = trades.entry_bar[which] + (np.arange(which.size) - offsets)
        entry_fee = rules.commission * ledger.entry_value
        qty = np.broadcast_to(rules.qty if trades.qty is None else trades.qty,
                              trades.direction.shape)
        equity[bars] += (trades.direction[which] * (close[bars] - trades.entry_price[which])
                         * qty[which] - entry_fee[which])
    return equity


@pytest.mark.parametrize("mode", ["long-only", "long-short"])
@pytest.mark.parametrize("sized", [False, True])
def test_equity_curve_equals_the_per_bar_reference(mode, sized):
    """
    Given trades on random signals (long-only, reversing; one size, or a size per trade)
    When the equity curve is computed
    Then every bar's equity equals the per-bar-index reference, bit for bit
    """
    from dataclasses import replace

    from backtest.ledger import build_ledger, equity_curve

    candles = synthetic_candles(5000, seed=21)
    arrays = [candles[c].to_numpy() for c in ("open", "high", "low", "close")]
    signal = np.random.default_rng(2).choice([-1, 0, 1], 5000, p=[0.02, 0.96, 0.02])
    rules = FillRules(mode=mode, stop_loss=0.004, take_profit=0.006, commission=0.001)
    trades = simulate(*arrays, signal.astype(np.int8), rules)
    if sized:
        trades = replace(trades, qty=np.random.default_rng(3).uniform(0.1, 2, len(trades)))
    ledger = build_ledger(trades, arrays[1], arrays[2], rules)
    got = equity_curve(trades, ledger, arrays[3], rules, 1000.0)
    assert np.array_equal(got, _equity_reference(trades, ledger, arrays[3], rules, 1000.0))


def test_first_hits_on_ranges_in_time_order_agree_with_the_per_trade_scan():
    """
    Given 300 long and short positions whose bar ranges follow one another without overlap
      (some empty), as between crossovers
    When the vectorised scan runs
    Then each position's first bar equals the per-trade scan's
    """
    candles = synthetic_candles(20_000, seed=9)
    high, low = candles["high"].to_numpy(), candles["low"].to_numpy()
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, 20_000), 600, replace=False))
    start, limit = cuts[0::2], cuts[1::2]
    limit[::7] = start[::7]  # empty ranges
    long = rng.random(start.size) < 0.7
    entry = candles["open"].to_numpy()[start]
    stop = np.where(long, entry * 0.997, entry * 1.003)
    target = np.where(long, entry * 1.004, entry * 0.996)
    got = _first_hits(long, start, limit, stop, target, high, low)
    want = [_first_level_bar(1 if long[k] else -1, high, low, int(start[k]), int(limit[k]),
                             float(stop[k]), float(target[k])) for k in range(start.size)]
    assert got.tolist() == want


def test_segment_mask_marks_each_range_once():
    """
    Given ranges in time order: one at the start, an empty one, two touching, one to the end
    When their mask over 12 bars is built
    Then exactly the bars inside them are True, and no range gives an all-False mask
    """
    from backtest.engine import segment_mask

    start, lengths = np.array([0, 3, 4, 6, 9]), np.array([2, 0, 2, 2, 3])
    got = segment_mask(12, start, lengths)
    want = np.zeros(12, dtype=bool)
    for s_, n_ in zip(start, lengths, strict=True):
        want[s_:s_ + n_] = True
    assert got.tolist() == want.tolist()
    assert not segment_mask(5, np.array([], dtype=np.int64), np.array([], dtype=np.int64)).any()
