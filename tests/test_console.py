"""Console lines per closed candle, the single progress line, and their formatting."""

import io
from types import SimpleNamespace

from bot.events import CandleEvent
from ops.console import ConsoleView, candle_line, format_duration, position_text, progress_line

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def _event(n, **kw):
    values = dict(candle_ms=T0 + n * 60_000, close=95123.5, signal=1, action="bought",
                  skipped=None, failed=False, new_candles=1, candles_processed=n,
                  cycles_skipped=0, now_ms=T0)
    values.update(kw)
    return CandleEvent(**values)


def test_each_closed_candle_prints_one_line_as_it_happens():
    """
    Given a console view in lines mode
    When two candles and a skipped cycle finish
    Then three lines appear with time, close, signal, action and position
    """
    out = io.StringIO()
    view = ConsoleView(out, "lines", lambda: "long 0.001 BTC at 95123.5")
    view.candle(_event(1))
    view.candle(_event(2, signal=0, action="nothing"))
    view.candle(_event(2, skipped="exchange unavailable", close=None))
    assert out.getvalue().splitlines() == [
        "2026-01-01 00:01 close 95123.5 signal BUY -> bought | long 0.001 BTC at 95123.5",
        "2026-01-01 00:02 close 95123.5 signal - -> nothing | long 0.001 BTC at 95123.5",
        "cycle skipped: exchange unavailable | long 0.001 BTC at 95123.5",
    ]


def test_progress_mode_rewrites_one_line_with_rate_and_eta():
    """
    Given a progress view with a total of 100 candles on a manual wall clock
    When 50 candles finish over 2 s (redraws throttled) and the run stops at 100
    Then the output is one line rewritten with \\r: rate 25 candles/s, an ETA, a final newline
    """
    now = [0.0]
    out = io.StringIO()
    view = ConsoleView(out, "progress", lambda: "flat", total=100, wall=lambda: now[0])
    view.ready([], 0)
    for n in range(1, 51):
        now[0] = n * 0.04
        view.candle(_event(n))
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") <= 9
    assert text.rsplit("\r", 1)[-1].startswith("50/100 candles, 25 candles/s, ETA 0:02")
    now[0] = 4.0
    view.candle(_event(100))
    view.stopped("", 0)
    assert out.getvalue().endswith("100/100 candles, 25 candles/s, ETA 0:00\033[K\n")


def test_formatting_helpers():
    """
    Given durations, progress figures and positions
    When they are formatted
    Then durations read M:SS or H:MM:SS, progress without a total has no ETA, positions
     read flat or long QTY BASE at ENTRY
    """
    assert format_duration(65) == "1:05" and format_duration(3725) == "1:02:05"
    assert progress_line(10, 2.0, None) == "10 candles, 2 candles/s"
    assert progress_line(10, 0.0, 20) == "10/20 candles, 0 candles/s, ETA ?"
    assert position_text(SimpleNamespace(position=None)) == "flat"
    held = SimpleNamespace(position=SimpleNamespace(quantity=0.5, entry_price=3000.0),
                           base_asset="ETH")
    assert position_text(held) == "long 0.5 ETH at 3000"
    assert candle_line(_event(3, close=None, action="no new closed candle"), "flat") == (
        "2026-01-01 00:03 no new closed candle | flat")
