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

  Scenario: The order book and book ticker sit on the market's price
    When a plain HTTP client asks for the BTCUSDT depth of 5 levels and the book ticker
    Then the best bid and the best ask are both the ticker's last price
    And each side lists 5 levels one tick apart

  Scenario: Every answer reports the request weight used
    When a plain HTTP client asks for ping, then exchangeInfo
    Then the X-MBX-USED-WEIGHT-1M headers read 1, then 21

  Scenario: Past the weight limit the emulator answers 429, then bans with 418
    Given an emulator allowing 10 request weight per minute and banning after 2 refusals
    When a plain HTTP client asks for exchangeInfo 3 times
    Then the answers are 429, 429 and 418, each with a Retry-After header
    And the 418 says the IP is banned until a time 120 seconds ahead

  Scenario: Zero amounts are written with fixed decimals
    When the client buys 0.001 BTC at market with client order id "zero-1"
    Then the raw order answer's price is "0.00000000"

  Scenario: A quantity in scientific notation is refused as Binance refuses it
    When a plain HTTP client sends a market buy of quantity "9e-05"
    Then the answer is -1100 "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\.[0-9]{1,20})?$'."

  Scenario: A stop-loss order waits for the market path, then sells
    Given the price will fall from 30000 to 29000 over the next minutes
    When the client places a stop-loss sell of 0.01 BTC at 29500
    Then the order is open and not working yet
    When the clock passes the fall
    Then the order is filled near 29500

  Scenario: A standalone emulator restarted with --state continues its ids and balances
    Given a standalone emulator keeping its state in a file
    When it fills an order and is restarted on the same file
    Then the next order gets the following order id
    And the BTC balance is the one before the restart
