Feature: Stop entries, OCA groups, percent-of-equity sizing and the intraday loss stop
  Strategies such as Bollinger Bands, Keltner Channels and ChannelBreakOut arm stop entries
  instead of buying at the next open. The backtester fills them as TradingView's broker
  emulator does: an order placed on a candle's close is active from the next candle; a buy stop
  fills when the price reaches its level, at the level, or at the open when the candle opens
  above it (a sell stop mirrors it); a new order with the same id replaces the pending one; a
  cancel removes it; orders in one OCA cancel group cancel each other when one fills; the
  opposite entry reverses the position in one order.

  Background:
    Given a long-short order backtest of 1 contract with a tick of 0.01

  Scenario: A buy stop fills at its level
    Given these candles and orders
      | open | high  | low  | close | order          |
      | 100  | 100.5 | 99.5 | 100   | buy stop 101   |
      | 100  | 100.8 | 99.6 | 100.2 | -              |
      | 100  | 102   | 99.8 | 101.5 | -              |
      | 101  | 101.5 | 100  | 101   | -              |
    When the orders are run
    Then trade 1 enters long at 101 on candle 3

  Scenario: A buy stop fills at the open when the candle gaps above it
    Given these candles and orders
      | open | high | low  | close | order        |
      | 100  | 100  | 99.5 | 100   | buy stop 101 |
      | 103  | 104  | 102  | 103.5 | -            |
      | 103  | 103  | 103  | 103   | -            |
    When the orders are run
    Then trade 1 enters long at 103 on candle 2

  Scenario: An off-grid stop level is rounded to the tick, a buy stop up
    Given these candles and orders
      | open | high  | low  | close | order            |
      | 100  | 100.5 | 99.5 | 100   | buy stop 100.501 |
      | 100  | 100.6 | 99.5 | 100.5 | -                |
      | 100  | 100   | 100  | 100   | -                |
    When the orders are run
    Then trade 1 enters long at 100.51 on candle 2

  Scenario: A new order with the same id replaces the pending one
    Given these candles and orders
      | open | high | low  | close | order        |
      | 100  | 100  | 99.5 | 100   | buy stop 105 |
      | 100  | 100  | 99.5 | 100   | buy stop 101 |
      | 100  | 102  | 99.8 | 101.5 | -            |
      | 101  | 106  | 101  | 105   | -            |
    When the orders are run
    Then trade 1 enters long at 101 on candle 3
    And there is 1 trade

  Scenario: A cancelled stop never fills
    Given these candles and orders
      | open | high | low  | close | order        |
      | 100  | 100  | 99.5 | 100   | buy stop 101 |
      | 100  | 100  | 99.5 | 100   | cancel buy   |
      | 100  | 102  | 99.8 | 101.5 | -            |
    When the orders are run
    Then there are 0 trades

  Scenario: The first stop of an OCA cancel group to fill cancels the other
    # The high is nearer the open, so the path is open, high, low, close: 101 comes first.
    Given the orders are one OCA cancel group
    And these candles and orders
      | open | high | low | close | order                      |
      | 100  | 100  | 100 | 100   | buy stop 101, sell stop 99 |
      | 100  | 102  | 97  | 101   | -                          |
      | 101  | 101  | 101 | 101   | -                          |
    When the orders are run
    Then trade 1 enters long at 101 on candle 2
    And there is 1 trade

  Scenario: The opposite stop reverses the position at its level
    Given these candles and orders
      | open | high | low  | close | order        |
      | 100  | 100  | 100  | 100   | buy          |
      | 100  | 100  | 100  | 100   | sell stop 99 |
      | 100  | 100  | 98   | 98.5  | -            |
      | 98.5 | 98.5 | 98.5 | 98.5  | -            |
    When the orders are run
    Then trade 1 enters long at 100 on candle 2
    And trade 1 exits at 99 on candle 3 by signal
    And trade 2 enters short at 99 on candle 3

  Scenario: Percent-of-equity sizing uses the equity at the signal candle's close
    # 10 % of 10,000 at 100 is 10; then 10 % of 10,000 + 10 x 20 open profit at 120 is 8.5.
    Given orders sized at 10 % of equity in lots of 0.1 on a capital of 10000
    And these candles and orders
      | open | high | low | close | order |
      | 100  | 100  | 100 | 100   | buy   |
      | 100  | 100  | 100 | 120   | sell  |
      | 120  | 120  | 120 | 120   | -     |
    When the orders are run
    Then trade 1 holds 10 contracts
    And trade 2 holds 8.5 contracts

  Scenario: The max intraday loss closes the position and stops trading for the day
    Given a max intraday loss of 1 % of equity and orders of 10 contracts on a capital of 1000
    And these candles and orders
      | open | high | low | close | order |
      | 100  | 100  | 100 | 100   | buy   |
      | 100  | 100  | 98  | 98.5  | -     |
      | 98.5 | 99   | 98  | 98.5  | buy   |
      | 98.5 | 99   | 98  | 99    | -     |
    When the orders are run
    Then trade 1 exits at 98.5 on candle 2 by max_intraday_loss
    And there is 1 trade
