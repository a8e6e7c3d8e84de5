"""The exact machinery under the indicators: window sums and Pine's EMA/RMA recursions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies import recurrence
from strategies.exact_sum import _lowest_exponent, window_sums, window_sums_many
from strategies.recurrence import (
    _run_ends,
    _start_guesses,
    ema_step,
    rma_step,
    seeded_recursion,
    settle,
)


def fsum_windows(x: np.ndarray, n: int) -> np.ndarray:
    """Reference: math.fsum of every window."""
    items = x.tolist()
    return np.array([math.fsum(items[i:i + n]) for i in range(len(items) - n + 1)])


def loop_recursion(x: np.ndarray, n: int, kind: str) -> np.ndarray:
    """Reference: the per-bar loop of Pine's ta.ema / ta.rma."""
    out = np.full(len(x), np.nan)
    if n == 1:
        return np.asarray(x, dtype=float).copy()
    if len(x) < n:
        return out
    items = [float(v) for v in x]
    value = math.fsum(items[:n]) / n
    out[n - 1] = value
    alpha = 2 / (n + 1)
    for t in range(n, len(items)):
        if kind == "ema":
            value = value + alpha * (items[t] - value)
        else:
            value = (value * (n - 1) + items[t]) / n
        out[t] = value
    return out


def price_families(rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """Random walks at FX and BTC scales, signed values, wide magnitudes and repeated ticks."""
    return [
        1.1 + rng.normal(0, 0.001, size).cumsum(),
        np.round(30000 + rng.normal(0, 25, size).cumsum(), 2),
        rng.normal(0, 1, size),
        rng.normal(0, 1, size) * 10.0 ** rng.integers(-6, 7, size),
        rng.choice([0.1, 0.2, 0.3, 7.0, 1e-3], size),
    ]


def test_window_sums_equal_fsum_of_every_window():
    """
    Given random series at several scales, signs and magnitude spreads
    When window sums are taken for window lengths from 1 to 60
    Then every sum is bit-identical to math.fsum of that window
    """
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 9, 18, 50, 60):
        for x in price_families(rng, 400):
            assert np.array_equal(window_sums(x, n), fsum_windows(x, n)), n


def test_window_sums_many_matches_one_length_at_a_time():
    """
    Given one BTC-scale series
    When the sums for lengths 10 and 50 are asked for together
    Then each equals the single-length result
    """
    x = np.round(30000 + np.random.default_rng(3).normal(0, 25, 5000).cumsum(), 2)
    ten, fifty = window_sums_many(x, [10, 50])
    assert np.array_equal(ten, window_sums(x, 10))
    assert np.array_equal(fifty, window_sums(x, 50))


def test_window_sums_of_short_zero_subnormal_and_infinite_series():
    """
    Given a series shorter than the window, an all-zero one, one with subnormals, one with inf
    When window sums are taken
    Then they are empty, zero, fsum-exact, and inf where a window holds inf
    """
    assert window_sums(np.array([1.0, 2.0]), 3).size == 0
    assert np.array_equal(window_sums(np.zeros(5), 2), np.zeros(4))
    tiny = np.array([5e-324, 1e-310, 3e-320, 2.5e-308, 1e-300])
    assert np.array_equal(window_sums(tiny, 2), fsum_windows(tiny, 2))
    with_inf = np.array([1.0, np.inf, 2.0, 3.0])
    assert np.array_equal(window_sums(with_inf, 2), np.array([np.inf, np.inf, 5.0]))


def test_window_sums_reject_a_zero_length():
    """
    Given a series
    When a window length of 0 is asked for
    Then ValueError says the length must be at least 1
    """
    with pytest.raises(ValueError, match="at least 1"):
        window_sums(np.ones(3), 0)


def test_lowest_exponent_agrees_with_frexp():
    """
    Given values of many magnitudes, zeros and a subnormal
    When the smallest binary exponent is read from the bits
    Then it equals the smallest exponent math.frexp gives for the nonzero values
    """
    x = np.array([0.0, 1.5, -3e-5, 7e12, 4e-320, 0.0])
    expected = min(math.frexp(v)[1] for v in x.tolist() if v != 0.0)
    assert _lowest_exponent(x) == expected


