Feature: Running unattended
  A bot that runs for days on a VPS tells its user what happens without anyone logging in:
  alerts through apprise, a status command, /health and /metrics for monitoring, systemd's
  notify watchdog, a live console on a terminal, and several pairs or strategies as separate
  instances, each in its own data folder.

  Scenario: Alerts reach a webhook with the right content
    Given a local JSON receiver as the NOTIFY_URLS target
    When the bot starts on ETH/USDT with macd, buys, sells at take-profit and stops
    Then the receiver gets a start message naming the exchange, symbol, strategy and position
    And a message for each fill with side, quantity, price, and PnL and reason on the close
    And a stop message with the final summary

  Scenario: A hanging or failing alert target never slows the bot or costs a journal row
    Given one alert target that never answers and one that answers 500
    When the bot trades 20 candles on the in-process emulator with those targets
    Then it takes about as long as the same run without alerts and journals the same rows
    And errors.log says which target failed by number and scheme only, never its URL

  Scenario: Errors are alerted at once, then counted per kind instead of flooding
    Given a notifier watching the bot's error log with a one-hour interval
    When a testnet wipe and three failed cycles are logged
    Then the wipe and the first failed cycle are alerted at once
    And the other two failed cycles are held back for one counted message

  Scenario: A running bot serves health and metrics, tells systemd, and status sees it
    Given a local JSON receiver, a datagram socket as NOTIFY_SOCKET with a 2 s watchdog, and METRICS_PORT=0
    When the bot runs paced on BNB/USDT, is scraped, and gets SIGTERM
    Then /metrics parses with prometheus-client's parser and counts the candles processed
    And /health answers 200 with status ok
    And systemd's socket got READY=1, WATCHDOG=1 and STOPPING=1
    And the receiver got the start and stop alerts
    And status exited 0 while the bot ran and exits 1 after it stopped
    And no log file or output holds the alert URL's token

  Scenario: status tells running, stale and not running apart, and --all lists every instance
    Given three data folders under one root: one running, one running but stale, one stopped
    When status runs on each and status --all runs on the root
    Then the exit statuses are 0, 3 and 1
    And status --all prints one line per instance and exits 1

  Scenario: On a terminal each closed candle prints one line as it happens
    When the bot runs 3 candles paced at 600x on a terminal
    Then the terminal shows 3 lines with time, close, signal, action and position

  Scenario: At --speed max a single progress line replaces the heartbeats
    When the bot runs 20 candles at --speed max on a terminal with a heartbeat every minute
    Then the terminal shows one progress line ending at 20/20 with candles/s and an ETA
    And trading.log still holds the heartbeats

  Scenario: A failed start prints no "files written" lines, and --quiet prints nothing
    When the bot starts on ETH/USDT with a trade size below the market's minimum notional
    Then it exits 2 with one line naming the min notional rule and prints nothing on stdout
    When the bot runs 2 candles with --quiet
    Then it exits 0 and prints nothing at all

  Scenario: The bot's flags choose pair, strategy and risk by the same rules as the settings
    When the bot runs with --symbol ETH/USDT --strategy macd --param MACD_FAST=5 --sl 0.01 --tp 0.03 --trade-size 0.01
    Then trading.log's first line names ETH/USDT, macd, 0.01 ETH, stop-loss 1.00 % and take-profit 3.00 %
    And --sl 2, --param X and --param WINDOW=3 each exit 2 with one line naming the rule

  Scenario: SYMBOL must be a spot symbol the exchange lists, with that market's rules
    Given a standalone emulator listing BTC/USDT, ETH/USDT and BNB/USDT
    When a bot starts on DOGE/USDT, and another on BNB/USDT with 0.001 BNB
    Then the first exits 2 saying DOGE/USDT is not listed
    And the second exits 2 with BNB/USDT's min notional rule

  Scenario: Two bots on two symbols share one standalone emulator
    Given a standalone emulator listing BTC/USDT, ETH/USDT and BNB/USDT
    When a BTC/USDT bot and an ETH/USDT bot run 50 candles each at the same time in their own folders
    Then each journal holds only its own symbol's fills, as many as the exchange's trades of it
    And the account's USDT, BTC and ETH moved exactly as the two journals say
