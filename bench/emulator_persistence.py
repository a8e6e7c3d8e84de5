"""Print what autosaving the emulator's state costs per market order, and a save's size/time.

Run: .venv/bin/python bench/emulator_persistence.py [ORDERS]   (default 300; asserts nothing)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.clock import ManualClock  # noqa: E402
from emulator.limits import UNLIMITED  # noqa: E402
from emulator.market import GeneratedMarket  # noqa: E402
from emulator.persistence import (  # noqa: E402
    load_emulator_state,
    save_emulator_state,
)
from emulator.server import (  # noqa: E402
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    EmulatorServer,
)
from exchange.ccxt_emulator import make_ccxt_for_emulator  # noqa: E402

T0 = 1_704_067_230_000


def orders_per_second(state_path: Path | None, count: int) -> tuple[float, EmulatorServer]:
    """Mean ms per market order (buy/sell alternating) through ccxt, with or without autosave."""
    clock = ManualClock(T0)
    server = EmulatorServer(GeneratedMarket(1), clock, balances={"USDT": 1e9, "BTC": 1e3},
                            limits=UNLIMITED,
                            state_path=state_path).start()
    ex = make_ccxt_for_emulator(server.base_url, DEFAULT_API_KEY, DEFAULT_API_SECRET,
                                clock=clock)
    ex.load_markets()
    started = time.perf_counter()
    for i in range(count):
        ex.create_order("BTC/USDT", "market", "buy" if i % 2 == 0 else "sell", 0.001)
        clock.advance(1)
    spent = time.perf_counter() - started
    return 1000 * spent / count, server


def main() -> None:
    """Order latency without and with autosave, then one save and one load of the result."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as folder:
        plain, server = orders_per_second(None, count)
        server.stop()
        path = Path(folder) / "emulator_state.json"
        saving, server = orders_per_second(path, count)
        print(f"market order via ccxt: {plain:.2f} ms without autosave, {saving:.2f} ms with"
              f" (state growing to {count} orders)")
        started = time.perf_counter()
        save_emulator_state(server, path)
        saved = time.perf_counter() - started
        server.stop()
        fresh = EmulatorServer(GeneratedMarket(1), ManualClock(T0))
        started = time.perf_counter()
        load_emulator_state(fresh, path)
        loaded = time.perf_counter() - started
        print(f"state of {count} orders: {path.stat().st_size / 1024:.0f} KiB, save"
              f" {1000 * saved:.1f} ms, load+validate {1000 * loaded:.1f} ms")


if __name__ == "__main__":
    main()
