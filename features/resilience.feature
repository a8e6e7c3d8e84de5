Feature: The bot survives crashes and exchange faults without losing or doubling a record
  A paper-trading bot runs for days. It is killed by the OOM killer, a reboot or a Ctrl+\,
  and the exchange goes down, throttles it, rejects its clock or loses an order's answer. None
  of that may lose a fill, journal one twice, store a candle twice or buy twice. The crash
  scenario runs the real processes (a standalone emulator and the bot, killed with SIGKILL);
  the fault scenarios run the whole bot in-process against the emulator on a paced clock.
  The 30-kill proof is tests/test_resilience_crash.py.

  Scenario: Killed and restarted, the bot loses nothing and writes nothing twice
    Given a standalone emulator at 600x with the bot trading on it
    When the bot is killed with SIGKILL 5 times, right after an order executes, after a fill, a journal write, a candle write and a state save, and restarted each time
    And the bot runs once more to a clean stop
    Then every fill of the emulator is in the trades journal exactly once
    And the candle file holds every candle once, without a partial row
    And no order is pending and the bot's position equals the BTC the emulator credited it

  Scenario: A 10-minute outage is survived
    Given the bot running on the emulator with a position open
    When the exchange drops every connection for 10 minutes
    Then the cycles during the outage are skipped and errors.log has their stack traces
    And the bot processes the candles after the outage
    And the journals match the exchange

  Scenario: A rate limit is honoured
    Given the bot running on the emulator
    When the exchange answers 429 with Retry-After 45 seconds
    Then the bot's next request comes at least 45 seconds later on the clock
    And the bot processes the candles after it
    And the journals match the exchange

  Scenario: An order whose answer is lost is not sent twice
    Given the bot running on the emulator
    When its next order executes but the answer never arrives
    Then the exchange holds exactly one order and one fill with that client order id
    And the trades journal holds exactly one row of it
    And the bot trades again later
    And the journals match the exchange

  Scenario: A testnet wipe while a position is open is closed on record
    Given the bot running on the emulator with a position open
    When the testnet is wiped, re-issuing 1 BTC and 10000 USDT
    Then the trades journal gets one testnet_wipe row without PnL instead of a sell
    And the bot is flat
    And the bot trades again later
    And the journals match the exchange

  Scenario: A second bot on the same data folder is refused
    Given a bot process running on a data folder
    When a second bot starts on the same data folder
    Then the second bot exits 2 with one line naming the first bot's PID
    And the first bot stops cleanly with its candle file holding every candle once
