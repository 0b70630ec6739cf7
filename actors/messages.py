"""Messages that validator and participant actors accept, and the receipt a submitter gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consortium.advice import INTAKE_CODES, advice_for
from consortium.consensus.actions import Timeout
from consortium.events.errors import RejectedAtIntake, RejectedByRule
from consortium.events.results import EventResult
from consortium.ledger.scrubber import Damage


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one submitted event.

    ``height`` is the block that holds the event (accepted or rejected by the rules), or None
    when the event was refused at intake and never reached a block.
    """

    event_id: bytes
    result: EventResult
    height: int | None
    validator: int

    @property
    def accepted(self) -> bool:
        return self.result.accepted

    def raise_if_rejected(self) -> Receipt:
        """This receipt if the event was accepted; else RejectedAtIntake or RejectedByRule."""
        if self.accepted:
            return self
        code = self.result.code
        error = RejectedAtIntake if code in INTAKE_CODES else RejectedByRule
        raise error(code.value, self.result.detail, advice_for(code))


ReplyTo = Callable[[Receipt], None]


@dataclass(frozen=True, slots=True)
class SubmitEvent:
    envelope: bytes
    reply_to: ReplyTo | None = None


@dataclass(frozen=True, slots=True)
class FireTimeout:
    timeout: Timeout


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Call ``listener(record)`` on the validator's thread for every block it commits from now
    on; the listener must only hand the record on (to a bounded queue), never block."""

    listener: Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop calling a listener given by ``Subscribe``; unknown listeners are ignored."""

    listener: Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Inspect:
    """Run ``fn`` on the validator's ledger node in the actor's thread and answer its result.

    Only for reads (writes have messages of their own, such as ``Subscribe``); the host sends
    it with ``ask``, never another actor.
    """

    fn: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class StateDamaged:
    """The scrubber found the validator's stored state damaged: stop serving it, rebuild it
    from the log. Sent by the validator's own scrubbing thread, which has also told the
    validator directly, so the rebuild comes before whatever message is handled next."""

    damage: Damage


@dataclass(frozen=True, slots=True)
class ReadScrubberProgress:
    """Answered (to ``ask``) with the validator's ``ScrubberProgress``, or None when it does not
    scrub: for status and metrics."""
