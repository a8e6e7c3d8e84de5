"""The emulator's markets: the seeded generator, the replay, scripts and the intrabar path."""

import numpy as np
import pandas as pd
import pytest

from emulator.intrabar import intrabar_path, partial_candle, path_price
from emulator.market import GeneratedMarket, Market, ReplayMarket

T0 = 1_700_000_040_000  # a whole minute
I0 = T0 // 60_000


# -- plain numpy indicators, only to check that the generated closes give signals ---------------
def sma(x, n):
    out = np.full(len(x), np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def rma(x, n):
    out = np.full(len(x), np.nan)
    out[n - 1] = x[:n].mean()
    for i in range(n, len(x)):
        out[i] = (out[i - 1] * (n - 1) + x[i]) / n
    return out


def ema(x, n):
    out = np.full(len(x), np.nan)
    out[n - 1] = x[:n].mean()
    a = 2.0 / (n + 1)
    for i in range(n, len(x)):
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out


def rsi(close, n=14):
    d = np.diff(close)
    out = np.full(len(close), np.nan)
    up, down = rma(np.maximum(d, 0), n), rma(np.maximum(-d, 0), n)
    out[1:] = 100 - 100 / (1 + up / down)
    return out


def crossings(a, b):
    """(crossovers, crossunders) of series a over series b."""
    up = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    down = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return int(up.sum()), int(down.sum())


def candle_frame(closes, start_ms=T0, step=60_000):
    closes = np.asarray(closes, dtype=float)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return pd.DataFrame(
        {
            "timestamp": np.arange(len(closes), dtype="int64") * step + start_ms,
            "open": opens,
            "high": np.maximum(opens, closes) + 1.0,
            "low": np.minimum(opens, closes) - 2.0,
            "close": closes,
            "volume": np.full(len(closes), 3.0),
        }
    )


# -- intrabar path --------------------------------------------------------------------------
def test_intrabar_path_goes_to_the_nearer_extreme_first():
    """
    Given a candle whose high is nearer the open than its low, and one the other way round
    When the intrabar path is asked
    Then the first goes open-high-low-close and the second open-low-high-close
    """
    assert intrabar_path(100, 102, 90, 95) == (100, 102, 90, 95)
    assert intrabar_path(100, 110, 98, 105) == (100, 98, 110, 105)


def test_intrabar_path_takes_the_low_first_when_the_open_is_midway():
    """
    Given a candle whose open is exactly midway between high and low
    When the intrabar path is asked
    Then the low comes first (stop before target for a long, the conservative choice)
    """
    assert intrabar_path(100, 105, 95, 101) == (100, 95, 105, 101)


def test_path_price_is_piecewise_linear_over_three_equal_legs():
    """
    Given the candle O=100 H=102 L=90 C=95 (path 100 -> 102 -> 90 -> 95)
    When the price is read at 0, 1/6, 1/3, 1/2, 2/3, 1 of the candle and beyond its ends
    Then it is 100, 101, 102, 96, 90, 95 and clamps to the open and close outside
    """
    got = [path_price(100, 102, 90, 95, f) for f in (0, 1 / 6, 1 / 3, 0.5, 2 / 3, 1.0)]
    assert got == pytest.approx([100, 101, 102, 96, 90, 95])
    assert path_price(100, 102, 90, 95, -1) == 100
    assert path_price(100, 102, 90, 95, 2) == pytest.approx(95)


def test_partial_candle_shows_only_the_extremes_already_passed():
    """
    Given the candle O=100 H=102 L=90 C=95 V=30
    When it is seen at a quarter, at half and at the end of its time
    Then (open, high, low, close, volume) so far are (100, 101.5, 100, 101.5, 7.5), then
    (100, 102, 96, 96, 15), then the whole candle
    """
    quarter = partial_candle(100, 102, 90, 95, 30, 0.25)
    assert quarter == pytest.approx((100, 101.5, 100, 101.5, 7.5))
    assert partial_candle(100, 102, 90, 95, 30, 0.5) == pytest.approx((100, 102, 96, 96, 15))
    assert partial_candle(100, 102, 90, 95, 30, 1.0) == pytest.approx((100, 102, 90, 95, 30))


# -- generated market -----------------------------------------------------------------------
def test_generated_market_is_deterministic_for_any_window_and_order():
    """
    Given two generated markets with the same seed, one asked a far-future window first
    When the same candles are read in different windows and orders
    Then every candle is identical, and another seed gives other candles
    """
    a, b = GeneratedMarket(5), GeneratedMarket(5)
    b.rows(I0 + 10_000_000, 10)
    whole = a.rows(I0, 600)
    np.testing.assert_array_equal(b.rows(I0 + 300, 300), whole[300:])
    np.testing.assert_array_equal(b.rows(I0, 300), whole[:300])
    assert not np.array_equal(GeneratedMarket(6).rows(I0, 600), whole)


def test_generated_candles_are_continuous_and_consistent():
    """
    Given a generated market
    When 5,000 candles are read
    Then each opens at the previous close, high/low enclose open and close, prices sit on the
    0.01 tick, volumes are positive and the price stays within 25 % of the start price
    """
    rows = GeneratedMarket(3, start_price=30_000).rows(I0, 5000)
    o, h, low, c, v = rows.T
    np.testing.assert_allclose(o[1:], c[:-1])
    assert (h >= np.maximum(o, c)).all() and (low <= np.minimum(o, c)).all()
    np.testing.assert_allclose(rows[:, :4] * 100, np.round(rows[:, :4] * 100), atol=1e-6)
    assert (v > 0).all()
    assert 22_500 < low.min() and h.max() < 37_500


def test_generated_market_has_trending_and_ranging_stretches():
    """
    Given the first 3,000 candles of four seeds
    When the efficiency ratio |net move| / path length is measured over 120-candle windows
    Then every seed has a trending window (ratio above 0.25 and a move over 1 %) and a ranging
    one (ratio below 0.05)
    """
    for seed in range(4):
        closes = GeneratedMarket(seed).rows(I0, 3000)[:, 3]
        ratios, moves = [], []
        for s in range(0, len(closes) - 120, 60):
            x = closes[s : s + 120]
            ratios.append(abs(x[-1] - x[0]) / np.abs(np.diff(x)).sum())
            moves.append(abs(x[-1] / x[0] - 1))
        ratios, moves = np.array(ratios), np.array(moves)
        assert ((ratios > 0.25) & (moves > 0.01)).any(), seed
        assert (ratios < 0.05).any(), seed


def test_every_strategy_gets_signals_within_a_few_hundred_candles():
    """
    Given 400 generated candles for each of three seeds
    When SMA 10/50 (with the RSI 70/30 filter), SMA 9/18, RSI 14 30/70 and MACD 12/26/9 are
    computed with plain numpy
    Then each gives at least one entry and one exit signal
    """
    for seed in (1, 2, 3):
        c = GeneratedMarket(seed).rows(I0, 400)[:, 3]
        r = rsi(c)
        fast, slow = sma(c, 10), sma(c, 50)
        buys = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1]) & (r[1:] < 70)
        sells = (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1]) & (r[1:] > 30)
        assert buys.any() and sells.any(), seed
        assert min(crossings(sma(c, 9), sma(c, 18))) >= 1, seed
        assert crossings(r, np.full(len(c), 30.0))[0] >= 1, seed
        assert crossings(r, np.full(len(c), 70.0))[1] >= 1, seed
        macd = ema(c, 12) - ema(c, 26)
        signal = np.full(len(c), np.nan)
        signal[25:] = ema(macd[25:], 9)
        assert min(crossings(macd, signal)) >= 1, seed


