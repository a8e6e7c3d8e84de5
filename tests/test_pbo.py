"""PBO by CSCV: the statistic itself, and the two cases the paper describes."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.engine import FillRules
from research.grid import plan
from research.pbo import PBOError, cscv, period_marks, text_histogram
from research.sweep import Evaluator, SweepSpec, accepts
from strategies.registry import get_strategy
from tests.optimize_support import random_walk_candles

NO_COSTS = FillRules(mode="long-short", commission=0.0, stop_loss=None, take_profit=None)
GRID = {"MA_FAST": [2, 5, 8, 11, 14, 17, 20], "MA_SLOW": [10, 25, 40, 55, 70, 85, 100]}


def sweep_pnl(candles, partitions: int) -> np.ndarray:
    """Per-period P&L (periods x combos) of the ma2line grid on ``candles``, without costs."""
    marks, _ = period_marks(len(candles), partitions)
    spec = SweepSpec("ma2line", get_strategy("ma2line").params(), NO_COSTS, 10_000.0,
                     marks=marks)
    combos = plan(GRID, accepts(spec)).combos
    evaluator = Evaluator(candles, spec)
    return np.column_stack([evaluator.evaluate(c).period_pnl for c in combos])


def test_a_grid_without_edge_on_random_walks_overfits_about_half_the_time():
    """
    Given driftless random-walk candles (six seeds) and a 40-combination SMA-cross grid
    When PBO is estimated by CSCV on each
    Then the mean PBO is near or above 0.5 (at least 0.4)
    """
    values = [cscv(sweep_pnl(random_walk_candles(2000, seed), 10), 10).pbo
              for seed in range(6)]
    assert np.mean(values) >= 0.4, values


def test_cscv_ranks_the_in_sample_winner_out_of_sample():
    """
    Given 4 combos over 8 blocks where combo 2 earns most in every block, and noise matrices
    When CSCV runs on each
    Then the first has PBO 0 with the winner ranked top (logit ln(4)), noise about 0.5 on
      average over twelve draws
    """
    rng = np.random.default_rng(3)
    pnl = rng.normal(0, 1, (64, 4))
    pnl[:, 2] += 3.0
    steady = cscv(pnl, 8)
    assert steady.pbo == 0.0 and steady.splits == 70
    assert np.allclose(steady.logits, np.log(4 / 5 / (1 / 5)))
    noise = [cscv(np.random.default_rng(seed).normal(0, 1, (400, 60)), 8) for seed in range(12)]
    assert 0.35 <= np.mean([r.pbo for r in noise]) <= 0.65
    assert any("#" in line for line in text_histogram(noise[0].logits))


def test_period_marks_and_bad_partitions():
    """
    Given 1,000 bars and 16 partitions, and impossible settings
    When period marks are made
    Then they are 16 x 31 equal periods ending on the last bar, and bad settings are refused
    """
    marks, dropped = period_marks(1000, 16)
    assert len(marks) == 16 * 31 and marks[-1] == 999 and dropped == 1000 - 496 * 2
    with pytest.raises(PBOError, match="even number"):
        period_marks(1000, 7)
    with pytest.raises(PBOError, match="too few"):
        period_marks(20, 16)
    with pytest.raises(PBOError, match="at least 2 combinations"):
        cscv(np.zeros((64, 1)), 8)
