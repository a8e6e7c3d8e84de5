Feature: Optimising a strategy's parameters, walking forward and testing for overfitting
  `python main.py optimize` backtests every combination of a parameter grid (or a seeded
  random sample of it) with the same code as `python main.py backtest`, ranks them by one
  Performance Summary metric, and writes every row. A walk-forward analysis re-optimises on
  each train part and trades the winner on the test part after it; the Probability of
  Backtest Overfitting (CSCV) says how often the in-sample winner is no better than the median
  out of sample. Bad input is refused with one line before anything is written.

  Background:
    Given 3000 one-minute candles

  Scenario: A grid sweep ranks every accepted combination and names the winner
    When I optimize ma2line over MA_FAST=4:12:4 and MA_SLOW=8:24:8
    Then the command succeeds
    And results.csv holds 7 rows sorted by Net Profit, best first
    And 2 combinations were rejected by the strategy
    And best.json and the .env lines name the first row's parameters
    And a heat map is drawn

  Scenario: Every row is the backtest of its parameters
    When I optimize ma2line over MA_FAST=4:12:4 and MA_SLOW=8:24:8
    Then the first and the last row equal `main.py backtest` of their parameters bit for bit

  Scenario: A grid of more than 100,000 combinations needs random sampling
    When I optimize ma2line over MA_FAST=1:500:1 and MA_SLOW=1:500:1
    Then the command fails with exit 2 and one line saying "more than 100,000"

  Scenario: Running again with the same folder resumes
    When I optimize ma2line over MA_FAST=4:12:4 and MA_SLOW=8:24:8
    And I optimize ma2line over MA_FAST=4:16:4 and MA_SLOW=8:24:8
    Then the second run reports 7 combinations done before
    And results.csv holds 8 rows sorted by Net Profit, best first

  Scenario: Walk-forward trades each window's in-sample winner out of sample
    When I walk forward ma2line over MA_FAST=3:9:3 and MA_SLOW=12:36:12 with train 8h and test 4h
    Then the command succeeds
    And walk_forward.csv has one row per window with the chosen parameters
    And the stitched out-of-sample report and the equity chart are written

  Scenario: A planted edge is not mistaken for overfitting
    Given candles following a steady price cycle
    When I optimize ma2line over MA_FAST=2:20:3 and MA_SLOW=10:100:15 with --pbo
    Then the PBO is at most 0.05
    And the logit histogram is printed and drawn
