"""Real kills: a writer process is SIGKILLed mid-stream; the journal and state stay usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from storage.state import StateStore
from storage.trades import TradeJournal
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL needs a POSIX system")

JOURNAL_WRITER = textwrap.dedent("""
    import sys
    from storage.trades import TradeJournal, TradeRow
    journal = TradeJournal(sys.argv[1])
    i = len(journal.rows())
    while True:
        journal.append(TradeRow(1740744000000 + i, str(i), "buy", 0.001, entry_price=23000.0,
                                client_order_id=f"cid-{i}", strategy="x" * 200))
        print(i, flush=True)
        i += 1
""")

STATE_WRITER = textwrap.dedent("""
    import sys
    from storage.state import BotState, StateStore
    store = StateStore(sys.argv[1])
    seq = 0
    while True:
        seq += 1
        store.save(BotState(order_seq=seq, extra={"pad": "y" * 5000}))
        print(seq, flush=True)
""")


def _run_and_kill(script: str, target, acks: int) -> int:
    """Start ``script`` on ``target``, SIGKILL it after ``acks`` lines; the last number seen."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], cwd=PROJECT_DIR,
        stdout=subprocess.PIPE, text=True,
    )
    last = -1
    try:
        for _ in range(acks):
            line = proc.stdout.readline()
            assert line, "the writer stopped before it was killed"
            last = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return last


def test_journal_killed_mid_stream_keeps_every_acknowledged_row_once(tmp_path):
    """
    Given a process appending journal rows as fast as it can, twice killed with SIGKILL
    When the journal is opened after each kill and the writer resumes
    Then every row the writer reported as written is there, each exactly once, in order
    """
    path = tmp_path / "trades.csv"
    for _ in range(2):
        last = _run_and_kill(JOURNAL_WRITER, path, 200)
        journal = TradeJournal(path)
        ids = [int(r["order_id"]) for r in journal.rows()]
        assert ids == list(range(len(ids)))
        assert len(ids) >= last + 1
        assert len(journal.client_order_ids()) == len(ids)


def test_state_killed_mid_save_is_always_loadable(tmp_path):
    """
    Given a process saving the state file in a loop, killed with SIGKILL
    When the state is loaded afterwards
    Then it loads (never half-written), holds at least the last acknowledged sequence,
    and no temp file survives the load
    """
    path = tmp_path / "state.json"
    last = _run_and_kill(STATE_WRITER, path, 300)
    state = StateStore(path).load()
    assert state.order_seq >= last
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
