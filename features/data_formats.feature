Feature: A user's own candle files, in the layouts the tools they come from write
  Every command that reads candles (backtest, signals, compare, optimize, the bot's --replay,
  emulator --replay and import) reads them through one reader: the project's CSV, TradingView
  chart exports, freqtrade's feather and json files, Binance's public kline CSVs (headerless,
  12 columns, in milliseconds or microseconds) and Date,Open,High,Low,Close,Volume files with
  ISO dates, "," or ";" delimited. Whatever the reader cannot take for sure gets one line.

  Scenario Outline: import writes the project's CSV from <layout>
    Given 60 five-minute candles written as <layout>
    When I run "import <file> --out mine.csv"
    Then the command exits with status 0
    And mine.csv holds the same 60 candles in the project's CSV
    And the summary says "60 5m candles (<kind>)"

    Examples:
      | layout                                         | file                   | kind                                |
      | a TradingView chart export in Unix seconds     | chart.csv              | TradingView chart export            |
      | a TradingView chart export with New York times | chart_ny.csv           | TradingView chart export            |
      | a freqtrade json file                          | BTC_USDT-5m.json       | freqtrade json                      |
      | a freqtrade feather file                       | BTC_USDT-5m.feather    | freqtrade feather                   |
      | a Binance kline CSV in milliseconds            | BTCUSDT-5m-2024-01.csv | Binance kline CSV                   |
      | a Binance kline CSV in microseconds            | BTCUSDT-5m-2025-01.csv | Binance kline CSV                   |
      | a Date,Open,High,Low,Close,Volume CSV          | yahoo.csv              | Date,Open,High,Low,Close,Volume CSV |
      | a semicolon CSV with decimal commas            | excel.csv              | Date,Open,High,Low,Close,Volume CSV |

  Scenario Outline: <command> reads a TradingView chart export as it reads the project's CSV
    Given 300 five-minute candles written as the project's CSV
    And the same candles written as a TradingView chart export in Unix seconds
    When I run "<command>" on each of the two files
    Then both runs exit with status 0 and print the same figures

    Examples:
      | command                     |
      | signals --strategy ma2line  |
      | backtest --strategy ma2line |

  Scenario: The emulator replays a Binance kline file
    Given 300 five-minute candles written as a Binance kline CSV in microseconds
    When the emulator is set up with "--replay BTCUSDT-5m-2025-01.csv --history 100"
    Then its market serves those candles on the 5-minute grid from candle 100 on

  Scenario: An unknown layout is refused in one line
    Given a file bad.csv holding "name,value" and "a,1"
    When I run "signals --data bad.csv"
    Then the command exits with status 2
    And it says "unknown candle layout" in one line

  Scenario: Candles of two timeframes in one file are refused in one line
    Given 60 one-minute candles followed by 30 five-minute candles in mixed.csv
    When I run "backtest --data mixed.csv"
    Then the command exits with status 2
    And it says "mixed timeframes: most candles are 1m apart" in one line

  Scenario: Gaps are read, and named in one note line
    Given 300 five-minute candles written as the project's CSV
    And candles 100 to 111 are cut out of candles.csv
    When I run "signals --data candles.csv --strategy ma2line"
    Then the command exits with status 0
    And it says "1 gap(s) in the 5m candles, 12 candle(s) missing" in one note line

  Scenario: import never overwrites a file unasked
    Given 60 five-minute candles written as a freqtrade json file
    And a file mine.csv holding "keep" and "me"
    When I run "import BTC_USDT-5m.json --out mine.csv"
    Then the command exits with status 2
    And it says "mine.csv exists; pick another --out or add --force" in one line
    And mine.csv still holds "keep"

  Scenario: Part of a file, with the indicators warmed up on the candles before it
    Given 300 five-minute candles written as the project's CSV
    When I run "signals --data candles.csv --strategy macd --from 2024-01-01T10:00 --to 2024-01-01T20:00 --out part.csv"
    Then the command exits with status 0
    And part.csv holds the 120 candles from 10:00 to 19:55 with the whole file's MACD values

  Scenario: A range outside the file is refused in one line
    Given 300 five-minute candles written as the project's CSV
    When I run "backtest --data candles.csv --from 2030-01-01 --out bt"
    Then the command exits with status 2
    And it says "no candle opens from 2030-01-01 00:00 UTC to the file's end" in one line