@pytest.mark.parametrize("kind", ["ema", "rma"])
def test_seeded_recursion_is_bit_identical_to_the_pine_loop(kind):
    """
    Given random series, some ending in a long perfectly flat stretch
    When the EMA or RMA is computed the vectorised way for lengths 1 to 200
    Then every bar is bit-identical to Pine's per-bar loop, warm-up included
    """
    rng = np.random.default_rng(5)
    for n in (1, 2, 5, 9, 14, 26, 200):
        for x in price_families(rng, 3000)[:3]:
            flat = x.copy()
            flat[1000:] = flat[1000]
            for series in (x, flat):
                got = seeded_recursion(series, n, kind)
                assert np.array_equal(got, loop_recursion(series, n, kind), equal_nan=True), n


def test_seeded_recursion_short_series_and_inf_fallback():
    """
    Given a series shorter than the length, and one holding inf
    When the EMA is computed
    Then the short one is all na and the inf one equals the plain loop
    """
    assert np.isnan(seeded_recursion(np.array([1.0, 2.0]), 3, "ema")).all()
    x = np.array([1.0, 2.0, 3.0, np.inf, 4.0, 5.0])
    assert np.array_equal(
        seeded_recursion(x, 2, "ema"), loop_recursion(x, 2, "ema"), equal_nan=True
    )


def test_seeded_recursion_rejects_an_unknown_kind():
    """
    Given a series
    When a recursion other than ema or rma is asked for
    Then ValueError names the accepted kinds
    """
    with pytest.raises(ValueError, match="'ema' or 'rma'"):
        seeded_recursion(np.ones(5), 2, "wma")


def test_settle_turns_any_guess_into_the_exact_recursion():
    """
    Given the seed of an RMA and a deliberately wrong guess for every later bar
    When settle repairs the guess in place
    Then the result is the per-bar loop's
    """
    rng = np.random.default_rng(8)
    x = 1.1 + rng.normal(0, 0.001, 2000).cumsum()
    expected = loop_recursion(x, 14, "rma")[13:]
    guess = x[13:] * 1.01
    guess[0] = expected[0]
    settle(guess, x[13:], rma_step(14))
    assert np.array_equal(guess, expected)


def test_settle_falls_back_to_the_walk_after_many_rounds(monkeypatch):
    """
    Given a vector-round budget of one round and a wrong guess
    When settle runs
    Then the sequential walk finishes the job exactly
    """
    monkeypatch.setattr(recurrence, "_MAX_ROUNDS", 1)
    monkeypatch.setattr(recurrence, "_SEQUENTIAL_BELOW", 0)
    x = 30000 + np.random.default_rng(2).normal(0, 25, 3000).cumsum()
    expected = loop_recursion(x, 9, "ema")[8:]
    guess = np.full(expected.size, 1.0)
    guess[0] = expected[0]
    settle(guess, x[8:], ema_step(2 / 10))
    assert np.array_equal(guess, expected)


def test_step_functions_are_the_pine_expressions():
    """
    Given a previous value and a new input
    When the ema and rma steps are applied
    Then they give prev + alpha * (x - prev) and (prev * (n - 1) + x) / n
    """
    assert ema_step(0.25)(10.0, 14.0) == 10.0 + 0.25 * (14.0 - 10.0)
    assert rma_step(14)(10.0, 14.0) == (10.0 * 13 + 14.0) / 14


def test_start_guesses_are_close_to_the_recursion():
    """
    Given a random walk and its exact EMA(50)
    When lane-start guesses are made at several bars, early and late
    Then each is within 1e-12 relative of the exact value
    """
    x = 1.1 + np.random.default_rng(4).normal(0, 0.001, 5000).cumsum()
    exact = loop_recursion(x, 50, "ema")[49:]
    at = np.array([0, 7, 300, 1000, 4900])
    guesses = _start_guesses(exact[0], x[49:], 2 / 51, at)
    assert np.allclose(guesses, exact[at], rtol=1e-12, atol=0)


def test_run_ends_point_past_each_run_of_equal_values():
    """
    Given a series with runs of equal values
    When the run ends are computed
    Then each bar points just past the last bar of its run
    """
    x = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    assert _run_ends(x).tolist() == [2, 2, 3, 6, 6, 6]
