"""Events one validator of this process has decoded and verified, offered to the others.

Validators that share a process and share verifications (``share_verifications``) are one trust
domain, as with ``VerificationMemo``: an event one of them has decoded and whose every
signature it has verified need not be decoded and verified again by the next, which would only
repeat the same pure computation on the same bytes. The key is the event id, the SHA-256 of the
whole envelope, and a hit also compares the envelope's bytes with those kept, so an id given
with other bytes (by a caller that did not compute it) finds nothing. The memo is filled only by
a validator's own successful decoding and verification, never by anything a message claims.
Events that were refused are not kept: each validator judges and records those itself.
Validators in other processes decode and verify everything themselves.

With four validators in one process this saves three of every four decodings and signature
lookups at intake and in block checks (``README.md``, "Benchmarks", for the measured gain).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from consortium.events.envelope import DecodedEvent

INTAKE_MEMO_EVENTS = 50_000
"""Events kept: more than one validator's mempool holds (``mempool_capacity``), so an event
gossiped to every validator of the process is still here when the last one takes it in."""


class IntakeMemo:
    def __init__(self, capacity: int = INTAKE_MEMO_EVENTS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity is {capacity}; it must be at least 1")
        self._capacity = capacity
        self._events: OrderedDict[bytes, tuple[bytes, DecodedEvent]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._events)

    def get(self, eid: bytes, envelope: bytes) -> DecodedEvent | None:
        """The event decoded from ``envelope`` (whose id is ``eid``) as a validator of this
        process decoded and verified it, if one did."""
        kept = self._events.get(eid)  # one dict read: atomic, so no lock for the common case
        if kept is None or kept[0] != envelope:
            return None
        self.hits += 1
        return kept[1]

    def put(self, eid: bytes, envelope: bytes, event: DecodedEvent) -> None:
        """Keep ``event``, decoded from ``envelope`` whose id is ``eid``, all its signatures
        verified; the oldest kept event leaves when the memo is full."""
        with self._lock:
            self._events[eid] = (envelope, event)
            while len(self._events) > self._capacity:
                self._events.popitem(last=False)
