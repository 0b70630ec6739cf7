"""A memo of successful signature verifications, shared by validators of one process.

Validators in one process share one trust domain, so a signature one of them has verified need
not be verified again by the next. The memo is filled only by verification itself, never by
anything a message claims, and it is keyed by a hash of everything verified (key, signature,
domain, chain, body), so a signature can never be reused for other bytes. Validators in other
processes verify everything themselves.
"""

from __future__ import annotations

import hashlib

from consortium.events.bounded_memo import BoundedMemo
from consortium.events.signing import Domain, verify_signature

VERIFICATION_MEMO_SIGNATURES = 50_000
"""Signatures kept: those of more events than one validator's mempool holds."""


class VerificationMemo(BoundedMemo[bytes, bool]):
    """SHA-256 of (key, signature, domain, chain, body) -> True, for signatures that verified."""

    def __init__(self, capacity: int = VERIFICATION_MEMO_SIGNATURES) -> None:
        super().__init__(capacity)

    def verify(
        self, public_key: bytes, signature: bytes, domain: Domain, chain_id: str, body: bytes
    ) -> bool:
        """The same answer as ``verify_signature``."""
        key = hashlib.sha256(
            b"".join(
                (public_key, signature, domain.value, b"\x00", chain_id.encode(), b"\x00", body)
            )
        ).digest()
        if self.get(key):
            return True
        if not verify_signature(public_key, signature, domain, chain_id, body):
            return False
        self.put(key, True)
        return True
