Feature: The local exchange remembers its account when the bot starts again
  Spot Testnet keeps balances, orders and trades between two runs of the bot. The local
  emulator does the same through a state file, saved after every order, so a bot killed and
  started again finds its open position and its orders where it left them.

  Scenario: A position bought before a restart is still there after it
    Given a local exchange saving its state to emulator_state.json
    And the bot bought 0.01 BTC with client order id "bot-entry-1"
    When the bot process is killed and the local exchange is started again from emulator_state.json
    Then the exchange's clock resumes where it stopped
    And the BTC balance still includes the 0.00999 BTC bought
    And the order "bot-entry-1" is found by its client order id, filled
    And a new order gets an order id never used before

  Scenario: A damaged state file is kept aside and the exchange starts afresh
    Given emulator_state.json holds half a JSON document
    When the local exchange is started again from emulator_state.json
    Then it refuses the file in one line saying where the damaged copy was kept
    And the damaged bytes are kept next to it
    And the exchange has the default balances of 1 BTC, 1 ETH, 1 BNB and 10000 USDT
