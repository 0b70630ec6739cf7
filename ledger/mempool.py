"""A bounded, insertion-ordered pool of verified envelopes waiting for a block.

The bound is the backpressure: when it is full, intake refuses new events with ``OVERLOADED``
instead of letting an actor inbox grow without limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from consortium.events.envelope import DecodedEvent


class Mempool:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._pending: dict[bytes, bytes] = {}
        self._decoded: dict[bytes, DecodedEvent] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, eid: object) -> bool:
        return eid in self._pending

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.capacity

    def add(self, eid: bytes, envelope: bytes, decoded: DecodedEvent) -> None:
        self._pending[eid] = envelope
        self._decoded[eid] = decoded

    def decoded(self, eid: bytes) -> DecodedEvent | None:
        return self._decoded.get(eid)

    def oldest(self, limit: int) -> list[tuple[bytes, bytes]]:
        return list(islice(self._pending.items(), limit))

    def remove(self, ids: Iterable[bytes]) -> None:
        for eid in ids:
            self._pending.pop(eid, None)
            self._decoded.pop(eid, None)
