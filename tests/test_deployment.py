"""Deployment files and repository hygiene a VPS user relies on."""

import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_DIR


def test_env_file_and_runtime_output_are_ignored_by_git():
    """
    Given the project's .gitignore
    When git is asked about .env, the logs, the data CSVs, the state file and the virtualenv
    Then every one of them is ignored, and .env.example is not
    """
    if shutil.which("git") is None or not (PROJECT_DIR / ".git").exists():
        pytest.skip("not a git checkout: .gitignore cannot be asked")
    paths = [".env", "logs/trading.log", "data/historical_data.csv",
             "data/historical_trades.csv", "data/state.json", ".venv/bin/python"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=PROJECT_DIR,
                            capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(paths)
    example = subprocess.run(["git", "check-ignore", ".env.example"], cwd=PROJECT_DIR,
                             capture_output=True, text=True)
    assert example.returncode == 1


def test_env_example_names_the_testnet_keys_without_values():
    """
    Given .env.example
    When its key lines are read
    Then it shows both testnet key names with empty values
    """
    lines = (PROJECT_DIR / ".env.example").read_text().splitlines()
    assert "BINANCE_TESTNET_API_KEY=" in lines
    assert "BINANCE_TESTNET_API_SECRET=" in lines


def test_systemd_unit_restarts_on_failure_and_stops_with_sigterm():
    """
    Given the systemd unit
    When its settings are read
    Then it restarts on failure, stops with SIGTERM and runs as a non-root user
    """
    unit = (PROJECT_DIR / "deploy" / "paperbot.service").read_text()
    assert "Restart=on-failure" in unit
    assert "KillSignal=SIGTERM" in unit
    assert "User=paperbot" in unit and "User=root" not in unit


def test_dockerfile_runs_as_non_root_with_data_and_logs_volumes():
    """
    Given the Dockerfile
    When its instructions are read
    Then it switches to a non-root user and declares data and logs as volumes
    """
    text = (PROJECT_DIR / "Dockerfile").read_text()
    assert "USER paperbot" in text
    assert 'VOLUME ["/app/data", "/app/logs"]' in text
    assert ".env" in (PROJECT_DIR / ".dockerignore").read_text().split()


def test_units_are_notify_with_a_watchdog_and_the_template_has_its_own_folders():
    """
    Given the systemd units in deploy/
    When their settings are read
    Then both bot units are Type=notify with WatchdogSec and OnFailure=, the template reads a
     per-instance EnvironmentFile and its own data and log folders, and the alert unit exists
    """
    for name in ("paperbot.service", "paperbot@.service"):
        unit = (PROJECT_DIR / "deploy" / name).read_text()
        assert "Type=notify" in unit and "WatchdogSec=" in unit
        assert "OnFailure=paperbot-alert@%n.service" in unit
    template = (PROJECT_DIR / "deploy" / "paperbot@.service").read_text()
    assert "EnvironmentFile=/etc/paperbot/%i.env" in template
    assert "DATA_DIR=/var/lib/paperbot/%i" in template
    assert "LOGS_DIR=/var/log/paperbot/%i" in template
    assert "User=paperbot" in template and "KillSignal=SIGTERM" in template
    alert = (PROJECT_DIR / "deploy" / "paperbot-alert@.service").read_text()
    assert "apprise" in alert and "NOTIFY_URLS" in alert
