"""``python main.py check``: every check against the real emulator over loopback, no trading."""

from __future__ import annotations

import json
import socket
import time
from types import SimpleNamespace

import pytest

from bot.wiring import start_local_exchange
from commands.check import (
    FAIL,
    OK,
    SKIP,
    Check,
    Target,
    check_balance,
    check_market,
    check_warmup,
    check_writable,
    exit_status,
    guarded,
    run_checks,
    summary,
)
from config.settings import load_settings
from core.clock import PacedClock
from emulator.market import GeneratedMarket
from tests.main_subprocess import Emulator, project_copy, run_main, run_many

KEY, SECRET = "check-key-0123456789", "check-secret-0123456789"


def settings_for(tmp_path, **env):
    values = {"DATA_DIR": str(tmp_path / "data"), "LOGS_DIR": str(tmp_path / "logs")}
    values.update({k: str(v) for k, v in env.items()})
    return load_settings(values, env_file=tmp_path / "absent.env")


@pytest.fixture
def server(start_emulator):
    clock = PacedClock(int(time.time() * 1000) // 60_000 * 60_000)
    return start_emulator(GeneratedMarket(1), clock, api_key=KEY, api_secret=SECRET)


def target(server, key=KEY, secret=SECRET, kind="local"):
    return Target(kind, server.base_url, key, secret, "EMULATOR_API_KEY", clock=server.clock,
                  description="test emulator")


def by_name(checks):
    return {c.name: c for c in checks}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_everything_passes_on_a_healthy_emulator(tmp_path, server):
    """
    Given sound settings and the emulator with the right keys and a funded account
    When every check runs
    Then all of them are OK, each detail names what was found, and no file was written
    """
    checks = run_checks(settings_for(tmp_path), target(server))
    assert [c.status for c in checks] == [OK] * 12, [c.line() for c in checks]
    found = by_name(checks)
    assert "lot step 0.00001 BTC, min notional 5 USDT" in found["market"].detail
    assert "server clock" in found["reachable"].detail
    assert found["keys"].detail == "accepted (signed balance call)"
    assert "covers" in found["balance"].detail
    assert exit_status(checks) == 0 and not (tmp_path / "data").exists()
    assert not [r for r in server.requests if r.method != "GET"]  # nothing ordered


def test_wrong_key_fails_the_keys_check_with_a_hint(tmp_path, server):
    """
    Given the emulator accepts another API key than the one configured
    When the checks run
    Then keys is FAIL naming the refusal and the settings to fix, balance is SKIP,
     the public checks still pass, and the exit status is 1
    """
    checks = by_name(run_checks(settings_for(tmp_path), target(server, key="wrong-key-000")))
    assert checks["keys"].status == FAIL
    assert "AuthenticationError" in checks["keys"].detail
    assert "EMULATOR_API_KEY" in checks["keys"].detail
    assert checks["balance"].status == SKIP
    assert checks["market"].status == OK and checks["trade size"].status == OK
    assert exit_status(list(checks.values())) == 1


def test_wrong_secret_fails_the_keys_check_too(tmp_path, server):
    """
    Given the right API key with a wrong secret (a bad signature)
    When the checks run
    Then keys is FAIL
    """
    checks = by_name(run_checks(settings_for(tmp_path), target(server, secret="wrong-secret")))
    assert checks["keys"].status == FAIL


def test_trade_size_below_min_notional_fails_with_the_fix(tmp_path, server):
    """
    Given TRADE_SIZE 0.0001 BTC, worth less than the 5 USDT minimum notional
    When the checks run
    Then trade size is FAIL saying to raise TRADE_SIZE, and balance is SKIP
    """
    checks = by_name(run_checks(settings_for(tmp_path, TRADE_SIZE=0.0001), target(server)))
    assert checks["trade size"].status == FAIL
    assert "min notional" in checks["trade size"].detail
    assert "raise TRADE_SIZE" in checks["trade size"].detail
    assert checks["balance"].status == SKIP


def test_too_little_quote_balance_fails_the_balance_check(tmp_path, server):
    """
    Given the account holds 5 USDT and TRADE_SIZE is worth about 30 USDT
    When the checks run
    Then balance is FAIL naming the free amount and what one buy needs
    """
    server.set_balance("USDT", 5.0)
    checks = by_name(run_checks(settings_for(tmp_path), target(server)))
    assert checks["balance"].status == FAIL
    assert checks["balance"].detail.startswith("free 5 USDT is less than one buy needs")


def test_warm_up_longer_than_history_fails(tmp_path, server):
    """
    Given SMA_LONG=300 and HISTORY_CANDLES=200
    When the checks run
    Then warm-up is FAIL saying to raise HISTORY_CANDLES
    """
    checks = by_name(run_checks(settings_for(tmp_path, SMA_LONG=300), target(server)))
    assert checks["warm-up"].status == FAIL
    assert "needs 303 candles but HISTORY_CANDLES=200" in checks["warm-up"].detail


def test_unreachable_exchange_fails_fast_and_skips_the_exchange_checks(tmp_path):
    """
    Given a URL on a loopback port nobody listens on, and a 500 ms request timeout
    When the checks run
    Then reachable is FAIL within seconds, keys, market, trade size and balance are SKIP,
     and the local checks still run
    """
    url = f"http://127.0.0.1:{closed_port()}"
    settings = settings_for(tmp_path, REQUEST_TIMEOUT_MS=500)
    started = time.monotonic()
    checks = run_checks(settings, Target("local", url, KEY, SECRET, "EMULATOR_API_KEY"))
    assert time.monotonic() - started < 10  # a hang would be the bug, not slowness
    found = by_name(checks)
    assert found["reachable"].status == FAIL and "Connection refused" in found["reachable"].detail
    assert [found[n].status for n in ("keys", "market", "trade size", "balance")] == [SKIP] * 4
    assert found["warm-up"].status == OK and exit_status(checks) == 1


@pytest.mark.parametrize(
    ("kind", "url", "fragment"),
    [
        ("local", "https://api.binance.com", "host 'api.binance.com' is neither Binance Spot"),
        ("local", "http://10.0.0.5:8765", "neither Binance Spot Testnet nor a loopback"),
        ("testnet", "http://127.0.0.1:9", "--exchange-url works only with the local exchange"),
    ],
    ids=["mainnet", "lan-host", "testnet-with-url"],
)
def test_refused_endpoint_is_a_settings_error_and_nothing_is_contacted(tmp_path, kind, url,
                                                                       fragment):
    """
    Given an endpoint that is not Spot Testnet or a loopback emulator
    When the checks run
    Then endpoint is FAIL with the reason, every exchange check is SKIP, and the exit is 2
    """
    checks = run_checks(settings_for(tmp_path), Target(kind, url, KEY, SECRET, "keys"))
    found = by_name(checks)
    assert found["endpoint"].status == FAIL and fragment in found["endpoint"].detail
    assert found["reachable"].status == SKIP and exit_status(checks) == 2


def test_damaged_files_fail_without_being_touched(tmp_path, server):
    """
    Given a damaged state file, a journal with a foreign header and a candle file with a
     bad middle row
    When the checks run
    Then each is FAIL saying what the bot will do, and every file keeps its bytes and name
    """
    data = tmp_path / "data"
    data.mkdir()
    files = {
        "state.json": b'{"version": 1, "posi',
        "historical_trades.csv": b"when,what\n1,2\n",
        "historical_data.csv": (b"timestamp,open,high,low,close,volume\n60000,1,2,0.5,1,1\n"
                                b"120000,1,oops,0.5,1,1\n180000,1,2,0.5,1,1\n"),
    }
    for name, content in files.items():
        (data / name).write_bytes(content)
    found = by_name(run_checks(settings_for(tmp_path), target(server)))
    assert found["state file"].status == FAIL and "keep it aside" in found["state file"].detail
    assert found["trades journal"].status == FAIL
    assert "unexpected header" in found["trades journal"].detail
    assert found["candle file"].status == FAIL
    assert "line 3: high 'oops' is not a number" in found["candle file"].detail
    assert str(data / "historical_data.csv") in found["candle file"].detail
    assert {p.name: p.read_bytes() for p in data.iterdir()} == files


def test_sound_files_and_a_partial_candle_line_pass(tmp_path, server):
    """
    Given a flat state file, an empty journal and a candle file with a torn last line
    When the checks run
    Then the file checks are OK, the candle check says the partial line will be cut,
     and the candle file is unchanged
    """
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.json").write_text(json.dumps({"version": 1}))
    candles = b"timestamp,open,high,low,close,volume\n60000,1,2,0.5,1,1\n120000,1,2"
    (data / "historical_data.csv").write_bytes(candles)
    found = by_name(run_checks(settings_for(tmp_path), target(server)))
    assert found["state file"].line() == "OK    state file: flat"
    assert found["candle file"].detail == "1 candle(s); a partial last line will be cut at start"
    assert (data / "historical_data.csv").read_bytes() == candles


def test_position_of_another_exchange_fails_the_state_check(tmp_path, server):
    """
    Given a state file holding an open position opened on the testnet
    When the local exchange is checked
    Then the state check is FAIL telling to run with --exchange testnet
    """
    data = tmp_path / "data"
    data.mkdir()
    position = {"quantity": 0.001, "entry_price": 30000.0, "entry_time_ms": 1,
                "entry_order_id": "1", "entry_client_order_id": "x"}
    (data / "state.json").write_text(json.dumps(
        {"version": 1, "position": position, "extra": {"exchange": "testnet"}}))
    found = by_name(run_checks(settings_for(tmp_path), target(server)))
    assert found["state file"].status == FAIL
    assert "run with --exchange testnet" in found["state file"].detail


def test_position_in_another_symbol_fails_the_state_check_as_the_bot_refuses(tmp_path, server):
    """
    Given a state file holding an open ETH/USDT position and SYMBOL=BTC/USDT
    When the checks run
    Then the state check FAILs with the position manager's own message (set SYMBOL=ETH/USDT)
    """
    data = tmp_path / "data"
    data.mkdir()
    position = {"quantity": 0.001, "entry_price": 3000.0, "entry_time_ms": 1,
                "entry_order_id": "1", "entry_client_order_id": "x"}
    (data / "state.json").write_text(json.dumps(
        {"version": 1, "symbol": "ETH/USDT", "position": position, "extra": {}}))
    found = by_name(run_checks(settings_for(tmp_path), target(server)))
    assert found["state file"].status == FAIL
    assert "set SYMBOL=ETH/USDT to manage it" in found["state file"].detail


def test_balance_check_uses_the_bots_own_margin_not_the_fee_rate():
    """
    Given free quote between value x (1 + FEE_RATE) and value x (1 + the bot's 1 % margin)
    When the balance is checked
    Then it FAILs, as the position manager would refuse that buy, and passes just above
    """
    from exchange.market_rules import MarketRules
    from risk.position import required_quote

    rules = MarketRules(step=0.00001, min_qty=None, max_qty=None, min_notional=None, tick=None)
    need = required_quote(0.001, 30000.0)
    assert need == pytest.approx(30.3)
    assert check_balance(30.2, 0.001, 30000.0, rules).status == FAIL
    assert "1% margin the bot keeps" in check_balance(30.2, 0.001, 30000.0, rules).detail
    assert check_balance(30.31, 0.001, 30000.0, rules).status == OK


def test_warm_up_check_and_the_bot_need_the_same_number_of_candles(tmp_path):
    """
    Given the macd strategy with its defaults
    When check's warm-up line and the bot's history_needed are compared
    Then the number of candles is the same
    """
    from bot.wiring import history_needed
    from strategies.registry import get_strategy

    settings = settings_for(tmp_path, STRATEGY="macd")
    strategy = get_strategy("macd")
    needed = history_needed(strategy, strategy.params(settings.strategy_params))
    assert needed == strategy.warmup() + 2
    assert f"macd needs {needed} candles" in check_warmup(settings).detail


def test_writable_probe_leaves_nothing_and_refuses_a_file(tmp_path):
    """
    Given an existing folder, a missing one under a writable parent, and a plain file
    When each is probed as a data folder
    Then the first two are OK and leave no file behind, the plain file is FAIL
    """
    (tmp_path / "plain").write_text("x")
    assert check_writable("data dir", tmp_path).status == OK
    missing = check_writable("data dir", tmp_path / "a" / "b")
    assert missing.status == OK and "will be created" in missing.detail
    assert check_writable("data dir", tmp_path / "plain").status == FAIL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_inactive_market_fails():
    """
    Given an exchange that lists the symbol but marks it inactive (unit, a test double)
    When the market check runs
    Then it is FAIL saying the symbol is not trading
    """
    class Exchange:
        def market(self, symbol):
            return {"active": False}

    class Client:
        exchange = Exchange()

        def load_markets(self):
            return None

    check, rules = check_market(Client(), SimpleNamespace(symbol="BTC/USDT"))
    assert check.status == FAIL and "not trading now" in check.detail and rules is None


def test_guarded_turns_a_crash_into_one_fail_line():
    """
    Given a check that raises an unexpected error
    When it runs guarded
    Then the result is a FAIL line with the error type and message, not a traceback
    """
    def boom():
        raise RuntimeError("disk on fire\nsecond line")

    check = guarded("data dir", boom)
    assert check.line() == "FAIL  data dir: RuntimeError: disk on fire second line"


def test_summary_counts_failures():
    """
    Given a list of check outcomes with and without failures
    When the summary line is made
    Then it says all passed, or how many failed and which
    """
    good = [Check("a", OK, ""), Check("b", SKIP, "")]
    assert summary(good) == "all 2 checks passed"
    bad = good + [Check("keys", FAIL, "x"), Check("balance", FAIL, "y")]
    assert summary(bad) == "2 of 4 checks failed: keys, balance"


# --- the command as a user runs it ---------------------------------------------------------

@pytest.fixture
def project(tmp_path):
    return project_copy(tmp_path)


def test_command_on_the_in_process_emulator_passes_and_writes_nothing(project, tmp_path):
    """
    Given no exchange flags, and a saved local account that the bot left behind
    When python main.py check runs
    Then it prints 13 OK lines and "all 13 checks passed", exits 0, and the saved account
     file is read (its balance shows) but not rewritten
    """
    settings = settings_for(tmp_path)
    local = start_local_exchange(settings, speed=float("inf"), seed=1)
    local.server.set_balance("USDT", 1234.5)
    local.server.stop()  # the emulator saves its account on stop, as after a bot run
    saved = settings.data_dir / "local_exchange.json"
    before = (saved.read_bytes(), saved.stat().st_mtime_ns)
    done = run_main(project, "check", env={"DATA_DIR": str(tmp_path / "data"),
                                           "LOGS_DIR": str(tmp_path / "logs")})
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [ln.split()[0] for ln in lines[:-1]] == [OK] * 13 and lines[-1] == "all 13 checks passed"
    assert "free 1234.5 USDT covers" in done.stdout
    assert (saved.read_bytes(), saved.stat().st_mtime_ns) == before
    assert sorted(p.name for p in settings.data_dir.iterdir()) == ["local_exchange.json"]
    assert not (tmp_path / "logs").exists() and done.stderr == ""


def test_command_against_a_standalone_emulator_with_a_wrong_key_exits_1(project, tmp_path):
    """
    Given a standalone emulator started with --api-key/--api-secret, and other keys in the env
    When python main.py check --exchange-url runs
    Then the keys line is FAIL and the exit status is 1; with the right keys it exits 0
    """
    emulator = Emulator(project, "--seed", "2", "--api-key", KEY, "--api-secret", SECRET)
    try:
        env = {"DATA_DIR": str(tmp_path / "data"), "EMULATOR_API_KEY": "not-the-key-123",
               "EMULATOR_API_SECRET": SECRET}
        wrong = run_main(project, "check", "--exchange-url", emulator.url, env=env)
        env["EMULATOR_API_KEY"] = KEY
        right = run_main(project, "check", "--exchange-url", emulator.url, env=env)
    finally:
        emulator.stop()
    assert wrong.returncode == 1 and "FAIL  keys: refused" in wrong.stdout
    assert right.returncode == 0, right.stdout


EXIT_CASES = {  # case -> (flags, environment, exit status, start of a FAIL line)
    "bad-setting": ([], {"STOP_LOSS_PERCENT": "5"}, 2, "FAIL  settings: STOP_LOSS_PERCENT=5.0 is"),
    "mainnet-url": (["--exchange-url", "https://api.binance.com"], {}, 2,
                    "FAIL  endpoint: https://api.bin"),
    "unreachable": (["--exchange-url", "http://127.0.0.1:{port}"], {"REQUEST_TIMEOUT_MS": "500"},
                    1, "FAIL  reachable: cannot read the emulator's clock"),
    "testnet-without-keys": (["--exchange", "testnet"], {}, 2,
                             "FAIL  settings: EXCHANGE=testnet needs"),
}


@pytest.fixture(scope="module")
def exit_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("check-exit")
    project = project_copy(root)
    jobs = {case: (project, ["check", *(a.format(port=closed_port()) for a in args)],
                   {"DATA_DIR": str(root / case / "data"), **env})
            for case, (args, env, _, _) in EXIT_CASES.items()}
    return run_many(jobs)


@pytest.mark.parametrize("case", list(EXIT_CASES))
def test_command_exit_status_for_bad_settings_endpoints_and_outages(exit_runs, case):
    """
    Given a bad setting, a non-testnet URL, a URL nobody answers on, or testnet without keys
    When python main.py check runs
    Then it exits 2 for the settings and endpoint problems and 1 for the outage, with a
     FAIL line saying what is wrong
    """
    done = exit_runs[case]
    _, _, status, line = EXIT_CASES[case]
    assert done.returncode == status, done.stdout
    assert any(ln.startswith(line) for ln in done.stdout.splitlines()), done.stdout
