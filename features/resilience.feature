Feature: The bot survives crashes and exchange faults without losing or doubling a record
  A paper-trading bot runs for days. It is killed by the OOM killer, a reboot or a Ctrl+\,
  and the exchange goes down, throttles it, rejects its clock or loses an order's answer. None
  of that may lose a fill, journal one twice, store a candle twice or buy twice. The crash
  scenario runs the real processes (a standalone emulator and the bot, killed with SIGKILL);
  the fault scenarios run the whole bot in-process against the emulator on a paced clock.
  The crash scenario is the 30-kill proof (CRASH_TEST_SEED=N replays one, CRASH_TEST_KILLS=N
  changes the count).

  Scenario: Killed and restarted, the bot loses nothing and writes nothing twice
    Given a standalone emulator at 600x with the bot trading on it
    When the bot is killed with SIGKILL 30 times, first right after an order executes, after a fill, a journal write, a candle write and a state save, then at drawn moments, and restarted each time
    And the bot runs once more to a clean stop
    Then every fill of the emulator is in the trades journal exactly once
    And the candle file holds every candle once, without a partial row
    And no order is pending and the bot's position equals the BTC the emulator credited it
    And every order caught in flight was found on restart and journaled
    And the bot logged no error

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

  Scenario: Exchange order ids that start again never hide a fill
    Given the bot running on the emulator
    When the bot has bought and sold, and the exchange then restarts with its order ids from 1
    And the bot buys and sells again, on order ids it has journaled before
    Then every fill from before and after the restart is in the trades journal once
    And the journal refused no row

  Scenario: A stall longer than the candle window leaves no gap in the candle file
    Given the bot running on the emulator
    When the bot is frozen for 300 candles, longer than its 200-candle window
    Then its next cycle back-fills the 100 candles the window no longer holds and logs it
    And the log says 300 candles closed since the last cycle
    And the candle file holds every candle once, with no gap

  Scenario: A time from the future is refused at start, with the fix
    Given a data folder whose state says the last candle was in 2100, and one whose candle file ends in 2100
    When the bot starts on each folder
    Then each stops with exit 2 and one line naming the file, the year 2100 and the fix
    And no file in those folders was changed

  Scenario: A real-time run on a built-in exchange saved ahead by a fast run is refused
    Given a data folder whose built-in exchange a fast run saved 3 hours ahead of real time
    When the bot starts on each folder
    Then each stops with exit 2 and one line saying it is 3h ahead, with the two ways on
    And no file in those folders was changed

  Scenario: Bad numbers in the state file are refused and the file kept aside
    Given data folders whose state holds a NaN quantity, an infinite entry price and a negative entry price
    When the bot starts on each folder
    Then each stops with exit 2 and one line naming the bad value
    And each state file was kept aside as state.json.corrupt-<stamp>

  Scenario: A failure that cannot heal stops the bot instead of looping
    Given the bot running on the emulator
    When its candle file is replaced by a folder, with 50 candles still to go
    Then the bot stops with exit 1 after 5 identical failed cycles, naming the cause in one line
    And errors.log holds that traceback once and counts the repeats

  Scenario: An interval the exchange refuses stops the bot at the first try
    Given the bot running on the emulator
    When the exchange refuses the bot's candle interval, with 50 candles still to go
    Then the bot stops with exit 2 after one cycle, saying to check TIMEFRAME

  Scenario: A disk that fills up during a journal write leaves whole rows only
    Given a trades journal whose disk fills up in the middle of the next row (a file-size limit)
    When a sell fill is journaled and the write fails, and is journaled again once there is room
    Then the failed write left the journal byte for byte as it was
    And after the retry the journal holds both fills as whole rows, with no merged line

  Scenario: A full disk does not stop the stop-loss
    Given a long position on a small disk of its own that holds the disk reserve
    When the disk fills up completely and the price falls through the stop-loss
    Then the position is sold and journaled, using the space the reserve freed
    And no new position is opened until there is room for the reserve again
