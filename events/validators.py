"""Event bodies about the validators themselves: evidence that one of them misbehaved.

A double vote is two signed votes of one validator for one (kind, height, round) naming different
blocks. Either signature alone is harmless; the pair proves the key's holder equivocated, which a
BFT ledger can only tolerate from at most f validators, so the consortium must learn of it.
"""

from __future__ import annotations

from consortium.events.body import EventBody


class DoubleVote(EventBody, frozen=True, tag="validators.double_vote"):
    """Reported by a validator (author) that received both votes; each vote is the canonical
    ``Vote`` bytes with the accused validator's signature over them."""

    first_vote: bytes
    first_signature: bytes
    second_vote: bytes
    second_signature: bytes


BODIES = (DoubleVote,)
