Feature: Position manager
  The bot holds at most one long position in BTC/USDT. It buys on a BUY signal when flat,
  sells everything on a SELL signal when long, and protects an open position with a
  stop-loss and a take-profit checked between candles. Every fill is one journal row, and
  a restart resumes where the bot stopped.

  Background:
    Given a bot trading 0.001 BTC with a 2 % stop-loss and a 4 % take-profit
    And an exchange account holding 10000 USDT that charges 0.1 % per fill

  Scenario: Buy when flat
    Given the bot is flat
    When a BUY signal arrives with BTC at 23000 USDT
    Then the bot holds 0.000999 BTC bought at 23000 USDT
    And the trades journal has 1 row
    And trading.log says "2025-02-28 12:01:00 - BUY order placed at 23000.00 USDT (qty 0.001, order 100)"

  Scenario: Ignore a BUY while long
    Given the bot holds a position bought at 23000 USDT
    When a BUY signal arrives with BTC at 23100 USDT
    Then the outcome is "ignored-buy-while-long"
    And the trades journal has 1 row

  Scenario Outline: Signals while flat or long
    Given the bot is <state>
    When a <signal> signal arrives with BTC at 23000 USDT
    Then the outcome is "<outcome>"

    Examples:
      | state                                  | signal | outcome                |
      | flat                                   | BUY    | bought                 |
      | flat                                   | SELL   | nothing                |
      | flat                                   | HOLD   | nothing                |
      | holding a position bought at 23000 USDT | BUY    | ignored-buy-while-long |
      | holding a position bought at 23000 USDT | SELL   | sold                   |
      | holding a position bought at 23000 USDT | HOLD   | nothing                |

  Scenario: Sell on a SELL signal
    Given the bot holds a position bought at 23000 USDT
    When a SELL signal arrives with BTC at 23500 USDT
    Then the bot is flat
    And the last journal row is a sell with exit reason "signal" and PnL 0.4530235 USDT
    And trading.log says "SELL order placed at 23500.00 USDT (qty 0.000999, order 101) PnL +0.45 USDT (signal)"

  Scenario: Stop-loss
    Given the bot holds a position bought at 23000 USDT
    When the price falls to 22540 USDT
    Then the bot is flat
    And the last journal row is a sell with exit reason "stop_loss" and PnL -0.50505746 USDT
    And the last journal row has stop_loss_triggered True and take_profit_triggered False
    And trading.log says "Stop-loss triggered at 22540.00 USDT (entry 23000.00, stop 22540.00)"

  Scenario: Take-profit
    Given the bot holds a position bought at 23000 USDT
    When the price rises to 23920 USDT
    Then the bot is flat
    And the last journal row is a sell with exit reason "take_profit" and PnL 0.87218392 USDT
    And the last journal row has stop_loss_triggered False and take_profit_triggered True

  Scenario: Prices between the levels keep the position
    Given the bot holds a position bought at 23000 USDT
    When the price rises to 23900 USDT
    And the price falls to 22550 USDT
    Then the bot holds 0.000999 BTC bought at 23000 USDT

  Scenario: Restart resumes the open position
    Given the bot holds a position bought at 23000 USDT
    When the bot is restarted
    Then the bot holds 0.000999 BTC bought at 23000 USDT
    And reconcile says "resuming open position: 0.000999 BTC at 23000.00 USDT (stop-loss 22540.00, take-profit 23920.00)"
    When the price rises to 23920 USDT
    Then the bot is flat

  Scenario: Killed right after sending an order
    Given the bot is flat
    When the bot is killed right after sending a BUY order at 23000 USDT
    And the bot is restarted
    Then the bot holds 0.000999 BTC bought at 23000 USDT
    And the trades journal has 1 row

  Scenario: The testnet was wiped while the bot was away
    Given the bot holds a position bought at 23000 USDT
    When the exchange account loses its BTC
    And the bot is restarted
    Then the bot is flat
    And the last journal row is a sell with exit reason "testnet_wipe" and no PnL
