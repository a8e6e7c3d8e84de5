Feature: The paper-trading bot end to end
  The whole bot runs against the built-in Binance emulator through the real ccxt client, on a
  simulated clock: it waits for each candle to close, stores it, computes the strategy's signal,
  trades, and watches stop-loss and take-profit between closes.

  Background:
    Given the bot trades BTC/USDT 1m on the local emulator with the "ma2line" strategy

  Scenario: Trades appear when signals occur
    When the bot runs for 120 closed candles
    Then the bot processed 120 closed candles
    And the trades journal has at least 4 rows
    And every fill on the exchange is journaled exactly once
    And the candle file holds every timestamp once without gaps

  Scenario: Stop-Loss triggered as expected
    Given the bot holds a long position
    When the price falls 3 % below the entry price
    Then the position is closed by a market sell
    And the last journal row says "stop_loss" with a negative PnL

  Scenario: Take-Profit triggered as expected
    Given the bot holds a long position
    When the price rises 5 % above the entry price
    Then the position is closed by a market sell
    And the last journal row says "take_profit" with a positive PnL

  Scenario: Candles are stored without duplicates across a restart
    When the bot runs for 40 closed candles
    And the bot is restarted and runs for 40 closed candles
    Then the candle file holds every timestamp once without gaps

  Scenario: An API outage mid-run is survived
    When the bot runs for 30 closed candles
    And the exchange is unreachable for 10 minutes while the bot runs 30 more candles
    Then trading.log says "Cycle skipped"
    And at least 1 cycle was skipped
    And errors.log holds a stack trace
    And the bot processed 60 closed candles

  Scenario: A restart with an open position resumes it and still applies its stop-loss
    Given the bot holds a long position
    When the bot is restarted
    And the price falls 3 % below the entry price
    Then the position is closed by a market sell
    And the last journal row says "stop_loss" with a negative PnL
    And every fill on the exchange is journaled exactly once

  Scenario: SIGTERM stops the bot cleanly
    Given a bot process trading on the local exchange in near real time
    When it receives SIGTERM
    Then it exits with status 0 within 5 seconds
    And the last line of trading.log is the one-line summary
