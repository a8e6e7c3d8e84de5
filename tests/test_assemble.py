"""Choosing and starting the run's listeners; a listener that cannot start stops the start."""

import io
import socket

import main


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_console_mode_follows_terminal_speed_and_quiet():
    """
    Given a terminal or a pipe, a paced or unlimited speed, quiet or not
    When the console mode is chosen
    Then a terminal gets lines (paced) or progress (max); a pipe or --quiet gets nothing
    """
    from ops.assemble import console_mode

    assert console_mode(False, 60.0, Stream(True)) == "lines"
    assert console_mode(False, float("inf"), Stream(True)) == "progress"
    assert console_mode(False, 60.0, Stream(False)) is None
    assert console_mode(True, 60.0, Stream(True)) is None


def test_a_bad_alert_url_or_a_taken_metrics_port_stops_the_start_in_one_line(
        tmp_path, monkeypatch, capsys):
    """
    Given NOTIFY_URLS with an unknown scheme holding a token, then a METRICS_PORT in use
    When the bot starts
    Then each start exits 2 with one line naming the problem (never the token), and no
     "files written" lines
    """
    monkeypatch.setenv("NOTIFY_URLS", "nosuch://secret-token-123@host")
    args = ["--speed", "max", "--max-candles", "1", "--data-dir", str(tmp_path / "d"),
            "--logs-dir", str(tmp_path / "l")]
    assert main.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and "NOTIFY_URLS entry 1 (nosuch://...)" in err
    assert "secret-token-123" not in err + (tmp_path / "l" / "trading.log").read_text()
    monkeypatch.delenv("NOTIFY_URLS")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main.main([*args, "--metrics-port", str(port)]) == 2
    out, err = capsys.readouterr()
    problems = [x for x in err.splitlines() if x.startswith("main.py: error:")]
    assert out == "" and len(problems) == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in problems[0]