def test_generated_market_rejects_bad_parameters():
    """
    Given a non-positive start price, and a non-positive timeframe
    When a generated market is built
    Then a ValueError says what is wrong
    """
    with pytest.raises(ValueError, match="start_price"):
        GeneratedMarket(1, start_price=0)
    with pytest.raises(ValueError, match="timeframe_ms"):
        GeneratedMarket(1, timeframe_ms=0)


def test_normals_and_boundary_prices_are_functions_of_the_index():
    """
    Given a generated market
    When normals and boundary prices are read for overlapping ranges
    Then overlapping parts agree and boundary i equals the open of candle i
    """
    m = GeneratedMarket(9)
    np.testing.assert_array_equal(m.normals(0, 4000, 5000)[100:], m.normals(0, 4100, 5000))
    prices = m.boundary_prices(I0, I0 + 5)
    np.testing.assert_allclose(m.rows(I0, 4)[:, 0], np.round(prices[:4], 2))


def test_candle_at_partial_at_and_price_at_follow_the_path():
    """
    Given a generated market and the candle opening at T0
    When it is read whole, at 20 s and at 40 s, and its price is read at those instants
    Then the partial candles come from the intrabar path, on the 0.01 tick, and the price is
    the partial close
    """
    m = GeneratedMarket(11)
    o, h, low, c, v = m.candle_at(T0)
    assert m.candle_at(T0 + 59_999) == (o, h, low, c, v)
    for offset in (20_000, 40_000):
        part = m.partial_at(T0 + offset)
        want = partial_candle(o, h, low, c, v, offset / 60_000)
        assert part == pytest.approx(want, abs=0.006)
        assert m.price_at(T0 + offset) == part[3]
        assert all(abs(p * 100 - round(p * 100)) < 1e-6 for p in part[:4])  # on the tick
    assert m.price_at(T0) == o and m.index_of(T0 + 59_999) == I0


def test_script_forces_closes_then_the_market_continues_from_there():
    """
    Given a generated market
    When candles from T0 are scripted to close at 25,000 then 24,000
    Then they open at the previous close, have no wicks, close as scripted, and the next
    candle opens at 24,000 with the rest of the path scaled (no jump back)
    """
    m = GeneratedMarket(2)
    before = m.rows(I0 - 1, 5)
    m.script(T0 + 5_000, [25_000, 24_000])
    rows = m.rows(I0 - 1, 5)
    np.testing.assert_array_equal(rows[0], before[0])
    assert rows[1, :4].tolist() == [before[0, 3], before[0, 3], 25_000, 25_000]
    assert rows[2, :4].tolist() == [25_000, 25_000, 24_000, 24_000]
    assert rows[3, 0] == 24_000
    ratio = 24_000 / before[2, 3]
    np.testing.assert_allclose(rows[3:, :4], before[3:, :4] * ratio, atol=0.006)
    assert m.price_at(T0 + 60_000 + 30_000) == 24_500


