Feature: Replays that say what they do
  `python main.py --replay FILE` trades a candle file through the built-in exchange. A replay
  that cannot work stops at once with one line naming the cause and the fix; one that works
  takes the file's timeframe, trades it to its last candle, says so and exits 0. The bot runs
  in-process at --speed max in a fresh folder, with HISTORY_CANDLES=60.

  Scenario: A replay takes the file's timeframe and stops at the file's end
    Given a replay file day.csv of 75 five-minute candles
    And TIMEFRAME is not set
    When I run "--speed max --replay day.csv"
    Then the bot exits with status 0
    And the log says "Replay of day.csv finished: its last candle (2024-01-01 06:10 UTC) is processed"
    And the stored candles are 5 minutes apart and end with the file's last candle
    And no stored candle is flat with zero volume

  Scenario: A replay into a folder holding newer candles stops at once naming --data-dir
    Given a replay file day.csv of 75 five-minute candles
    And the data folder already holds a candle of 2026-01-01
    When I run "--speed max --max-candles 5 --replay day.csv"
    Then the bot exits with status 2 at once
    And it says "already holds candles up to 2026-01-01 00:00 UTC" and "add --data-dir" in one line

  Scenario: A replay of another timeframe than TIMEFRAME stops at once naming TIMEFRAME
    Given a replay file day.csv of 75 five-minute candles
    And TIMEFRAME=1m is set
    When I run "--speed max --replay day.csv"
    Then the bot exits with status 2 at once
    And it says "holds 5m candles but TIMEFRAME=1m; set TIMEFRAME=5m" in one line

  Scenario: A flag keeps a generated market going after the file's end
    Given a replay file day.csv of 75 five-minute candles
    And TIMEFRAME is not set
    When I run "--speed max --max-candles 20 --continue-generated --replay day.csv"
    Then the bot exits with status 0
    And 4 candles after the file's last one are stored, each with volume
