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
