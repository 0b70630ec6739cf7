"""Events one validator of this process has decoded and verified, offered to the others.

Validators that share a process and share verifications (``share_verifications``) are one trust
domain, as with ``VerificationMemo``: an event one of them has decoded and whose every
signature it has verified need not be decoded and verified again by the next, which would only
repeat the same pure computation on the same bytes. The key is the envelope's bytes themselves,
so a hit is the very bytes that were verified (keyed by the event id alone, a caller could
have passed a genuine id with forged bytes). The memo is filled only by
a validator's own successful decoding and verification, never by anything a message claims.
Events that were refused are not kept: each validator judges and records those itself.
Validators in other processes decode and verify everything themselves.

With four validators in one process this saves three of every four decodings and signature
lookups at intake and in block checks (``README.md``, "Benchmarks", for the measured gain).
"""

from __future__ import annotations

from consortium.events.bounded_memo import BoundedMemo
from consortium.events.envelope import DecodedEvent

INTAKE_MEMO_EVENTS = 50_000
"""Events kept: more than one validator's mempool holds (``mempool_capacity``), so an event
gossiped to every validator of the process is still here when the last one takes it in."""


class IntakeMemo(BoundedMemo[bytes, DecodedEvent]):
    """Envelope bytes -> the event decoded from them, every signature verified."""

    def __init__(self, capacity: int = INTAKE_MEMO_EVENTS) -> None:
        super().__init__(capacity)
