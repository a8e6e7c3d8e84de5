"""The bot run as a user runs it: console on a terminal, flags, alerts, metrics, status file."""

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

import main
from tests.http_receiver import Receiver
from tests.main_subprocess import child_env, project_copy, run_main
from tests.ops_support import run_on_terminal, wait_for_line

TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_copy(tmp_path_factory.mktemp("ops"))


def _dirs(tmp_path, name):
    base = tmp_path / name
    return ["--data-dir", str(base / "data"), "--logs-dir", str(base / "logs")]


def test_on_a_terminal_each_closed_candle_prints_one_line(project, tmp_path):
    """
    Given the bot on a terminal, paced at 600x real time
    When 3 candles close
    Then the terminal shows 3 candle lines (time, close, signal, action, position) and the
     files-written lines
    """
    status, shown = run_on_terminal(project, "--speed", "600", "--max-candles", "3",
                                    *_dirs(tmp_path, "lines"))
    assert status == 0, shown
    lines = [x for x in shown.splitlines() if " close " in x]
    assert len(lines) == 3, shown
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d close [\d.]+ signal (BUY|SELL|-) -> \S+"
                        r".* \| (flat|long )", x) for x in lines), lines
    assert "Trades:  " in shown


def test_at_speed_max_a_single_progress_line_replaces_the_heartbeats(project, tmp_path):
    """
    Given the bot on a terminal at --speed max with --max-candles 40 and a heartbeat every
     60 simulated seconds
    When it runs
    Then the terminal shows one progress line rewritten in place, ending at 40/40 with a rate
     and an ETA, and no heartbeat or candle lines; trading.log still has the heartbeats
    """
    status, shown = run_on_terminal(project, "--speed", "max", "--max-candles", "40",
                                    *_dirs(tmp_path, "max"), env={"HEARTBEAT_SECONDS": "60"})
    assert status == 0, shown
    progress = shown.split("Candles: ")[0]
    assert progress.count("\n") == 1 and "Heartbeat" not in shown and " close " not in shown
    assert re.search(r"40/40 candles, [\d,]+ candles/s, ETA 0:00", progress), progress
    log = (tmp_path / "max" / "logs" / "trading.log").read_text()
    assert "Heartbeat: " in log


def test_bot_flags_choose_pair_strategy_and_risk_and_are_validated(tmp_path, capsys):
    """
    Given the bot flags --symbol ETH/USDT --timeframe 1m --strategy macd --param MACD_FAST=5
     --sl 0.01 --tp 0.03 --trade-size 0.01
    When the bot runs 2 candles, and again with --sl 2, --param X and --param WINDOW=3
    Then the first run trades ETH/USDT with those values; the others exit 2 with one line
     naming the rule, before anything is written
    """
    status = main.main(["--symbol", "eth/usdt", "--timeframe", "1m", "--strategy", "macd",
                        "--param", "MACD_FAST=5", "--sl", "0.01", "--tp", "0.03",
                        "--trade-size", "0.01", "--speed", "max", "--max-candles", "2",
                        "--quiet", *_dirs(tmp_path, "flags")])
    assert status == 0
    first = (tmp_path / "flags" / "logs" / "trading.log").read_text().splitlines()[0]
    assert "ETH/USDT 1m, strategy macd, trade size 0.01 ETH" in first
    assert "stop-loss 1.00 %, take-profit 3.00 %" in first
    capsys.readouterr()
    for flags, message in ((["--sl", "2"], "STOP_LOSS_PERCENT=2.0 is out of range"),
                           (["--param", "X"], "--param 'X' is not KEY=VALUE"),
                           (["--param", "WINDOW=3"], "--param WINDOW: unknown parameter")):
        assert main.main([*flags, *_dirs(tmp_path, "bad")]) == 2
        out, err = capsys.readouterr()
        assert out == "" and message in err and err.count("\n") == 1
    assert not (tmp_path / "bad").exists()


def test_a_failed_start_prints_no_files_written_lines(project, tmp_path):
    """
    Given SYMBOL=ETH/USDT with the default TRADE_SIZE 0.001 (worth about 2 USDT)
    When the bot starts on the local emulator
    Then it exits 2 with the market's min-notional rule in one line and prints no
     "Candles:/Trades:/Logs:" lines
    """
    done = run_main(project, "--speed", "max", "--max-candles", "1", *_dirs(tmp_path, "fail"),
                    env={"SYMBOL": "ETH/USDT"})
    assert done.returncode == 2
    assert done.stdout == ""
    assert "TRADE_SIZE 0.001 ETH is worth" in done.stderr and "min notional" in done.stderr


def test_a_running_bot_serves_metrics_and_health_sends_alerts_and_keeps_urls_secret(
        project, tmp_path):
    """
    Given NOTIFY_URLS pointing at a local JSON receiver (its path a token) and METRICS_PORT=0
    When the bot runs paced at 120x, is scraped, then gets SIGTERM
    Then /metrics parses and counts candles, /health is 200 ok, the receiver gets the start
     and stop alerts, status.json names the PID, `status` exits 0 while it runs and 1 after,
     and no log or output holds the URL's token
    """
    from prometheus_client.parser import text_string_to_metric_families

    with Receiver() as receiver:
        env = {"NOTIFY_URLS": receiver.url(path=TOKEN), "METRICS_PORT": "0",
               "SYMBOL": "BNB/USDT", "TRADE_SIZE": "0.1"}
        proc = subprocess.Popen([sys.executable, "main.py", "--speed", "120",
                                 *_dirs(tmp_path, "live")], cwd=project,
                                env=child_env(project, env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            log = tmp_path / "live" / "logs" / "trading.log"
            url = wait_for_line(log, r"Metrics on (http://127\.0\.0\.1:\d+)/metrics").group(1)
            wait_for_line(log, r"Reconcile: ")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
                families = {f.name: f for f in text_string_to_metric_families(text)}
                if families["paperbot_candles_processed"].samples[0].value >= 1:
                    break
                time.sleep(0.2)
            health = urllib.request.urlopen(url + "/health", timeout=5)
            status_file = json.loads((tmp_path / "live" / "data" / "status.json").read_text())
            running = main.main(["status", "--data-dir", str(tmp_path / "live" / "data")])
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        posts = receiver.wait_for(2)
    assert proc.returncode == 0, err
    assert running == 0
    assert main.main(["status", "--data-dir", str(tmp_path / "live" / "data")]) == 1
    assert families["paperbot_candles_processed"].samples[0].value >= 1
    assert health.status == 200 and json.loads(health.read())["status"] == "ok"
    assert status_file["pid"] == proc.pid and status_file["symbol"] == "BNB/USDT"
    assert "started on local emulator" in posts[0]["message"] and "BNB/USDT" in posts[0]["message"]
    assert posts[-1]["message"].startswith("stopped; position:")
    logs = "".join(p.read_text() for p in (tmp_path / "live" / "logs").iterdir())
    assert TOKEN not in logs + out + err
