Feature: Audit: every journal row follows from the stored candles and the bot's rules
  `python main.py audit` replays data/historical_data.csv through the strategy and the bot's
  rules and checks every row of data/historical_trades.csv: each BUY/SELL came from a signal
  on the candle it names and filled in the next candle, each stop-loss / take-profit row's
  polled price crossed its level, the PnL equals the fills and fees, and no signal was missed
  while the bot ran. It prints matched / explained / unexplained, writes reports/audit.csv,
  and exits 0 only when nothing is unexplained (1 otherwise, 2 on bad input).

  Scenario: A clean run has nothing unexplained
    Given the bot traded sma_rsi on the emulator for 2,000 replayed candles
    When audit runs over its data folder
    Then it exits 0 and the table ends with "unexplained 0"
    And every journal row is matched
    And reports/audit.csv holds every finding

  Scenario Outline: A tampered journal row is named
    Given the bot traded sma_rsi on the emulator for 2,000 replayed candles
    And a copy of its data folder where <change>
    When audit runs over the copy
    Then it exits 1
    And the unexplained finding names journal line <line> with "<words>"

    Examples:
      | change                                                   | line | words                              |
      | the PnL of the first closing SELL is raised by 1 USDT    | 3    | does not equal the fills and fees  |
      | the first BUY names the candle before its signal candle  | 2    | has no signal, not BUY             |
      | the first BUY is filled one candle later                 | 2    | not in the candle after the signal |

  Scenario: A BUY row removed from the journal is a missed signal
    Given the bot traded sma_rsi on the emulator for 2,000 replayed candles
    And a copy of its data folder where the first BUY and its SELL are removed
    When audit runs over the copy
    Then it exits 1
    And the first BUY's signal candle is reported as a missed BUY signal while the bot was running

  Scenario: A signal missed during an outage is explained
    Given the bot traded rsi for 2,000 candles with a 150-minute outage
    When audit runs over its data folder
    Then it exits 0 and the table ends with "unexplained 0"
    And a signal on a candle inside the outage is explained as "while the bot was not running"

  Scenario: Stop-loss and take-profit rows are checked against their levels
    Given the bot traded sma_rsi on the emulator for 2,000 replayed candles
    When audit runs over its data folder
    Then every stop-loss and take-profit row is matched because its polled price crossed its level
    When a copy of its data folder has the first take-profit row's polled price below its level
    And audit runs over the copy
    Then it exits 1
    And the unexplained finding names that row with "below the take-profit level"

  Scenario: A foreign journal gets one clear line
    Given a data folder whose journal has another program's header
    When audit runs over it
    Then it exits 2 with one line on stderr naming the journal and what to do
