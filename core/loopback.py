"""The loopback rule shared by the client's endpoint guard and the emulator's bind guard.

The bot may talk only to Binance Spot Testnet or to an emulator on this machine, and the
emulator may listen only on this machine: both ask the same question of a host name.
"""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
