Feature: Exchange access that survives a flaky exchange
  The bot reads candles, prices and balances through a retry policy (3 attempts, waits of
  1 s then 2 s, longer when the exchange says Retry-After), skips a cycle instead of crashing
  or trading on bad data, and never buys twice when the answer to an order is lost.

  Background:
    Given the local exchange emulator trading BTC/USDT on 1-minute candles
    And the bot's exchange client with 3 attempts

  Scenario: A short burst of server errors is retried away
    Given the exchange answers the next 2 requests with HTTP 500
    When the bot fetches the last 20 closed candles
    Then it gets 20 closed candles
    And the still-open candle is not among them

  Scenario: A long outage skips the cycle and logs the error with its stack trace
    Given the exchange is down for 1 hour
    When the bot fetches the last 20 closed candles
    Then the cycle is skipped because the exchange is unavailable
    And trading.log says the cycle is skipped
    And errors.log holds the failure with its stack trace
    And 3 seconds passed on the bot's clock

  Scenario: A rate limit is waited out for as long as the exchange asks
    Given the exchange answers the next request with 429 and Retry-After 45 seconds
    When the bot reads the last price
    Then it gets a price
    And at least 45 seconds passed on the bot's clock

  Scenario: A clock error is healed by resynchronising with the server
    Given the exchange refuses the next signed request with -1021
    When the bot reads its free USDT balance
    Then it gets 10000 USDT
    And the client asked the server time before retrying

  Scenario: An order whose answer is lost is looked up, not bought again
    Given the exchange fills the next order but drops the connection
    When the bot buys 0.001 BTC with client order id "bot-feature-1"
    Then the bot gets a fill of 0.001 BTC for "bot-feature-1"
    And the exchange made exactly 1 fill and received 1 order request

  Scenario: Insufficient funds are rejected, not retried
    When the bot tries to buy 1 BTC with client order id "bot-feature-2"
    Then the order is rejected for insufficient funds
    And the exchange made no fill and received 1 order request

  Scenario Outline: A bad closed candle in the reply skips the cycle
    Given the exchange's reply has <defect> in its 3rd candle
    When the bot fetches the last 20 closed candles
    Then the cycle is skipped naming candle 3 and "<reason>"

    Examples:
      | defect           | reason                          |
      | a missing row    | the candle is missing (None)    |
      | no high          | high is missing (None)          |
      | a NaN low        | missing (NaN)                   |
      | a zero open      | a price is zero or negative     |
      | high below low   | high is below low               |
      | close above high | close is outside [low, high]    |
      | a repeated time  | timestamp is not after          |
