Feature: Strategy signals
  Every closed candle gets one signal from the chosen strategy: 1 BUY, -1 SELL or 0 HOLD.
  The rules are TradingView's: MovingAvg2Line Cross (SMA 9/18), RSI Strategy (14/30/70),
  MACD Strategy (12/26/9), and the default sma_rsi (SMA 10/50 crossover, RSI 14 filter).
  Five more read whole candles: Supertrend Strategy (ATR 10, factor 3) and BarUpDn give market
  signals too; Bollinger Bands, Keltner Channels and ChannelBreakOut arm stop entries instead,
  stated per candle as "arm a buy (sell) stop at L" or "cancel it" (features/stop_entries.feature
  says how they fill). Candles built from closes open at the previous close and reach 0.25
  above and below the body.

  Scenario Outline: <strategy> buys when a fall turns into a choppy rise
    Given the "<strategy>" strategy with its default parameters
    And closes that move by -1 for 80 bars and then by +3, -2 in turn for 60 bars
    When the signals are computed
    Then the only signal is a BUY after the turn

    Examples:
      | strategy   |
      | sma_rsi    |
      | ma2line    |
      | rsi        |
      | macd       |
      | supertrend |

  Scenario Outline: <strategy> sells when a rise turns into a choppy fall
    Given the "<strategy>" strategy with its default parameters
    And closes that move by +1 for 80 bars and then by -3, +2 in turn for 60 bars
    When the signals are computed
    Then the only signal is a SELL after the turn

    Examples:
      | strategy |
      | sma_rsi  |
      | ma2line  |
      | rsi      |
      | macd     |

  Scenario Outline: <strategy> holds when nothing moves
    Given the "<strategy>" strategy with its default parameters
    And 300 equal closes
    When the signals are computed
    Then every bar is a HOLD

    Examples:
      | strategy |
      | sma_rsi  |
      | ma2line  |
      | rsi      |
      | macd     |

  Scenario Outline: <strategy> holds until it has enough candles
    Given the "<strategy>" strategy with its default parameters
    And random closes one bar fewer than its warm-up of <warmup> bars
    When the signals are computed
    Then every bar is a HOLD

    Examples:
      | strategy | warmup |
      | sma_rsi  | 51     |
      | ma2line  | 19     |
      | rsi      | 16     |
      | macd     | 35     |

  Scenario: sma_rsi does not buy a crossover while RSI is overbought
    Given the "sma_rsi" strategy with its default parameters
    And closes that move by -1 for 80 bars and then by +1 for 60 bars
    When the signals are computed
    Then the short SMA crosses over the long SMA after the turn with RSI at 70 or above
    And no bar is a BUY

  Scenario: sma_rsi does not sell a crossunder while RSI is oversold
    Given the "sma_rsi" strategy with its default parameters
    And closes that move by +1 for 80 bars and then by -1 for 60 bars
    When the signals are computed
    Then the short SMA crosses under the long SMA after the turn with RSI at 30 or below
    And no bar is a SELL

  Scenario: A parameter changes the signals
    Given the "rsi" strategy with RSI_OVERSOLD set to 10
    And closes that move by -1 for 80 bars and then by +3, -2 in turn for 60 bars
    When the signals are computed
    Then the only signal is a BUY after the turn
    And it comes earlier than with the default RSI_OVERSOLD of 30, as RSI rising from 0 passes 10 first

  Scenario: Bollinger Bands arms a buy stop at the lower band when the close crosses back over it
    Given the "bollinger" strategy with its default parameters
    And 40 closes of 100, then a close of 90, then a close of 100
    When the signals are computed
    Then the last candle arms a buy stop at its lower band
    And every other candle cancels the buy stop
    And no bar is a BUY

  Scenario: Keltner Channels arms a buy stop one tick above the high of the candle crossing its upper band
    Given the "keltner" strategy with its default parameters
    And 40 closes of 100, then a close of 110
    When the signals are computed
    Then the last candle arms a buy stop at 110.26

  Scenario: ChannelBreakOut arms both stops one tick beyond the 5-candle channel on every candle
    Given the "channel_breakout" strategy with its default parameters
    And 30 random closes
    When the signals are computed
    Then from candle 6 on every candle arms a buy stop 0.01 above the highest high of the last 5
    And from candle 5 on every candle arms a sell stop 0.01 below the lowest low of the last 5
    And the first 4 candles sell at market, as Pine does with a stop of na
