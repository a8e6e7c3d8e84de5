"""``python main.py status``: running / not running / stale from the lock and status.json."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import main
from ops.status import find_instances, instance_status, overall_code, ticker_price
from storage.lock import DataDirLock

NOW = 1_796_000_000.0  # wall seconds


def _bot_folder(path, *, last_cycle=NOW - 10, position=True, api_root="", speed=1.0):
    path.mkdir(parents=True)
    (path / "status.json").write_text(json.dumps({
        "exchange": "local emulator", "api_root": api_root, "symbol": "ETH/USDT",
        "timeframe": "1m", "timeframe_seconds": 60, "strategy": "macd",
        "stop_loss_percent": 0.02, "take_profit_percent": 0.04, "speed": speed,
        "candle_wall_seconds": 60.0 / speed, "last_cycle": last_cycle, "heartbeat": NOW - 2,
        "pid": 1}))
    held = {"quantity": 0.5, "entry_price": 3000.0, "entry_time_ms": 0, "entry_order_id": "1",
            "entry_client_order_id": "pb-1b"} if position else None
    (path / "state.json").write_text(json.dumps({
        "position": held, "pending": None, "last_candle_ms": int(NOW * 1000) - 90_000,
        "order_seq": 1, "version": 1, "symbol": "ETH/USDT", "extra": {}}))
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 60))
    (path / "historical_trades.csv").write_text(
        "timestamp,order_id,side,entry_price,exit_price,quantity,PnL,stop_loss_triggered,"
        "take_profit_triggered,fee,fee_currency,exit_reason,requested_price,filled_price,"
        "client_order_id,signal_candle_time,strategy,exchange,symbol\n"
        "2020-01-01T00:00:00Z,7,sell,2900,2950,0.5,20.5,False,False,,,signal,,,c7,,macd,local,"
        "ETH/USDT\n"
        f"{day},8,sell,3000,2940,0.5,-31,True,False,,,stop_loss,,,c8,,macd,local,ETH/USDT\n")
    return path


@pytest.fixture
def price_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps({"symbol": "ETHUSDT", "price": "3010.00"}).encode()
            self.send_response(200 if "symbol=ETHUSDT" in self.path else 400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_running_bot_reports_its_position_levels_unrealised_pnl_and_trades(
        tmp_path, price_server):
    """
    Given a data folder whose lock is held, a long 0.5 ETH at 3000 and an exchange quoting 3010
    When its status is read
    Then it is running (code 0) with the holder's PID, SL/TP levels 2940/3120, unrealised
     PnL +5, last candle and heartbeat ages, 1 trade today (-31) and 2 in total (-10.5)
    """
    folder = _bot_folder(tmp_path / "eth", api_root=price_server)
    with DataDirLock(folder):
        s = instance_status(folder, now=NOW)
    assert (s["code"], s["state"], s["running"]) == (0, "running", True)
    assert s["pid"] is not None
    assert s["position"] == {"entry_price": 3000.0, "quantity": 0.5, "stop_loss": 2940.0,
                             "take_profit": 3120.0, "price": 3010.0, "unrealised_pnl": 5.0}
    assert (s["last_cycle_age_s"], s["heartbeat_age_s"], s["last_candle_age_s"]) == (
        10.0, 2.0, 30.0)
    assert (s["trades_today"], s["pnl_today"], s["trades_total"], s["pnl_total"]) == (
        1, -31.0, 2, -10.5)


def test_no_holder_is_not_running_and_an_old_cycle_is_stale(tmp_path):
    """
    Given one folder nobody holds, and a held one whose last cycle was 130 s ago (1m candles)
    When their status is read
    Then the first is "not running" (1), the second "stale" (3); an unreachable price is
     simply left out
    """
    down = instance_status(_bot_folder(tmp_path / "down"), now=NOW)
    assert (down["code"], down["state"], down["pid"]) == (1, "not running", None)
    assert down["position"]["price"] is None
    stale_folder = _bot_folder(tmp_path / "stale", last_cycle=NOW - 130,
                               api_root="http://127.0.0.1:9")
    with DataDirLock(stale_folder):
        stale = instance_status(stale_folder, now=NOW)
    assert (stale["code"], stale["state"], stale["stale_after_s"]) == (3, "stale", 120.0)
    assert stale["position"]["unrealised_pnl"] is None


def test_status_command_prints_text_or_json_and_exits_with_the_code(tmp_path, capsys):
    """
    Given a held data folder with a position and a flat one nobody holds
    When `status --data-dir`, `status --json` and `status --all ROOT` run
    Then the text names the state, PID, market and position; JSON parses; --all lists both
     folders one line each and exits 1 because one is down
    """
    running = _bot_folder(tmp_path / "root" / "eth" / "data", last_cycle=time.time())
    flat = _bot_folder(tmp_path / "root" / "btc" / "data", position=False)
    with DataDirLock(running):
        assert main.main(["status", "--data-dir", str(running), "--no-price"]) == 0
        text = capsys.readouterr().out
        assert main.main(["status", "--data-dir", str(running), "--json", "--no-price"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert main.main(["status", "--all", str(tmp_path / "root"), "--no-price"]) == 1
        rows = capsys.readouterr().out.splitlines()
    assert ": running (PID " in text and "ETH/USDT 1m, strategy macd" in text
    assert "long 0.5 at 3000 (stop-loss 2940.00, take-profit 3120.00)" in text
    assert data["state"] == "running" and data["position"]["quantity"] == 0.5
    assert len(rows) == 2 and rows[0].startswith("btc/data") and "not running" in rows[0]
    assert rows[1].startswith("eth/data") and " running " in rows[1] and "long" in rows[1]
    assert main.main(["status", "--data-dir", str(flat)]) == 1
    assert "position:    flat" in capsys.readouterr().out


def test_helpers_find_folders_combine_codes_and_refuse_non_local_price_roots(tmp_path):
    """
    Given nested folders, exit codes of several instances, and a mainnet API root
    When instances are found, codes combined and the price asked
    Then only bot folders are found; any down -> 1, else any stale -> 3, none -> 1; a
     mainnet root is never asked; a missing folder is "not running"
    """
    _bot_folder(tmp_path / "a")
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "state.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    assert find_instances(tmp_path) == [tmp_path / "a", tmp_path / "b" / "c"]
    assert overall_code([0, 3, 1]) == 1 and overall_code([0, 3]) == 3
    assert overall_code([0, 0]) == 0 and overall_code([]) == 1
    assert ticker_price("https://api.binance.com", "BTC/USDT") is None
    assert main.main(["status", "--all", str(tmp_path / "nope")]) == 2
    assert main.main(["status", "--data-dir", str(tmp_path / "nope")]) == 1