def test_force_price_makes_the_candle_flat_and_clear_scripts_undoes_it():
    """
    Given a generated market
    When the price is forced to 20,000 at T0 + 10 s
    Then the price is 20,000 anywhere in that candle and the next one opens there; after
    clear_scripts the original candles are back
    """
    m = GeneratedMarket(2)
    original = m.rows(I0, 3)
    m.force_price(20_000, T0 + 10_000)
    assert m.price_at(T0) == 20_000 and m.price_at(T0 + 59_000) == 20_000
    assert m.rows(I0 + 1, 1)[0, 0] == 20_000
    m.clear_scripts()
    np.testing.assert_array_equal(m.rows(I0, 3), original)


def test_script_rejects_empty_or_non_positive_closes():
    """
    Given a generated market
    When a script with no closes or with a zero close is given
    Then a ValueError explains the rule
    """
    m = GeneratedMarket(2)
    with pytest.raises(ValueError, match="at least one close"):
        m.script(T0, [])
    with pytest.raises(ValueError, match="> 0"):
        m.script(T0, [100, 0])


def test_base_market_requires_a_subclass_to_provide_rows():
    """
    Given the bare Market base class
    When rows are asked
    Then NotImplementedError is raised and the market has no beginning
    """
    m = Market()
    assert m.first_index() is None
    with pytest.raises(NotImplementedError):
        m.rows(0, 1)


# -- replay market --------------------------------------------------------------------------
def test_replay_market_serves_the_csv_exactly(tmp_path):
    """
    Given a candle CSV written from a frame of 300 one-minute candles
    When a replay market reads it
    Then every row equals the CSV row, the timeframe is 1 minute and start/end are the file's
    """
    closes = 100 + np.cumsum(np.sin(np.arange(300) / 7.0))
    frame = candle_frame(closes)
    path = tmp_path / "candles.csv"
    frame.to_csv(path, index=False)
    m = ReplayMarket(path)
    np.testing.assert_allclose(
        m.rows(I0, 300), frame[["open", "high", "low", "close", "volume"]].to_numpy()
    )
    assert m.timeframe_ms == 60_000 and m.start_ms == T0 and m.end_ms == T0 + 300 * 60_000
    assert m.first_index() == I0


def test_replay_market_fills_gaps_and_edges():
    """
    Given a replay frame with candles at minutes 0, 1 and 3 (minute 2 missing)
    When candles before, inside and after the file are read
    Then before is empty (NaN), the gap and after the end are flat at the previous close with
    no volume, and the price before the start is the first open
    """
    frame = candle_frame([10.0, 11.0, 12.0, 13.0]).drop(index=2).reset_index(drop=True)
    m = ReplayMarket(frame)
    rows = m.rows(I0 - 1, 6)
    assert np.isnan(rows[0]).all()
    assert rows[3].tolist() == [11.0, 11.0, 11.0, 11.0, 0.0]
    assert rows[5].tolist() == [13.0, 13.0, 13.0, 13.0, 0.0]
    assert m.candle_at(T0 - 60_000) is None and m.partial_at(T0 - 1) is None
    assert m.price_at(T0 - 60_000) == 10.0


def test_replay_default_start_leaves_the_history_closed():
    """
    Given a 300-candle replay
    When the default clock start for 200 candles of history is asked, and for too many
    Then it is the open of candle 200, and asking 300 raises a ValueError
    """
    m = ReplayMarket(candle_frame(np.linspace(100, 130, 300)))
    assert m.default_start_ms(200) == T0 + 200 * 60_000
    with pytest.raises(ValueError, match="history=300"):
        m.default_start_ms(300)


def test_replay_rejects_bad_frames():
    """
    Given an empty frame, a frame with high below low, and one off the minute grid
    When a replay market is built from each
    Then each raises a one-line ValueError naming the problem
    """
    with pytest.raises(ValueError, match="empty"):
        ReplayMarket(candle_frame([1.0]).iloc[0:0])
    broken = candle_frame([10.0, 11.0])
    broken.loc[1, "high"] = 1.0
    with pytest.raises(ValueError, match="high is below low"):
        ReplayMarket(broken)
    with pytest.raises(ValueError, match="grid"):
        ReplayMarket(candle_frame([10.0, 11.0], start_ms=T0 + 5))


def test_replay_scripts_apply_too():
    """
    Given a replay market
    When its third candle is forced to 50
    Then that candle is flat at 50 and the next opens there
    """
    m = ReplayMarket(candle_frame([10.0, 11.0, 12.0, 13.0]))
    m.force_price(50.0, T0 + 2 * 60_000)
    rows = m.rows(I0, 4)
    assert rows[2, :4].tolist() == [50.0] * 4 and rows[3, 0] == pytest.approx(50.0)
