"""What the core asks its shell to do; the shell carries these out in order."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Step(enum.IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3
    RESEND = 4
    """Not a step a round is in: the timer that repeats this validator's messages of a round
    that is not moving, since a lost vote is otherwise never sent again."""
    STATUS = 5
    """Not a step either: the one timer, whatever the height and round, that repeats this
    validator's ``Status``, so a peer that fell behind learns it even when every other message
    to it was lost or withheld (a restart's first ``Status`` can meet replies its peers
    rate-limit)."""
    FILL = 6
    """Not a step either: the end of the wait of a round-0 proposer whose block is filling
    (``ConsensusConfig.block_time_ms``)."""
    DUE = 7
    """Not a step either: wakes an idle round-0 proposer when the state's next due time comes
    (``Application.next_due_ms``), so a deadline fires on a ledger with no traffic."""


@dataclass(frozen=True, slots=True)
class Timeout:
    step: Step
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send to every other validator."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class SendTo:
    validator: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    timeout: Timeout
    delay_ms: int


Action = Broadcast | SendTo | ScheduleTimeout
