Feature: Backtesting signals with TradingView's order fills
  The backtester replays a strategy's signals over stored candles the way TradingView's
  broker emulator fills orders: a signal fills at the next candle's open; the stop-loss and
  take-profit levels are checked inside every candle from the entry on, along the assumed
  price path, and fill at the level, or at the open when a candle gaps through it. Commission
  is charged on both sides, and a position still open when the data ends is reported open,
  marked to the last close.

  Background:
    Given a long-only backtest of 1 BTC with a 2 % stop-loss and a 4 % take-profit

  Scenario: A BUY signal fills at the next candle's open
    Given these candles and signals
      | open | high  | low   | close | signal |
      | 100  | 100.5 | 99.5  | 100   | BUY    |
      | 101  | 101.5 | 100.5 | 101   | HOLD   |
      | 101  | 102   | 100.8 | 101.5 | SELL   |
      | 102  | 102.5 | 101.5 | 102   | HOLD   |
    When the backtest runs
    Then trade 1 enters long at 101 on candle 2
    And trade 1 exits at 102 on candle 4 by signal

  Scenario: The stop-loss fills at its level inside a candle
    Given these candles and signals
      | open | high  | low  | close | signal |
      | 100  | 100.5 | 99.5 | 100   | BUY    |
      | 100  | 100.5 | 99.5 | 100   | HOLD   |
      | 99.5 | 99.8  | 97   | 98.5  | HOLD   |
      | 98.5 | 99    | 98   | 98.5  | HOLD   |
    When the backtest runs
    Then trade 1 exits at 98 on candle 3 by stop-loss

  Scenario: The take-profit fills at its level inside a candle
    Given these candles and signals
      | open | high  | low   | close | signal |
      | 100  | 100.5 | 99.5  | 100   | BUY    |
      | 100  | 100.5 | 99.5  | 100   | HOLD   |
      | 101  | 105   | 100.5 | 104.5 | HOLD   |
      | 104  | 104.5 | 103   | 104   | HOLD   |
    When the backtest runs
    Then trade 1 exits at 104 on candle 3 by take-profit

  Scenario Outline: A candle reaching both levels follows TradingView's price path
    Given these candles and signals
      | open   | high  | low   | close | signal |
      | 100    | 100.5 | 99.5  | 100   | BUY    |
      | 100    | 100.5 | 99.5  | 100   | HOLD   |
      | <open> | 105   | 97    | 100   | HOLD   |
    When the backtest runs
    Then trade 1 exits at <price> on candle 3 by <reason>

    Examples:
      | open  | price | reason      |
      | 102   | 104   | take-profit |
      | 99.5  | 98    | stop-loss   |
      | 101   | 98    | stop-loss   |

  Scenario: A candle gapping through the stop fills at its open
    Given these candles and signals
      | open | high  | low  | close | signal |
      | 100  | 100.5 | 99.5 | 100   | BUY    |
      | 100  | 100.5 | 99.5 | 100   | HOLD   |
      | 95   | 96    | 94   | 95.5  | HOLD   |
    When the backtest runs
    Then trade 1 exits at 95 on candle 3 by stop-loss

  Scenario: Commission is charged on the entry and on the exit
    Given a commission of 0.1 % per side
    And these candles and signals
      | open | high | low  | close | signal |
      | 100  | 101  | 99   | 100   | BUY    |
      | 100  | 102  | 99.5 | 101   | HOLD   |
      | 101  | 103  | 100  | 102   | SELL   |
      | 103  | 103  | 102  | 102.5 | HOLD   |
    When the backtest runs
    Then trade 1 pays 0.203 USDT commission for a net P&L of 2.797 USDT
    And the report's Commission Paid is 0.203 USDT

  Scenario: A position still open at the end is reported open at the last close
    Given these candles and signals
      | open | high | low | close | signal |
      | 100  | 101  | 99  | 100   | BUY    |
      | 100  | 102  | 99  | 101   | HOLD   |
      | 101  | 103  | 100 | 102.5 | HOLD   |
    When the backtest runs
    Then trade 1 is open, marked to 102.5 on candle 3
    And the report shows 0 closed trades, 1 open trade and an Open PL of 2.5 USDT
    And the trade list's exit row of trade 1 says Open
