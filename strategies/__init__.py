"""Trading strategies computed the way TradingView's Pine Script computes them.

``strategies.indicators``: Pine's ``ta.sma/ema/rma/rsi/macd/crossover/crossunder`` over whole
series; ``strategies.registry``: the strategies by name (``get_strategy``, ``STRATEGIES``);
``strategies/pine/``: their Pine v6 sources for TradingView. No I/O, no orders, no positions.
"""
