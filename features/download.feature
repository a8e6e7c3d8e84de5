Feature: Downloading candle history into a file that a rerun resumes
  `python main.py download` pages through the exchange's candles 1000 at a time, writes only
  closed candles to a candle CSV, starts after the file's last row when the file exists, passes
  over stretches in which the exchange has no candles, and stops cleanly, saying how far it
  got, when the exchange stays down. Run against the local emulator on 127.0.0.1 with the real
  ccxt client; the emulator's clock stands 5,000 one-minute candles after 2024-01-01.

  Background:
    Given the local exchange emulator with 5000 closed one-minute BTC/USDT candles since 2024-01-01

  Scenario: A fresh download writes every closed candle once
    When I run "download --since 2024-01-01 --until 2024-01-03 --out btc.csv"
    Then the command exits with status 0
    And btc.csv holds 2880 candles from 2024-01-01 00:00 UTC to 2024-01-02 23:59 UTC, one minute apart
    And the summary says "wrote 2,880 closed BTC/USDT 1m candles"

  Scenario: A rerun resumes after the last row without duplicates
    Given btc.csv was downloaded until 2024-01-02
    When I run "download --since 2024-01-01 --until 2024-01-03 --out btc.csv"
    Then the command exits with status 0
    And the first candle asked for opens at 2024-01-02 00:00 UTC
    And btc.csv holds 2880 candles from 2024-01-01 00:00 UTC to 2024-01-02 23:59 UTC, one minute apart
    And the summary says "resumed after the file's last row (2024-01-01 23:59 UTC)"

  Scenario: An outage mid-way stops the download, and a rerun finishes it
    Given the exchange goes down for an hour once 2 pages are written
    When I run "download --since 2024-01-01 --until 2024-01-03 --out btc.csv"
    Then the command exits with status 1
    And it says "wrote 2,000 candles up to 2024-01-02 09:19 UTC"
    And it says "Run the same command again to resume"
    And btc.csv holds 2000 candles from 2024-01-01 00:00 UTC to 2024-01-02 09:19 UTC, one minute apart
    When the outage is over
    And I run "download --since 2024-01-01 --until 2024-01-03 --out btc.csv"
    Then the command exits with status 0
    And btc.csv holds 2880 candles from 2024-01-01 00:00 UTC to 2024-01-02 23:59 UTC, one minute apart

  Scenario: A bad date is refused in one line
    When I run "download --since 2024-13-01 --out btc.csv"
    Then the command exits with status 2
    And it says "--since '2024-13-01' is not a date; use YYYY-MM-DD"
    And btc.csv does not exist

  Scenario: Candles from an emulator are labelled before anything else
    When I run "download --since 2024-01-01 --until 2024-01-02 --out btc.csv"
    Then the command exits with status 0
    And the first line it prints says "these candles come from a local emulator (generated or replayed), not from Binance"
