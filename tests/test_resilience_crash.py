"""The crash test's seed and kill count; the 30-kill run itself is a scenario.

The run is ``features/resilience.feature`` "Killed and restarted, the bot loses nothing and
writes nothing twice" (steps in tests/test_resilience_feature.py); it was here too, and the
suite ran it twice. What it does:

A standalone emulator (``python main.py emulator``, 600x clock) runs throughout; the bot runs as
a separate process against it and is killed with SIGKILL at moments chosen to hit the crash
windows (an order executed but not yet answered, just after a fill, just after a journal,
candle or state write, or at a random instant), sometimes with the torn last line a write cut
short would leave. After a final clean run the candle file, the trades journal and the state
must agree with what the emulator recorded.

The kill plan is seeded: ``CRASH_TEST_SEED=N`` replays a plan (by default a new seed is drawn
and printed in every assertion message); ``CRASH_TEST_KILLS`` changes the number of kills.
See docs/readme/resilience.md.
"""

from __future__ import annotations

from tests.resilience_helpers import DEFAULT_KILLS, crash_kills, crash_seed

MIN_KILLS = 30


def test_crash_seed_and_kills_follow_the_environment(monkeypatch):
    """
    Given CRASH_TEST_SEED and CRASH_TEST_KILLS set, then unset
    When the crash test reads its seed and kill count
    Then it uses the given values, and without them a seed in range and 30 kills
    """
    monkeypatch.setenv("CRASH_TEST_SEED", "4242")
    monkeypatch.setenv("CRASH_TEST_KILLS", "7")
    assert (crash_seed(), crash_kills()) == (4242, 7)
    monkeypatch.delenv("CRASH_TEST_SEED")
    monkeypatch.delenv("CRASH_TEST_KILLS")
    assert 0 <= crash_seed() < 1_000_000 and crash_kills() == MIN_KILLS == DEFAULT_KILLS
