"""Secrets stay secret, only Spot Testnet or loopback is ever contacted, files are owner-only.

The bot runs as a child process (``python main.py``) against a standalone emulator started
with distinctive ``--api-key`` / ``--api-secret`` values; errors are provoked (5xx, -1021 clock
errors, a dropped order answer, refused keys) and every byte the bot wrote, and printed, is
searched for the key and secret values. Testnet keys are proved in a run whose start-up fails
before any packet leaves the machine (the test network jail refuses the name look-up).
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.conftest import PROJECT_DIR
from tests.main_subprocess import (
    Emulator,
    child_env,
    error_lines,
    project_copy,
    run_main,
    run_many,
)

EMULATOR_KEY = "EmuKey-7f3a9c1e5b-secret-marker"
EMULATOR_SECRET = "EmuSecret-4d8e2b6a0f-secret-marker"
WRONG_KEY = "WrongKey-9b1c7e3d5a-secret-marker"
TESTNET_KEY = "TestnetKey-2e6a8c4f1b-secret-marker"
TESTNET_SECRET = "TestnetSecret-5c9f3a7d2e-secret-marker"
SECRETS = (EMULATOR_KEY, EMULATOR_SECRET, WRONG_KEY, TESTNET_KEY, TESTNET_SECRET)

OPEN_POSITION = {
    "version": 1, "symbol": "BTC/USDT", "extra": {"exchange": "local"},
    "position": {"quantity": 0.001, "entry_price": 30000.0, "entry_time_ms": 1,
                 "entry_order_id": "1", "entry_client_order_id": "pb-1b-unknown"},
}


def leaks(*texts: str, folders: tuple[Path, ...] = ()) -> list[str]:
    """Every (place, secret) where a secret value occurs: in the texts or any file below."""
    found = []
    for number, text in enumerate(texts):
        found += [f"output {number}: {s}" for s in SECRETS if s in text]
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in SECRETS if s.encode() in data]
    return found


def files_under(*folders: Path) -> list[str]:
    return sorted(p.name for f in folders for p in f.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_copy(tmp_path_factory.mktemp("security"))


@pytest.fixture(scope="module")
def emulator(project):
    server = Emulator(project, "--seed", "2", "--speed", "2000",
                      "--api-key", EMULATOR_KEY, "--api-secret", EMULATOR_SECRET)
    yield server
    server.stop()


def arm(emulator, spec: dict) -> None:
    request = urllib.request.Request(
        emulator.url + "/emulator/fault", data=json.dumps(spec).encode(), method="POST",
        headers={"X-MBX-APIKEY": EMULATOR_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback
        reply.read()


def bot_env(key: str = EMULATOR_KEY) -> dict[str, str]:
    # Testnet keys are present in the environment too, though this run uses the emulator.
    return {"EMULATOR_API_KEY": key, "EMULATOR_API_SECRET": EMULATOR_SECRET,
            "BINANCE_TESTNET_API_KEY": TESTNET_KEY, "BINANCE_TESTNET_API_SECRET": TESTNET_SECRET,
            "EXCHANGE": "local", "STRATEGY": "ma2line", "HISTORY_CANDLES": "60",
            "RETRY_BASE_DELAY": "1"}


def with_open_position(root: Path) -> tuple[Path, Path]:
    data, logs = root / "data", root / "logs"
    data.mkdir(parents=True)
    (data / "state.json").write_text(json.dumps(OPEN_POSITION), encoding="utf-8")
    return data, logs


def test_keys_never_reach_any_file_or_output_through_faults(project, emulator, tmp_path):
    """
    Given a standalone emulator with distinctive keys, 5xx answers on candles, a -1021 clock
     error on the next signed call and a dropped order answer armed, and testnet keys in the env
    When the bot runs 60 candles on it, reconciling a saved position by signed calls first
    Then the faults show in the logs, and no key or secret value is in any file the bot
     wrote (data, logs, rotated logs) nor on its stdout or stderr; state.json is owner-only
    """
    arm(emulator, {"fault": "server_errors", "count": 3, "path": "/api/v3/klines"})
    arm(emulator, {"fault": "clock_skew", "count": 1})
    arm(emulator, {"fault": "order_timeout_after_fill", "count": 1})
    data, logs = with_open_position(tmp_path)
    done = run_main(project, "--exchange-url", emulator.url, "--max-candles", "60",
                    "--data-dir", str(data), "--logs-dir", str(logs), env=bot_env())
    assert done.returncode == 0, done.stderr[-2000:]
    errors = (logs / "errors.log").read_text()
    assert "OperationFailed" in errors and "Traceback" in errors
    assert "InvalidNonce" in (logs / "trading.log").read_text()
    assert "pb-1b-unknown" in (data / "historical_trades.csv").read_text()  # signed look-up ran
    assert leaks(done.stdout, done.stderr, folders=(data, logs)) == []
    assert stat.S_IMODE((data / "state.json").stat().st_mode) == 0o600


def test_refused_keys_stop_the_start_in_one_line_without_leaking(project, emulator, tmp_path):
    """
    Given the bot holds a saved open position and is configured with a wrong emulator key
    When it starts and its reconcile makes a signed call
    Then it exits 2 with one error line naming the refusal (no traceback on the console),
     the traceback is in errors.log, and neither key nor secret is anywhere it wrote
    """
    data, logs = with_open_position(tmp_path)
    done = run_main(project, "--exchange-url", emulator.url, "--max-candles", "3", "--quiet",
                    "--data-dir", str(data), "--logs-dir", str(logs), env=bot_env(WRONG_KEY))
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert line.startswith("main.py: error: look up order pb-1b-unknown refused")
    assert "AuthenticationError" in line and "Traceback" not in done.stderr
    assert "AuthenticationError" in (logs / "errors.log").read_text()
    assert leaks(done.stdout, done.stderr, folders=(data, logs)) == []


def test_testnet_keys_stay_out_of_logs_when_the_start_fails(project, tmp_path):
    """
    Given distinctive Spot Testnet keys, and a network that refuses every non-loopback name
    When python main.py --exchange testnet starts and cannot reach the testnet
    Then it exits 1 naming the unreachable exchange, the logs hold the start-up lines and the
     traceback, the look-up was refused before any packet left, and no key or secret is in
     any log or output
    """
    logs = tmp_path / "logs"
    env = {"BINANCE_TESTNET_API_KEY": TESTNET_KEY, "BINANCE_TESTNET_API_SECRET": TESTNET_SECRET,
           "RETRY_BASE_DELAY": "0"}
    done = run_main(project, "--exchange", "testnet", "--max-candles", "1",
                    "--data-dir", str(tmp_path / "data"), "--logs-dir", str(logs), env=env)
    assert done.returncode == 1
    assert "the exchange is unreachable at start" in done.stderr
    assert "network jail: look-up of 'testnet.binance.vision'" in (logs / "errors.log").read_text()
    assert "Starting paper-trading bot on Binance Spot Testnet" in (logs / "trading.log").read_text(
        encoding="utf-8")
    assert leaks(done.stdout, done.stderr, folders=(logs,)) == []
    checked = run_main(project, "check", "--exchange", "testnet",
                       env={**env, "DATA_DIR": str(tmp_path / "data")})
    assert checked.returncode == 1 and "FAIL  reachable" in checked.stdout
    assert leaks(checked.stdout, checked.stderr) == []


def test_settings_never_show_the_keys(tmp_path):
    """
    Given settings loaded with testnet keys
    When they are printed or a key-related setting is refused
    Then neither the repr nor the error message contains a key or secret value
    """
    settings = load_settings({"BINANCE_TESTNET_API_KEY": TESTNET_KEY,
                              "BINANCE_TESTNET_API_SECRET": TESTNET_SECRET},
                             env_file=tmp_path / "absent.env")
    assert settings.exchange == "testnet" and settings.secrets == [TESTNET_KEY, TESTNET_SECRET]
    assert leaks(repr(settings), str(settings)) == []
    with pytest.raises(ValueError) as refused:
        load_settings({"BINANCE_TESTNET_API_KEY": TESTNET_KEY, "EXCHANGE": "testnet"},
                      env_file=tmp_path / "absent.env")
    assert leaks(str(refused.value)) == []


REFUSED_URLS = {
    "mainnet": ("https://api.binance.com", "host 'api.binance.com' is neither Binance Spot"),
    "lan": ("http://192.168.1.10:8765", "host '192.168.1.10' is neither"),
    "credentials-in-url": ("http://user:pw@127.0.0.1:8765", "it carries a user name or password"),
}


@pytest.fixture(scope="module")
def refused_runs(project, tmp_path_factory):
    root = tmp_path_factory.mktemp("refused")
    jobs = {case: (project, ["--exchange-url", url, "--max-candles", "1",
                             "--data-dir", str(root / case / "data"),
                             "--logs-dir", str(root / case / "logs")], bot_env())
            for case, (url, _) in REFUSED_URLS.items()}
    done = run_many(jobs)
    return {case: (done[case], root / case) for case in jobs}


@pytest.mark.parametrize("case", list(REFUSED_URLS))
def test_bot_refuses_non_testnet_endpoints_before_anything_is_sent(refused_runs, case):
    """
    Given an --exchange-url that is real-money Binance, a LAN host, or carries credentials
    When python main.py starts with it
    Then it exits 2 with one line naming the refused endpoint, and writes no log or data file
    """
    done, folder = refused_runs[case]
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert line.startswith("main.py: error: --exchange-url: ") and REFUSED_URLS[case][1] in line
    assert not (folder / "data").exists() and not (folder / "logs").exists()


def test_network_jail_of_the_child_processes_refuses_the_internet(project):
    """
    Given the network jail every child process of these tests runs in
    When a child resolves testnet.binance.vision and connects to a public address
    Then both are refused, while a loopback connection attempt still reaches the socket layer
    """
    code = (
        "import socket\n"
        "for call in (lambda: socket.getaddrinfo('testnet.binance.vision', 443),\n"
        "             lambda: socket.create_connection(('192.0.2.1', 443), timeout=1)):\n"
        "    try:\n        call()\n        print('REACHED')\n"
        "    except OSError as exc:\n        print('refused' if 'network jail' in str(exc)"
        " else f'other {exc}')\n"
        "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except OSError as exc:\n    print('loopback', 'network jail' not in str(exc))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=child_env(project),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.stdout.split("\n")[:3] == ["refused", "refused", "loopback True"], done.stderr


def test_security_notes_tell_to_make_env_owner_only():
    """
    Given the security section of the README material
    When it is read
    Then it tells to chmod 600 the .env file and says .env is ignored by git
    """
    text = (PROJECT_DIR / "docs" / "readme" / "security.md").read_text(encoding="utf-8")
    assert "chmod 600 .env" in text and ".gitignore" in text
