"""The running bot's status.json and the journal figures status and metrics show."""

from bot.events import CandleEvent
from ops.figures import trade_figures
from ops.status_file import StatusFile, read_status_file
from storage.atomic import TEMP_PREFIX, TEMP_SUFFIX

DAY = 86_400_000


def test_status_file_tracks_start_cycles_heartbeats_and_stop(tmp_path):
    """
    Given a status file for a 1m bot at speed 60 on a manual wall clock
    When it becomes ready at t=100, ticks at t=102 (throttled) and t=106, a cycle runs at
     t=111 and it stops at t=112
    Then the file shows the facts, the candle's wall length (1 s), the last heartbeat and cycle
     times, the counts and running false at the end
    """
    now = [100.0]
    status = StatusFile(tmp_path, {"symbol": "ETH/USDT", "timeframe_seconds": 60, "speed": 60},
                        wall=lambda: now[0])
    status.ready([], 0)
    assert read_status_file(tmp_path)["last_cycle"] == 100.0
    now[0] = 102.0
    status.tick(0)
    assert read_status_file(tmp_path)["heartbeat"] == 100.0
    now[0] = 106.0
    status.tick(0)
    data = read_status_file(tmp_path)
    assert data["heartbeat"] == 106.0 and data["candle_wall_seconds"] == 1.0
    now[0] = 111.0
    status.candle(CandleEvent(0, 1.0, 0, "nothing", None, False, 1, 7, 2, 0))
    now[0] = 112.0
    status.stopped("", 0)
    data = read_status_file(tmp_path)
    assert (data["last_cycle"], data["candles_processed"], data["cycles_skipped"]) == (
        111.0, 7, 2)
    assert data["running"] is False and data["symbol"] == "ETH/USDT"
    assert read_status_file(tmp_path / "none") is None


def test_trade_figures_count_this_symbols_closed_trades_today_and_in_total():
    """
    Given journal rows of two days and two symbols
    When figures are taken for BTC/USDT on the second day
    Then fills, closed trades and PnL add up in total and for that UTC day only
    """
    rows = [
        {"timestamp": "1970-01-01T10:00:00Z", "order_id": "1", "PnL": "", "symbol": "BTC/USDT"},
        {"timestamp": "1970-01-01T11:00:00Z", "order_id": "2", "PnL": "1.5", "symbol": ""},
        {"timestamp": "1970-01-02T09:00:00Z", "order_id": "3", "PnL": "-0.5",
         "symbol": "BTC/USDT"},
        {"timestamp": "1970-01-02T09:00:00Z", "order_id": "4", "PnL": "9", "symbol": "ETH/USDT"},
        {"timestamp": "1970-01-02T09:30:00Z", "order_id": "", "PnL": "", "symbol": "BTC/USDT"},
    ]
    figures = trade_figures(rows, "BTC/USDT", DAY + 3_600_000)
    assert (figures.fills, figures.trades, figures.pnl) == (3, 2, 1.0)
    assert (figures.trades_today, figures.pnl_today) == (1, -0.5)


def test_a_temp_file_left_by_a_killed_write_is_removed_at_start(tmp_path):
    """
    Given a data folder holding the temp file of a status write cut short by a kill
    When the next bot's status file starts
    Then the leftover is gone and the status file is written whole
    """
    leftover = tmp_path / f"{TEMP_PREFIX}status.json.f9sbg9lb{TEMP_SUFFIX}"
    leftover.write_text('{"pid": 1')
    status = StatusFile(tmp_path, {"timeframe_seconds": 60})
    status.ready([], 0)
    assert not leftover.exists()
    assert read_status_file(tmp_path)["running"] is True
