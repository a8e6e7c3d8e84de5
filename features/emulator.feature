Feature: A local Binance Spot exchange for the unchanged ccxt client
  The emulator answers the real ccxt binance class on 127.0.0.1 the way Binance Spot Testnet
  does: same URLs, signatures, number formats, fees and error codes. Its market is generated
  from a seed (or replayed from a candle file) and its clock is the one the test controls, so
  whole trading sessions and exchange failures can be rehearsed offline in seconds.

  Background:
    Given an emulator with a market generated from seed 7
    And a ccxt binance client made for it

  Scenario: Loading markets asks for nothing but the spot exchange info
    When the client loads the markets
    Then the emulator received only "GET /api/v3/exchangeInfo"
    And BTC/USDT has an amount step of 0.00001 and a minimum cost of 5 USDT

  Scenario: The last candle is the one still open
    Given the clock is 30 seconds into a minute
    When the client fetches the last 3 one-minute candles
    Then the last candle opened at the start of the current minute
    And its close is the ticker's last price

  Scenario: A market buy pays its fee in the bought asset
    When the client buys 0.01 BTC at market with client order id "bot-0001"
    Then the order is filled at the ticker's last price
    And the fee is 0.1 % of 0.01 BTC, paid in BTC
    And the BTC balance grew by 0.00999

  Scenario: An order whose answer is lost can be found by its client order id
    Given the emulator will execute the next order but drop its answer
    When the client buys 0.001 BTC at market with client order id "lost-1"
    Then the client saw a network error
    And the order "lost-1" is found filled when looked up by its client order id

  Scenario: Rate limiting tells the client when to come back
    Given the emulator answers the next request with 429 and Retry-After 5 seconds
    When the client fetches the ticker
    Then the client saw DDoSProtection
    And the last response header Retry-After is "5"

  Scenario: A scripted crash shows in the price at once
    Given the price is forced to 20000 USDT from now on
    When the client fetches the ticker
    Then the last price is 20000

  Scenario: Three symbols, each with its own market and rules
    When the client loads the markets
    Then the markets listed are BTC/USDT, ETH/USDT and BNB/USDT
    And the amount steps are 0.00001 for BTC/USDT, 0.0001 for ETH/USDT and 0.001 for BNB/USDT
    And ETH/USDT trades between 1000 and 4000 USDT and BNB/USDT between 150 and 600 USDT

  Scenario: An order on one symbol leaves the others alone
    When the client buys 0.01 ETH at market
    Then the ETH balance grew by 0.00999
    And the BTC and BNB balances are still 1
