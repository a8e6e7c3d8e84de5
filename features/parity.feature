Feature: Live trading and backtesting agree
  A backtest is only worth something if it predicts what the bot does. One candle file is
  replayed by the emulator with the whole bot trading on it, and backtested with the same
  strategy, parameters, stop-loss and take-profit: both take the same trades, except for
  stop-loss / take-profit exits that the bot's price polling could not see inside a candle.

  Scenario: The bot and the backtester take the same trades on the same candles
    Given a candle file of 800 one-minute candles generated with seed 4
    When the bot trades it on the emulator and the backtester runs on it with the same rules
    Then the bot stored exactly the candles of the file
    And each trade enters in the candle after its signal, at the open for the backtester and 2 s later for the bot
    And every trade exits in the same candle for the same reason, or by a stop or target the bot's polls never saw
    And at least 12 trades agree, with signal exits and stop-loss or take-profit exits among them

  Scenario: A stop the bot's polls never saw is allowed, then both agree again
    Given the backtester stopped out in candle 4, whose low 99.5 went under its stop 99.6
    And the bot's four polls in candle 4 all stayed at 99.8, and it sold on a signal in candle 6
    And both sides later bought in candle 8 and sold in candle 9
    When the two trade lists are compared
    Then the stop in candle 4 is explained by the unseen extreme
    And the trades from candle 8 on match again

  Scenario: A stop the bot saw but did not act on is a failure
    Given the backtester stopped out in candle 4
    And one of the bot's polls in candle 4 was below the bot's own stop, yet it held on
    When the two trade lists are compared
    Then the difference is reported as unexplained
