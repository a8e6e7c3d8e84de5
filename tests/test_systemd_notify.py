"""systemd's notify protocol against a local datagram socket standing in for systemd."""

import os
import socket

from bot.events import CandleEvent
from ops.systemd import SystemdNotifier, notify_address, sd_notify, watchdog_interval_s


def _socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock, path


def test_ready_watchdog_and_stopping_arrive_as_datagrams(tmp_path):
    """
    Given NOTIFY_SOCKET naming a local datagram socket and WATCHDOG_USEC=10 s for this PID
    When the bot becomes ready, ticks at 1 s, 6 s and 7 s of wall time, and stops
    Then the socket receives READY=1, one WATCHDOG=1 (half the interval after ready) and
     STOPPING=1
    """
    sock, path = _socket(tmp_path)
    now = [0.0]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    with sock:
        notifier = SystemdNotifier(env, wall=lambda: now[0])
        notifier.ready([], 0)
        for t in (1.0, 6.0, 7.0):
            now[0] = t
            notifier.tick(0)
        notifier.stopped("", 0)
        got = [sock.recv(1024).decode() for _ in range(3)]
    assert got[0].startswith("READY=1")
    assert got[1:] == ["WATCHDOG=1", "STOPPING=1"]
    assert notifier.active and notifier.ping_every_s == 5.0


def test_a_finished_cycle_pings_too(tmp_path):
    """
    Given a watchdog of 2 s
    When a cycle finishes 1.5 s after ready
    Then a WATCHDOG=1 is sent
    """
    sock, path = _socket(tmp_path)
    now = [0.0]
    with sock:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"},
                                   wall=lambda: now[0])
        notifier.ready([], 0)
        now[0] = 1.5
        notifier.candle(CandleEvent(0, 1.0, 0, "nothing", None, False, 1, 1, 0, 0))
        assert sock.recv(1024).startswith(b"READY=1")
        assert sock.recv(1024) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent_and_nothing_fails():
    """
    Given no NOTIFY_SOCKET, a socket path that does not exist, and a watchdog for another PID
    When notifications are sent
    Then they report False, and the other PID's watchdog is ignored
    """
    assert sd_notify("READY=1", {}) is False
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/sock"}) is False
    assert notify_address({"NOTIFY_SOCKET": "@abstract"}) == b"\0abstract"
    assert watchdog_interval_s({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "x"}) is None
    notifier = SystemdNotifier({})
    notifier.ready([], 0)
    notifier.tick(0)
    assert not notifier.active and notifier.sent == []
