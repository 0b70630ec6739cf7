"""A memo of successful signature verifications, shared by validators of one process.

Validators in one process share one trust domain, so a signature one of them has verified need
not be verified again by the next. The memo is filled only by verification itself, never by
anything a message claims, and it is keyed by a hash of everything verified (key, signature,
domain, chain, body), so a signature can never be reused for other bytes. Validators in other
processes verify everything themselves.
"""

from __future__ import annotations

import hashlib
import threading

from consortium.events.signing import Domain, verify_signature


class VerificationMemo:
    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._verified: dict[bytes, None] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def verify(
        self, public_key: bytes, signature: bytes, domain: Domain, chain_id: str, body: bytes
    ) -> bool:
        key = hashlib.sha256(
            b"".join(
                (public_key, signature, domain.value, b"\x00", chain_id.encode(), b"\x00", body)
            )
        ).digest()
        if key in self._verified:
            self.hits += 1
            return True
        if not verify_signature(public_key, signature, domain, chain_id, body):
            return False
        with self._lock:
            if len(self._verified) >= self._capacity:
                for old in list(self._verified)[: self._capacity // 2]:
                    del self._verified[old]
            self._verified[key] = None
        return True
