"""The bot's rolling window of closed candles."""


import pandas as pd

from bot.window import CandleWindow
from exchange.client import CandleFetch

MINUTE = 60_000


def Fetch(frame, skip_reason=None):  # noqa: N802 - reads like the record it builds
    return CandleFetch(frame, skip_reason)


class Client:
    """Closed candles up to ``now`` (open times on the minute grid); records every limit."""

    def __init__(self):
        self.now = 0
        self.limits = []
        self.fail = False
        self.shift = 0.0

    def fetch_closed_candles(self, limit):
        self.limits.append(limit)
        if self.fail:
            return Fetch(None, "down")
        last = (self.now // MINUTE - 1) * MINUTE
        stamps = [last - i * MINUTE for i in range(limit)][::-1]
        price = [100.0 + self.shift + (t // MINUTE) % 7 for t in stamps]
        return Fetch(pd.DataFrame({"timestamp": pd.Series(stamps, dtype="int64"), "open": price,
                                   "high": [p + 1 for p in price], "low": [p - 1 for p in price],
                                   "close": price, "volume": 1.0}))


def test_first_refresh_fetches_the_whole_window_then_tops_up():
    """
    Given a window of 50 candles
    When it is refreshed at minute 100, then at minute 101
    Then the first fetch asks for 50 candles, the second for 3, and the window ends at
     the last closed candle with 50 gap-free rows
    """
    client = Client()
    window = CandleWindow(client, 50, MINUTE)
    client.now = 100 * MINUTE
    assert len(window.refresh(client.now).frame) == 50
    client.now = 101 * MINUTE
    frame = window.refresh(client.now).frame
    assert client.limits == [50, 3]
    assert len(frame) == 50 and frame["timestamp"].iloc[-1] == 100 * MINUTE
    assert frame["timestamp"].diff().dropna().eq(MINUTE).all()


def test_long_gap_refetches_everything():
    """
    Given a filled window of 50 candles
    When it is refreshed 80 minutes later
    Then it fetches the whole window again
    """
    client = Client()
    window = CandleWindow(client, 50, MINUTE)
    client.now = 100 * MINUTE
    window.refresh(client.now)
    client.now = 180 * MINUTE
    window.refresh(client.now)
    assert client.limits == [50, 50] and window.full_fetches == 2


def test_failed_fetch_passes_the_reason_and_keeps_the_window():
    """
    Given a filled window and an exchange that fails the next fetch
    When it is refreshed
    Then the reason to skip is returned, and the next refresh tops up from the old window
    """
    client = Client()
    window = CandleWindow(client, 50, MINUTE)
    client.now = 100 * MINUTE
    window.refresh(client.now)
    client.fail, client.now = True, 101 * MINUTE
    assert window.refresh(client.now).skip_reason == "down"
    client.fail, client.now = False, 102 * MINUTE
    frame = window.refresh(client.now).frame
    assert client.limits[-1] == 4 and frame["timestamp"].iloc[-1] == 101 * MINUTE


def test_no_new_candle_returns_the_same_window():
    """
    Given a filled window
    When it is refreshed again within the same minute
    Then the same frame comes back
    """
    client = Client()
    window = CandleWindow(client, 50, MINUTE)
    client.now = 100 * MINUTE
    first = window.refresh(client.now).frame
    assert window.refresh(client.now + 1000).frame is first
