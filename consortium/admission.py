"""Backpressure for an embedded host: a bound on submissions that have no receipt yet.

pykka inboxes are unbounded, and the mempool's bound is only checked once a submission has
crossed two of them (the participant's, then the validator's). A host submitting flat out
could therefore queue millions of messages and gigabytes before the first ``overloaded``
reached it. The budget is taken in ``submit`` itself, in the host's thread, before anything is
signed, and given back when the receipt resolves, so everything in flight between the host and
a block is bounded by ``ConsortiumConfig.max_pending_submissions`` and memory stays flat under
any offered load. A host that would rather wait than be refused sets ``submit_wait_s``.
"""

from __future__ import annotations

import threading

from consortium.actors.messages import Receipt
from consortium.actors.receipts import ReceiptFuture
from consortium.events.results import Code, EventResult


class SubmissionBudget:
    """How many in-process submissions may be waiting for a receipt at once."""

    def __init__(self, capacity: int, wait_s: float = 0.0) -> None:
        if capacity < 1:
            raise ValueError(f"max_pending_submissions is {capacity}; it must be at least 1")
        if wait_s < 0:
            raise ValueError(f"submit_wait_s is {wait_s}; it must be 0 (refuse) or more")
        self.capacity = capacity
        self._wait_s = wait_s
        self._in_flight = 0
        self._room = threading.Condition(threading.Lock())

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def take(self, future: ReceiptFuture) -> bool:
        """Count ``future`` as in flight until it resolves; False (and ``future`` answered
        ``overloaded``) when the budget stays full for ``wait_s``."""
        with self._room:
            if self._in_flight >= self.capacity and not (
                self._wait_s > 0
                and self._room.wait_for(lambda: self._in_flight < self.capacity, self._wait_s)
            ):
                full = True
            else:
                self._in_flight += 1
                full = False
        if full:
            refusal = EventResult(
                Code.OVERLOADED,
                f"{self.capacity} submissions of this host are waiting for receipts; nothing "
                "was signed: retry later, or set ConsortiumConfig.submit_wait_s to wait for room",
            )
            future.set(Receipt(b"", refusal, None, -1))
            return False
        future.when_resolved(self._give_back)
        return True

    def _give_back(self, _: object) -> None:
        with self._room:
            self._in_flight -= 1
            self._room.notify()
