"""What a trading step did: an ``Action`` and, where it matters, the reason.

The position manager returns an ``Outcome`` from every signal and price check, and the loop
returns a ``CycleResult`` (in ``bot.runner``) that carries it. Callers branch on ``action``;
``reason`` is the human sentence (why a step was skipped, which exit fired). ``str(outcome)``
is the line the logs have always shown: ``bought``, ``sold: stop_loss``, ``skipped: <why>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """The kinds of thing one signal or price check can lead to."""

    BOUGHT = "bought"
    SOLD = "sold"
    IGNORED_BUY = "ignored-buy-while-long"
    NOTHING = "nothing"
    SKIPPED = "skipped"
    POSITION_LOST = "position lost"


@dataclass(frozen=True)
class Outcome:
    """An action and its reason (``""`` when the action says it all)."""

    action: Action
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}" if self.reason else str(self.action)

    @property
    def traded(self) -> bool:
        """True when an order filled (a buy or a sell)."""
        return self.action in (Action.BOUGHT, Action.SOLD)


BOUGHT = Outcome(Action.BOUGHT)
SOLD = Outcome(Action.SOLD)
IGNORED_BUY = Outcome(Action.IGNORED_BUY)
NOTHING = Outcome(Action.NOTHING)


def skipped(reason: str) -> Outcome:
    """A step that did nothing this time, and why."""
    return Outcome(Action.SKIPPED, reason)
