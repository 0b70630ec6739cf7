"""The account aggregate used to measure the ``eventsourcing`` library (imported only then)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.balance = 0

    class Credited(Aggregate.Event):
        """Declared, not left to ``@event("Credited")`` to create, so type checkers see it."""

        amount: int

    @event(Credited)
    def credit(self, amount: int) -> None:
        self.balance += amount
